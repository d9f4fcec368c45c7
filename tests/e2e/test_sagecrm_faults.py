"""A failure at each step of the Sage CRM upgrade: it stops safely, resumes, and rolls back exactly.

For every step that talks to a server, a simulated fault makes exactly that step fail. Then:
the run stops with that step failed and nothing after it done; once the fault is cleared,
`resume` completes the upgrade; `rollback --from-run` brings hosts and database back to the
state before the upgrade. Gates are faulted the human way: nobody approves.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate, differences

EWARE = {"path": "*eware.dll"}
#: the logon check retries for a slow pool; a fault that never clears need not wait for it
FAST = ("-e", "crm_login_delay=0")
#: (case, host, fault rule or None for "no approval", the module of the step that must fail)
STEPS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("facts", "crm", {"op": "file.hash", "match": EWARE, "mode": "always"}, "crm_version"),
    ("preflight", "crm", {"op": "disk.free", "mode": "always"}, "crm_preflight"),
    ("go-no-go gate", "crm", None, "gate"),
    (
        "disconnect",
        "crm",
        {"op": "iis.set_state", "match": {"state": "stopped"}, "mode": "always"},
        "crm_disconnect",
    ),
    ("registry backup", "crm", {"op": "registry.export", "mode": "always"}, "crm_backup"),
    ("program files backup", "crm", {"op": "archive.create", "mode": "always"}, "crm_backup"),
    ("installer", "crm", {"op": "process.run", "mode": "always"}, "crm_installer"),
    (
        "upgrade log",
        "crm",
        {"op": "file.read", "match": {"path": "*UPGRADELOG.HTML"}, "mode": "always"},
        "crm_upgrade_log",
    ),
    (
        "versions after",
        "crm",
        {"op": "file.hash", "match": EWARE, "mode": "after", "count": 1},
        "crm_version",
    ),
    (
        "reconnect",
        "crm",
        {"op": "iis.set_state", "match": {"state": "started"}, "mode": "always"},
        "crm_disconnect",
    ),
    ("login", "crm", {"op": "http.get", "mode": "always"}, "crm_login_check"),
]


def _order(node_id: str) -> tuple[int, ...]:
    """Playbook order of a node id `p<play>/<task path>@host` (imported tasks: `2.0`)."""
    play, path = re.match(r"p(\d+)/([^@]+)@", node_id).groups()
    return (int(play), *(int(p) for p in re.findall(r"\d+", path)))


def _stopped_safely(estate: SimEstate, run_id: str, module: str, host: str) -> None:
    nodes = estate.nodes(run_id)
    failed = [n for n, row in nodes.items() if row["status"] == "failed"]
    assert failed, "the run did not record a failed step"
    first = min(failed, key=_order)
    assert nodes[first]["module"] == module and nodes[first]["host"] == host, nodes[first]
    later_done = [
        n
        for n, row in nodes.items()
        if _order(n) > _order(first) and row["status"] in ("ok", "changed") and nodes[n]["module"] != module
    ]
    assert later_done == [], f"steps after the failure ran: {later_done}"


def _fault_and_recover(
    estate: SimEstate, before: dict[str, Any], host: str, rule: dict[str, Any] | None, module: str
) -> None:
    if rule is not None:
        estate.host(host).add_fault(rule)
        failed = estate.run("upgrade.yml", "--approve-all", *FAST)
    else:
        failed = estate.run("upgrade.yml", *FAST)
    assert failed.rc != 0, failed.out
    run_id = estate.last_run()
    _stopped_safely(estate, run_id, module, host)
    for name in estate.hosts:
        estate.host(name).clear_faults()

    resumed = estate.resume(run_id, "--approve-all")
    assert resumed.rc == 0, resumed.out + resumed.err
    assert estate.db_version() == "7.3"

    rollback = estate.run("rollback.yml", "--from-run", run_id)
    assert rollback.rc == 0, rollback.out + rollback.err
    assert differences(before, estate.snapshot()) == []


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One estate for every case: each case ends with a rollback to the state before it."""
    estate = SimEstate(tmp_path_factory.mktemp("estate"), "single")
    return {"estate": estate, "before": estate.snapshot()}


@pytest.fixture
def estate(shared: dict[str, Any], tmp_path) -> tuple[SimEstate, dict[str, Any]]:
    """The shared estate, or a fresh one when an earlier case left it changed."""
    if differences(shared["before"], shared["estate"].snapshot()):
        fresh = SimEstate(tmp_path, "single")
        return fresh, fresh.snapshot()
    return shared["estate"], shared["before"]


@pytest.mark.parametrize(("case", "host", "rule", "module"), STEPS, ids=[s[0] for s in STEPS])
def test_failure_at_each_step_stops_resumes_and_rolls_back(estate, case, host, rule, module):
    _fault_and_recover(*estate, host, rule, module)


def test_installer_failing_on_a_web_server_after_the_database_server(tmp_path):
    """The worst moment: the database is upgraded, one web server is not."""
    estate = SimEstate(tmp_path, "cluster")
    _fault_and_recover(
        estate, estate.snapshot(), "crm3", {"op": "process.run", "mode": "always"}, "crm_installer"
    )


def _roll_back_failed(estate: SimEstate, run_id: str) -> Any:
    from engine.api.module import Gatekeeper
    from engine.execute.session import RunRequest, execute_run
    from engine.journal.store import Journal
    from engine.pipeline.on_failure import rollback_after_failure

    journal = Journal(estate.state_dir / "runs.db")
    messages: list[str] = []
    try:
        return rollback_after_failure(
            journal,
            run_id,
            str(estate.inventory),
            playbook_path=str(PLAYBOOKS / "upgrade.yml"),
            execute=lambda plan: execute_run(
                RunRequest(
                    plan=plan,
                    state_dir=str(estate.state_dir),
                    from_run=run_id,
                    gatekeeper=Gatekeeper(),
                )
            ),
            report=messages.append,
        ), messages
    finally:
        journal.close()


def test_on_failure_rollback_after_the_installer_started(tmp_path, monkeypatch):
    estate = SimEstate(tmp_path, "cluster")
    before = estate.snapshot()
    estate.host("crm1").add_fault({"op": "process.run", "mode": "always"})
    assert estate.run("upgrade.yml", "--approve-all").rc != 0
    monkeypatch.chdir(tmp_path)  # the simulated database path is relative to where cutover runs
    summary, messages = _roll_back_failed(estate, estate.last_run())
    assert summary is not None and summary.status == "succeeded", messages
    assert "rolling back" in messages[0]
    assert differences(before, estate.snapshot()) == []


def test_on_failure_rollback_is_not_needed_before_destructive_steps(tmp_path, monkeypatch):
    estate = SimEstate(tmp_path, "single")
    estate.host("crm").add_fault({"op": "archive.create", "mode": "always"})
    assert estate.run("upgrade.yml", "--approve-all").rc != 0
    monkeypatch.chdir(tmp_path)
    summary, messages = _roll_back_failed(estate, estate.last_run())
    assert summary is None
    assert "nothing to roll back" in messages[0]
