"""Sage CRM modules one by one, on a simulated server and the SQLite CRM database: idempotency,
undo, the installer's operator gate and its refusal to go before the database server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.api.module import Gatekeeper, RunContext, TaskContext, utcnow
from engine.api.registry import ModuleRegistry
from engine.connect.sim import SimConnection
from engine.core.model import Host
from engine.load.inventory import load_inventory
from tests.support.modharness import run_module
from tests.support.sagecrm_estates import MEDIA, SimEstate


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimEstate:
    monkeypatch.chdir(tmp_path)  # the simulated database path is relative to where cutover runs
    return SimEstate(tmp_path, "cluster", silent=False)


def run_ctx(estate: SimEstate, gatekeeper: Gatekeeper | None = None) -> RunContext:
    inventory = load_inventory(estate.inventory)
    return RunContext(
        run_id="modules",
        operator="tester",
        gatekeeper=gatekeeper or Gatekeeper(),
        databases={k: dict(v) for k, v in inventory.databases.items()},
        inventory=inventory,
        state_dir=str(estate.state_dir),
    )


def on(estate: SimEstate, name: str, args: dict[str, Any], host: str = "crm2", **kw: Any) -> Any:
    inventory = load_inventory(estate.inventory)
    conn = SimConnection(inventory.hosts[host], str(estate.state_dir))
    conn.open()
    try:
        return run_module(name, args, connection=conn, run=kw.pop("run", None) or run_ctx(estate), **kw)
    finally:
        conn.close()


def params(estate: SimEstate, *names: str) -> list[str]:
    with sqlite3.connect(estate.db_path) as db:
        return [
            db.execute("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = ?", (n,)).fetchone()[0]
            for n in names
        ]


def undo(module_run: RunContext, name: str, args: dict[str, Any], done: Any) -> Any:
    """The module's `undo` of a recorded result, for a controller-side module."""
    ctx = TaskContext(host=Host("crm2", "crm2", "sim"), vars={}, remote=None, run=module_run)
    return ModuleRegistry().get(name).undo(ctx, args, {"output": done.output})


def test_lock_system_is_idempotent_and_undone(estate):
    module_run = run_ctx(estate)
    first = run_module("crm_sysparams", {"lock": True}, run=module_run)
    assert first.changed and params(estate, "SysLockedByUsrID") == ["1"]
    assert not run_module("crm_sysparams", {"lock": True}, run=module_run).changed
    assert undo(module_run, "crm_sysparams", {"lock": True}, first).changed
    assert params(estate, "SysLockedByUsrID", "SysLockedTime") == ["", ""]


def test_dta_cleanup_journals_definitions_and_undo_recreates(estate):
    module_run = run_ctx(estate)
    dropped = run_module("crm_dta_cleanup", {}, run=module_run)
    assert dropped.changed and len(dropped.output["dropped"]) == 2
    artifact = dropped.artifacts[0]
    recorded = json.loads(Path(artifact.location).read_text())
    assert {i["name"] for i in recorded["items"]} == {o["name"] for o in dropped.output["dropped"]}
    assert artifact.verified and artifact.sha256
    assert not run_module("crm_dta_cleanup", {}, run=module_run).changed
    assert undo(module_run, "crm_dta_cleanup", {}, dropped).changed
    with sqlite3.connect(estate.db_path) as db:
        names = {
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name LIKE '!_dta%' ESCAPE '!'")
        }
    assert names == {o["name"] for o in dropped.output["dropped"]}


def test_disconnect_then_connect(estate):
    host = estate.host("crm1")
    off = on(estate, "crm_disconnect", {}, host="crm1")
    assert off.changed, off.msg
    assert host.service("eWareEmailManager")["state"] == "stopped"
    assert not on(estate, "crm_disconnect", {}, host="crm1").changed
    back = on(estate, "crm_disconnect", {"state": "connected"}, host="crm1")
    assert back.changed and host.service("eWareEmailManager")["state"] == "running"


class Operator(Gatekeeper):
    """A person at the server: runs the (simulated) wizard, then approves; or refuses."""

    def __init__(self, estate: SimEstate, does_it: bool):
        self.estate = estate
        self.does_it = does_it
        self.asked: list[str] = []

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        self.asked.append(gate_id)
        if not self.does_it:
            return {"approved": False, "by": "ops", "at": utcnow(), "comment": "not today"}
        from simulation.sagecrm.setup_program import response_file

        sim = self.estate.host(host)
        sim.write_bytes(f"{MEDIA}\\wizard.iss", response_file(database=host == "crm2").encode())
        answer = sim.call(
            [
                {
                    "op": "process.run",
                    "args": {
                        "argv": [f"{MEDIA}\\setup.exe", "/s", f"/f1{MEDIA}\\wizard.iss"],
                        "env": {"CUTOVER_SIM_CRM_DB": str(self.estate.db_path)},
                    },
                }
            ]
        )[0]
        assert answer["value"]["rc"] == 0, answer
        return {"approved": True, "by": "ops", "at": utcnow(), "comment": "wizard done"}


def test_installer_without_response_file_is_an_operator_gate_then_verified(estate):
    operator = Operator(estate, does_it=True)
    assert on(estate, "crm_dta_cleanup", {}).changed  # as the playbook does first: no script fails
    result = on(estate, "crm_installer", {}, run=run_ctx(estate, operator))
    assert result.changed and not result.failed, result.msg
    assert operator.asked == ["installer-crm2"]
    assert result.output["gate"]["approved"] and result.output["verified"]["database"] == "7.3"
    assert not on(estate, "crm_installer", {}).changed  # done: ok


def test_installer_gate_refused_fails(estate):
    result = on(estate, "crm_installer", {}, run=run_ctx(estate, Operator(estate, does_it=False)))
    assert result.failed and "gate installer-crm2 not approved: not today" in result.msg
    assert estate.db_version() == "7.2"


def test_installer_refuses_a_web_server_before_the_database_server(estate):
    result = on(estate, "crm_installer", {}, host="crm1", run=run_ctx(estate, Operator(estate, does_it=True)))
    assert result.failed and "the installer runs on the database server (crm2) first" in result.msg
