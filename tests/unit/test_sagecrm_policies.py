"""Sage CRM plan policies: the guide's ordering rules enforced by the planner, not by the playbook.

Plans are built from real playbook files against a simulated three-server estate (the database
on crm2); nothing runs. A refused plan names the offending task's file:line.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from engine.api.registry import ModuleRegistry
from engine.core.errors import UserError
from engine.load.inventory import load_inventory
from engine.load.playbook import load_playbook
from engine.plan.builder import PlanOptions, build_plan
from tests.support.runs import write_yaml
from tests.support.sagecrm_estates import PLAYBOOKS, inventory_doc

DISCONNECT = {"name": "disconnect", "crm_disconnect": {}}
BACKUP = {"name": "backup", "crm_backup": {}}
INSTALL = {"name": "install", "crm_installer": {}}


def plan_of(tmp_path: Path, plays: list[dict[str, Any]] | Path, **options: Any) -> Any:
    inventory = load_inventory(write_yaml(tmp_path / "inventory.yml", inventory_doc("cluster")))
    path = plays if isinstance(plays, Path) else write_yaml(tmp_path / "playbook.yml", plays)
    registry = ModuleRegistry()
    return build_plan(load_playbook(path, registry), inventory, PlanOptions(**options), registry)


def refused(tmp_path: Path, plays: list[dict[str, Any]], **options: Any) -> list[str]:
    with pytest.raises(UserError) as caught:
        plan_of(tmp_path, plays, **options)
    return [p.render() for p in caught.value.problems]


def node(plan: Any, name: str, host: str) -> str:
    return next(
        n.id for n in plan.nodes.values() if n.task is not None and n.task.name == name and n.host == host
    )


def test_the_shipped_upgrade_plans_with_the_database_server_first(tmp_path):
    plan = plan_of(tmp_path, PLAYBOOKS / "upgrade.yml")
    graph = plan.graph
    db_install = node(plan, "Sage CRM installer", "crm2")
    for web in ("crm1", "crm3"):
        assert nx.has_path(graph, db_install, node(plan, "Sage CRM installer", web))
        disconnect = node(
            plan, "Disconnect from the database (pools, Tomcat, CRM services stopped; no session left)", web
        )
        assert nx.has_path(graph, disconnect, db_install)
        assert nx.has_path(graph, node(plan, "Back up this server", web), db_install)


def test_one_play_leaves_order_open_and_the_policy_closes_it(tmp_path):
    plan = plan_of(tmp_path, [{"hosts": "web:db", "tasks": [DISCONNECT, BACKUP, INSTALL]}])
    graph = plan.graph
    db_install = node(plan, "install", "crm2")
    for web in ("crm1", "crm3"):
        assert nx.has_path(graph, db_install, node(plan, "install", web))
        assert nx.has_path(graph, node(plan, "disconnect", web), db_install)
        assert nx.has_path(graph, node(plan, "backup", web), db_install)


def play(hosts: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    """A play with its own copy of each task (a shared dict would be written as a YAML alias)."""
    return {"hosts": hosts, "tasks": [copy.deepcopy(task) for task in tasks]}


START_IIS = {"name": "start IIS", "iis": {"state": "started"}}
REFUSALS = {
    "installer on a web server before the database server": (
        [play("web:db", DISCONNECT, BACKUP), play("web:!db", INSTALL), play("db", INSTALL)],
        "the installer on crm1 runs before the installer on the database server crm2",
        "install",
    ),
    "a web server still connected": (
        [play("crm2:crm3", DISCONNECT), play("web:db", BACKUP), play("db", INSTALL)],
        "would run while crm1 is still connected to the database",
        "install",
    ),
    "a disconnection after the installer": (
        [play("web:db", BACKUP), play("db", INSTALL), play("web:db", DISCONNECT)],
        "runs after it",
        "install",
    ),
    "a reconnection between disconnection and installer": (
        [play("web:db", DISCONNECT, BACKUP), play("crm3", START_IIS), play("db", INSTALL)],
        "'start IIS' on crm3 may reconnect it to the database",
        "start IIS",
    ),
    "an installer without verified backups of every server": (
        [play("web:db", DISCONNECT), play("db", BACKUP), play("db", INSTALL)],
        "the installer on crm2 runs before verified backups of: registry:crm1:",
        "install",
    ),
}


@pytest.mark.parametrize(("plays", "message", "task"), REFUSALS.values(), ids=list(REFUSALS))
def test_refused(tmp_path, plays: list[dict[str, Any]], message: str, task: str):
    """Refused with the guide's reason, at the line and column of the task to move."""
    found = [e for e in refused(tmp_path, plays) if message in e]
    assert found, refused(tmp_path, plays)
    playbook = tmp_path / "playbook.yml"
    lines = playbook.read_text().splitlines()
    for error in found:
        where = re.match(rf"{re.escape(str(playbook))}:(\d+):(\d+): ", error)
        assert where, error
        line, column = int(where[1]), int(where[2])
        assert lines[line - 1][column - 1 :] == f"name: {task}", error


def test_installer_without_the_database_server(tmp_path):
    plays = [{"hosts": "web:db", "tasks": [DISCONNECT, BACKUP]}, {"hosts": "web:!db", "tasks": [INSTALL]}]
    assert any("but not on the database server crm2" in e for e in refused(tmp_path, plays))
    plan = plan_of(tmp_path, plays, extra_vars={"sagecrm_database_upgraded": True})
    assert any("already upgraded" in note for note in plan.notes)
    installs = {
        n.host for n in plan.nodes.values() if n.is_step and n.task is not None and n.task.name == "install"
    }
    assert installs == {"crm1", "crm3"}


def test_backups_recorded_by_an_earlier_run_count(tmp_path):
    from modules.sagecrm.product.estate import estate_of

    estate = estate_of(load_inventory(write_yaml(tmp_path / "inventory.yml", inventory_doc("cluster"))))
    plays = [play("web:db", DISCONNECT), play("db", INSTALL)]
    without = refused(tmp_path, plays)
    assert any("the installer on crm2 runs before verified backups of:" in e for e in without), without
    plan = plan_of(tmp_path, plays, prior_resources=frozenset(estate.backup_resources()))
    install = node(plan, "install", "crm2")
    for host in ("crm1", "crm2", "crm3"):
        assert nx.has_path(plan.graph, node(plan, "disconnect", host), install), host
