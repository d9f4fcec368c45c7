"""`cutover campaign run FILE` on one machine: a local pool, the state dir's SQLite journal, no server.

Every estate is a local-connection estate whose steps append a line to a log file, so what
really ran is counted next to what the journal says. The campaign driver runs in this process
(`main`), each estate's run is its own `python -m engine run` process, as in production.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.execute.lock import EstateLock
from engine.journal.store import Journal
from tests.support.fleet import cli_env, open_window, wait_until, write_campaign
from tests.support.runs import run_cli

WAIT = 180.0


def rows(state: Path, campaign: str) -> dict[str, dict]:
    with sqlite3.connect(state / "runs.db") as db:
        db.row_factory = sqlite3.Row
        found = db.execute("SELECT * FROM campaign_estates WHERE campaign = ?", (campaign,)).fetchall()
    return {r["estate"]: dict(r) for r in found}


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_estates_run_in_their_windows_at_most_n_at_once(tmp_path):
    now = dt.datetime.now(dt.UTC)
    later = {"start": (now + dt.timedelta(seconds=4)).isoformat(), "end": (now + dt.timedelta(hours=1)).isoformat()}
    closed = {"start": (now - dt.timedelta(hours=3)).isoformat(), "end": (now - dt.timedelta(hours=1)).isoformat()}
    path = write_campaign(tmp_path, "spring", {
        "acme": {"nap": 2}, "bolt": {"nap": 2}, "coda": {"nap": 2},
        "dune": {"nap": 0, "window": later}, "echo": {"window": closed},
    }, concurrency=2)
    state = tmp_path / "state"
    result = run_cli(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path)
    assert result.rc == 1, result.err  # one estate missed its window: not a clean campaign
    assert "echo: missed (its window closed before it could start)" in result.out
    found = rows(state, "spring")
    assert {n: r["state"] for n, r in found.items()} == {
        "acme": "succeeded", "bolt": "succeeded", "coda": "succeeded", "dune": "succeeded", "echo": "missed"}
    journal = Journal(state / "runs.db")
    runs = {r["estate"]: r for r in journal.runs(campaign="spring")}
    assert "echo" not in runs and set(runs) == {"acme", "bolt", "coda", "dune"}
    assert moment(runs["dune"]["started"]) >= moment(later["start"]), "no estate starts before its window"
    spans = [(moment(r["started"]), moment(r["ended"])) for r in runs.values()]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2, "never more estates at once than the campaign's concurrency"
    assert all(r["operator"] == "olivia" for r in runs.values())
    log = (tmp_path / "spring.log").read_text().splitlines()
    assert sorted(log) == sorted(f"{n} {s}" for n in ("acme", "bolt", "coda", "dune") for s in ("stop", "start"))
    listed = run_cli(["runs", "--campaign", "spring", "--state-dir", str(state)], tmp_path)
    listed_rows = listed.out.splitlines()[1:]  # under the header
    assert len(listed_rows) == 4
    assert sorted(n for n in ("acme", "bolt", "coda", "dune") for row in listed_rows if f" {n} " in row) == [
        "acme", "bolt", "coda", "dune"]
    journal.close()


def test_the_stop_rule_starts_no_new_estate_after_n_failures(tmp_path):
    path = write_campaign(tmp_path, "careful", {"acme": {"broken": True}, "bolt": {}, "coda": {}}, concurrency=1,
                          stop={"after_failures": 1})
    state = tmp_path / "state"
    result = run_cli(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path)
    assert result.rc == 1
    found = rows(state, "careful")
    assert found["acme"]["state"] == "failed" and "'fail if asked' failed on app1" in found["acme"]["reason"]
    assert found["bolt"]["state"] == found["coda"]["state"] == "skipped"
    assert "1 estate(s) failed (stop after 1)" in found["bolt"]["reason"]
    assert (tmp_path / "careful.log").read_text().splitlines() == ["acme stop"]


def test_a_window_s_end_stops_the_run_resumably_and_the_next_window_resumes_it(tmp_path):
    now = dt.datetime.now(dt.UTC)
    short = {"start": (now - dt.timedelta(minutes=5)).isoformat(), "end": (now + dt.timedelta(seconds=10)).isoformat()}
    path = write_campaign(tmp_path, "tight", {"acme": {"nap": 15}}, concurrency=1, window=short)
    state = tmp_path / "state"
    first = run_cli(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path)
    assert first.rc == 1
    row = rows(state, "tight")["acme"]
    assert row["state"] == "stopped" and "the window ended" in row["reason"] and "resumable" in row["reason"]
    journal = Journal(state / "runs.db")
    assert journal.run(row["run_id"])["status"] == "interrupted"
    done = {n["task"] for n in journal.nodes(row["run_id"]) if n["status"] in ("changed", "ok")}
    assert "start the service" not in done, "nothing starts after the window's end"

    path = write_campaign(tmp_path, "tight", {"acme": {"nap": 15}}, concurrency=1, window=open_window())
    second = run_cli(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path)
    assert second.rc == 0, second.err
    assert f"acme: resuming run {row['run_id']}" in second.out
    again = rows(state, "tight")["acme"]
    assert again["state"] == "succeeded" and again["run_id"] == row["run_id"]
    run = journal.run(row["run_id"])
    assert run["status"] == "succeeded" and run["resumes"] == 1
    assert (tmp_path / "tight.log").read_text().splitlines() == ["acme stop", "acme start"]
    journal.close()


def test_a_campaign_on_a_locked_estate_is_refused_before_anything_starts(tmp_path):
    path = write_campaign(tmp_path, "rival", {"acme": {}, "bolt": {}}, concurrency=2)
    state = tmp_path / "state"
    lock = EstateLock(state, "bolt")
    lock.acquire("20260502-200000-abcdef", "bob")  # a run outside the campaign holds the estate
    try:
        result = run_cli(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path)
    finally:
        lock.release()
    assert result.rc == 3
    assert "campaign rival refused" in result.err
    assert "estate 'bolt' is locked by run 20260502-200000-abcdef by bob" in result.err
    assert not (tmp_path / "rival.log").exists()
    assert rows(state, "rival") == {}


def test_a_gate_is_answered_from_another_terminal(tmp_path):
    path = write_campaign(tmp_path, "gated", {"acme": {"with_gate": True}}, concurrency=1)
    state = tmp_path / "state"
    driver = subprocess.Popen([sys.executable, "-m", "engine", "campaign", "run", str(path), "--state-dir", str(state)],
                              cwd=tmp_path, env=cli_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def waiting() -> str | None:
            status = subprocess.run([sys.executable, "-m", "engine", "campaign", "status", "gated",
                                     "--state-dir", str(state)], cwd=tmp_path, env=cli_env(), text=True,
                                    capture_output=True)
            for line in status.stdout.splitlines():
                if "GATE signoff waits" in line:
                    return line.split("cutover approve ")[1].split()[0]
            return None

        run_id = wait_until(waiting, WAIT, "the estate's run to wait at its gate")
        answer = subprocess.run([sys.executable, "-m", "engine", "approve", run_id, "signoff", "--as", "Claire",
                                 "--state-dir", str(state)], cwd=tmp_path, env=cli_env(), text=True,
                                capture_output=True)
        assert answer.returncode == 0, answer.stderr
        out, err = driver.communicate(timeout=WAIT)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err
    journal = Journal(state / "runs.db")
    assert [(g["gate_id"], g["approved"], g["by_whom"]) for g in journal.gates(run_id)] == [("signoff", 1, "Claire")]
    journal.close()


@pytest.mark.parametrize("bad", ["no-such-run", "last"])
def test_approve_refuses_what_it_cannot_answer(tmp_path, bad):
    path = write_campaign(tmp_path, "done", {"acme": {}}, concurrency=1)
    state = tmp_path / "state"
    assert run_cli(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path).rc == 0
    result = run_cli(["approve", bad, "signoff", "--as", "Claire", "--state-dir", str(state)], tmp_path)
    assert result.rc == 2 and "Traceback" not in result.err
    expected = "no run 'no-such-run'" if bad == "no-such-run" else "is succeeded: no gate of it waits"
    assert expected in result.err
