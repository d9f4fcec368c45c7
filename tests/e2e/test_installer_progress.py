"""The installer's log tail on the console while it runs, through the simulation and the CLI.

`sagecrm.installer.progress_log` names the log the installer writes as it goes; the helper sends
its last line as progress while setup.exe runs, the executor forwards each line to the step's live
line (the jsonl stream's `node_progress` events here, the console's live table on a terminal),
and only the last line is kept in the journal (the step's `progress_last`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tests.support.sagecrm_estates import BACKUPS, ROLES, SimEstate, inventory_doc, sim_initial
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - the fixture

LOG = f"{BACKUPS}\\SageCRM-setup.log"


def test_the_installers_log_lines_stream_to_the_step_in_order_and_only_the_last_is_journaled(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = inventory_doc("single")
    doc["sagecrm"]["installer"]["progress_log"] = LOG
    assert_streamed(SimEstate(tmp_path, "single", doc=doc))


def test_over_winrm_the_helpers_progress_frames_reach_the_jsonl_stream_in_order(
    tmp_path, winrm_endpoint
) -> None:
    """The same upgrade with the server behind the WinRM test endpoint: the real pywinrm client
    reads the helper's @@CUTOVER-PROGRESS@@ frames between its Receives."""
    hosts = {}
    for name, roles in ROLES["single"].items():
        endpoint = winrm_endpoint(
            name, auth="ntlm", state_dir=tmp_path / ".cutover", initial={**sim_initial(), "roles": roles}
        )
        hosts[name] = {"roles": roles, **endpoint.settings()}
    doc = inventory_doc("single", hosts=hosts)
    doc.pop("defaults")
    doc["sagecrm"]["installer"]["progress_log"] = LOG
    assert_streamed(SimEstate(tmp_path, "single", doc=doc))


def assert_streamed(estate: Any) -> None:
    """Upgrade with jsonl output: the installer's stages as node_progress events, in order, and only
    its last line in the journal."""
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired(), "--output", "jsonl")

    assert result.rc == 0, result.out + result.err
    events = [json.loads(line) for line in result.out.splitlines() if line.startswith("{")]
    installer = next(
        e["node"] for e in events if e["event"] == "node_started" and "installer" in e["task"].lower()
    )
    lines = [e["line"] for e in events if e["event"] == "node_progress" and e["node"] == installer]
    stages = [line.split(": ", 1)[1] for line in lines if " step " in line]
    assert stages[:3] == [
        "stopping IIS",
        "backing up the program files to C:\\Program Files (x86)\\Sage\\CRM\\CRM_backup",
        "replacing the program files",
    ], lines
    assert stages[-2:] == ["starting IIS", "upgrade complete"], lines
    assert stages.index("upgrading the database") < stages.index("writing the upgrade log")
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        journal = "\n".join(str(row) for table in ("nodes", "results") for row in _rows(db, table))
    assert "upgrade complete" in journal  # the last line, with the step's result
    assert "replacing the program files" not in journal  # the stream itself never reaches the journal


def _rows(db: sqlite3.Connection, table: str) -> list[tuple]:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return db.execute(f"SELECT * FROM {table}").fetchall() if table in names else []
