"""`cutover runs` and `cutover show` as an operator reads them at the end of a window.

`runs` has a header; its times are in the estate's time zone (the inventory's `timezone:`) with
the offset, so they compare with the window; `show` gives each step's duration and the run's,
and the artifacts with size, checksum and when they were taken; a prefix several runs share is
refused as ambiguous, not reported as "no run".
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from zoneinfo import ZoneInfo

import pytest

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import SimEstate, inventory_doc


@pytest.fixture
def estate(tmp_path):
    doc = inventory_doc("single")
    doc["timezone"] = "Asia/Kolkata"  # +05:30: an offset no clock on this machine has by accident
    estate = SimEstate(tmp_path, "single", doc=doc)
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc == 0, result.out + result.err
    return estate


def test_runs_has_a_header_and_times_in_the_estates_zone(estate):
    run_id = estate.last_run()
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        started = db.execute("SELECT started FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    local = dt.datetime.fromisoformat(started).astimezone(ZoneInfo("Asia/Kolkata"))

    listed = run_cli(["runs"], estate.root)

    assert listed.rc == 0
    header, row = listed.out.splitlines()[:2]
    assert header.split() == ["RUN", "STATUS", "STARTED", "DURATION", "ESTATE", "PLAYBOOK", "KIND", "OPERATOR"]
    assert row.startswith(run_id) and " succeeded " in row and "upgrade.yml" in row
    assert local.strftime("%Y-%m-%d %H:%M:%S +05:30") in row


def test_show_gives_durations_and_artifacts(estate):
    run_id = estate.last_run()
    shown = run_cli(["show", run_id[:18]], estate.root)

    assert shown.rc == 0, shown.err
    assert re.search(r"duration \d+\.\d s", shown.out)
    assert "+05:30" in shown.out
    step_lines = [line for line in shown.out.splitlines() if "Back up" in line]
    assert step_lines and all(re.search(r"\d+\.\d s", line) for line in step_lines)
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        location, size, sha = db.execute("SELECT location, size, sha256 FROM artifacts WHERE run_id = ? "
                                         "AND resource = 'db:crm'", (run_id,)).fetchone()
    line = next(x for x in shown.out.splitlines() if location in x)
    assert f"{size} bytes" in line and sha in line and "taken " in line and "verified" in line


def test_an_ambiguous_prefix_says_so(estate):
    again = estate.run("upgrade.yml", "--check", "--approve-all", *estate.repaired())
    assert again.rc == 0
    for command in (["show", "2"], ["report", "2"], ["resume", "2"]):
        result = run_cli(command, estate.root)
        assert result.rc == 2, command
        assert "run prefix '2' is ambiguous: 2 runs start with it" in result.err, command


def test_show_of_an_unknown_run_is_a_clear_error(estate):
    result = run_cli(["show", "nosuchrun"], estate.root)
    assert result.rc == 2 and "no run 'nosuchrun'" in result.err and "Traceback" not in result.err
