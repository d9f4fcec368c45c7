"""No fresh run on top of an interrupted one: refused with the resume command; --start-anew is recorded.

A fresh run of an estate whose last run was interrupted (or killed: still marked `running`, its
lock free) would back up the half-changed estate, and a later `--from-run last` would restore
those backups. So `run` refuses (exit 3) naming the run and `cutover resume RUN`; `--start-anew`
starts anyway and says so in the new run's notes; a check run (-C) changes nothing and may start.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.test_hangup_and_broken_pipe import estate, recorded
from tests.support.runs import journal_of, run_cli, spawn_cli, wait_for_done_nodes


@pytest.mark.parametrize(("sig", "left"), [(signal.SIGHUP, "interrupted"), (signal.SIGKILL, "running")])
def test_a_fresh_run_over_an_unfinished_one_is_refused_until_start_anew(
    tmp_path: Path, sig: signal.Signals, left: str
) -> None:
    playbook, inventory = estate(tmp_path)
    proc = spawn_cli(["run", str(playbook), "-i", str(inventory), "--no-report"], tmp_path)
    wait_for_done_nodes(tmp_path, 1)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    first, done = recorded(tmp_path)
    assert first["status"] == left

    again = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report"], tmp_path)
    assert again.rc == 3, again.err
    assert f"its last run {first['id']}" in again.err and f"was left {left}" in again.err
    assert f"cutover resume {first['id']}" in again.err and "--start-anew" in again.err
    assert "Traceback" not in again.err
    assert recorded(tmp_path)[0]["id"] == first["id"]  # nothing started, nothing journaled

    checked = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report", "-C"], tmp_path)
    assert checked.rc == 0, checked.err

    anew = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report", "--start-anew"], tmp_path)
    assert anew.rc == 0, anew.err
    journal = journal_of(tmp_path)
    try:
        latest = journal.find_run("last")
    finally:
        journal.close()
    assert latest["id"] != first["id"] and latest["status"] == "succeeded"
    assert f"started anew (--start-anew) over run {first['id']}, which was left {left}" in latest["notes"]
    assert len(done) < 6
