"""Fleet campaigns with the real parts: redis-server, PostgreSQL, two `cutover worker` processes.

Every estate is a small local-connection estate whose steps append a line to a log file (the
"remote" side effect), so the tests can count what really ran, next to what the journal says.
The workers, the operator's `campaign run`, `approve`, `runs`, `show` and `report` are all
separate processes that share only the broker and the PostgreSQL journal, as on separate
machines. Leases are short (4 s) so a dead worker's estate is taken up quickly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.campaign.celery_app import make_app, send
from engine.campaign.model import BackendSettings
from engine.journal.store import Journal
from tests.support.dbservers import postgres_server  # noqa: F401 - fixture
from tests.support.fleet import (  # noqa: F401 - redis_broker is a fixture
    Workers,
    cli_env,
    cutover,
    fleet_journal_url,
    redis_broker,
    wait_until,
    write_campaign,
)

pytestmark = pytest.mark.slow
WAIT = 180.0  # seconds any one expected event may take on a loaded machine (never asserted as a speed)
@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, postgres_server, redis_broker) -> Iterator[dict[str, Any]]:  # noqa: F811
    work = tmp_path_factory.mktemp("fleet")
    url = fleet_journal_url(postgres_server)
    workers = Workers(redis_broker, url, work)
    workers.start("w1")
    workers.start("w2")
    yield {"work": work, "url": url, "broker": redis_broker, "workers": workers}
    workers.stop_all()


def campaign_file(fleet: dict[str, Any], name: str, estates: dict[str, dict[str, Any]], concurrency: int) -> Path:
    backend = {"kind": "celery", "broker": fleet["broker"].url, "journal": fleet["url"], "lease_seconds": 4,
               "heartbeat_seconds": 1, "tick_seconds": 1, "requeue_after": 5}
    return write_campaign(fleet["work"], name, estates, concurrency, backend=backend)


def submit(fleet: dict[str, Any], path: Path, wait: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-m", "engine", "campaign", "run", str(path), *(["--wait"] if wait else [])]
    return subprocess.Popen(args, cwd=fleet["work"], env=cli_env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def estates(journal: Journal, campaign: str) -> dict[str, dict[str, Any]]:
    return {r["estate"]: r for r in journal.query("SELECT * FROM campaign_estates WHERE campaign = ?", (campaign,))}


def campaign_state(journal: Journal, campaign: str) -> str | None:
    row = journal.query_one("SELECT state FROM campaigns WHERE name = ?", (campaign,))
    return row["state"] if row else None


def node_events(journal: Journal, run_id: str) -> dict[str, list[str]]:
    """task -> the statuses its events recorded, in order."""
    out: dict[str, list[str]] = {}
    rows = journal.query("SELECT n.task, e.status FROM events e JOIN nodes n ON n.run_id = e.run_id"
                         " AND n.node_id = e.node_id WHERE e.run_id = ? ORDER BY e.seq", (run_id,))
    for row in rows:
        out.setdefault(row["task"], []).append(row["status"])
    return out


@pytest.fixture
def journal(fleet: dict[str, Any]) -> Iterator[Journal]:
    j = Journal(fleet["work"] / "unused.db", url=fleet["url"])
    yield j
    j.close()


def test_six_estates_run_to_the_end_and_a_broker_restart_loses_none(fleet, journal, tmp_path):
    """Concurrency 4 over 2 worker slots: two estates wait in Redis when it restarts with no persistence."""
    names = [f"shop{i}" for i in range(1, 7)]
    path = campaign_file(fleet, "six", {n: {"nap": 5} for n in names}, concurrency=4)
    proc = submit(fleet, path)
    out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert "6 estates handed to the workers" in out

    def two_running_two_queued() -> bool:
        states = [r["state"] for r in estates(journal, "six").values()]
        return states.count("running") == 2 and states.count("queued") == 2

    wait_until(two_running_two_queued, WAIT, "two estates running and two waiting in the broker")
    waiting_in_redis = fleet["broker"].client().llen("cutover")
    fleet["broker"].restart()  # no --save, no AOF: the queued messages are gone
    assert waiting_in_redis >= 1 and fleet["broker"].client().llen("cutover") == 0
    wait_until(lambda: campaign_state(journal, "six") == "finished", WAIT, "the campaign to finish")

    rows = estates(journal, "six")
    assert {n: r["state"] for n, r in rows.items()} == {n: "succeeded" for n in names}
    resent = [n for n, r in rows.items() if r["dispatches"] > 1]
    assert resent, "the estates lost with the broker's messages were sent again"
    lines = (fleet["work"] / "six.log").read_text().splitlines()
    assert sorted(lines) == sorted(f"{n} {step}" for n in names for step in ("stop", "start"))
    for name, row in rows.items():
        run = journal.run(row["run_id"])
        assert run["status"] == "succeeded" and run["estate"] == name and run["operator"] == "olivia"
        for task, statuses in node_events(journal, row["run_id"]).items():
            assert statuses[0] == "running" and len(statuses) == 2, f"{name}: {task} started or ended twice"
        assert journal.query("SELECT count(*) AS n FROM runs WHERE estate = ?", (name,))[0]["n"] == 1

    # any operator's machine sees every run, one of them in full, and its report
    listed = cutover(["runs", "--campaign", "six"], tmp_path, journal_url=fleet["url"])
    listed_rows = listed.stdout.splitlines()[1:]  # under the header
    assert listed.returncode == 0 and len(listed_rows) == len(names)
    assert sorted(n for n in names for row in listed_rows if f" {n} " in row) == sorted(names)
    shown = cutover(["show", rows["shop3"]["run_id"], "--json"], tmp_path, journal_url=fleet["url"])
    assert shown.returncode == 0
    steps = {n["task"]: n["status"] for n in json.loads(shown.stdout)["nodes"]}
    assert steps["stop the service"] == "changed" and steps["start the service"] == "changed"
    report = cutover(["report", rows["shop3"]["run_id"], "--format", "json", "-o", "-"], tmp_path,
                     journal_url=fleet["url"])
    assert report.returncode == 0 and json.loads(report.stdout)["run"]["estate"] == "shop3"


def test_a_killed_worker_s_estate_is_resumed_by_the_other_and_nothing_runs_twice(fleet, journal):
    workers: Workers = fleet["workers"]
    path = campaign_file(fleet, "kill", {"clinic": {"nap": 6}}, concurrency=1)
    assert submit(fleet, path).wait(timeout=WAIT) == 0

    def mid_estate() -> dict[str, Any] | None:
        row = estates(journal, "kill")["clinic"]
        if row["run_id"] and row["state"] == "running":
            running = journal.query("SELECT task FROM nodes WHERE run_id = ? AND status = 'running'", (row["run_id"],))
            if [r["task"] for r in running] == ["long upgrade step"]:
                return row
        return None

    row = wait_until(mid_estate, WAIT, "the estate to be in its long step")
    first_worker = row["worker"].split("@")[0]
    other = "w2" if first_worker == "w1" else "w1"
    workers.kill(first_worker)  # the worker, its pool and the run it started die at once

    # a duplicated message while the lease of the dead worker has not expired yet: refused by the lease
    app = make_app(BackendSettings(kind="celery", broker=fleet["broker"].url))
    assert send(app, "cutover", "kill", "clinic")
    wait_until(lambda: campaign_state(journal, "kill") == "finished", WAIT, "the estate to be resumed and to end")
    row = estates(journal, "kill")["clinic"]
    assert row["state"] == "succeeded" and row["worker"].startswith(f"{other}@")
    run = journal.run(row["run_id"])
    assert run["status"] == "succeeded" and run["resumes"] == 1
    assert journal.query("SELECT count(*) AS n FROM runs WHERE estate = 'clinic'", ())[0]["n"] == 1
    events = node_events(journal, row["run_id"])
    assert events["stop the service"] == ["running", "changed"], "done before the kill: never started again"
    assert events["long upgrade step"] == ["running", "running", "changed"], "interrupted by the kill: run again"
    assert events["start the service"] == ["running", "changed"]
    assert (fleet["work"] / "kill.log").read_text().splitlines() == ["clinic stop", "clinic start"]

    # and once it is done, one more duplicate changes nothing
    assert send(app, "cutover", "kill", "clinic")
    wait_until(lambda: "kill/clinic: nothing to do (succeeded)" in workers.log(other), WAIT, "the duplicate's answer")
    assert journal.run(row["run_id"])["resumes"] == 1
    workers.start(first_worker)


def test_a_gate_is_answered_from_a_third_process_and_a_second_campaign_is_refused(fleet, journal, tmp_path):
    path = campaign_file(fleet, "gated", {"bakery": {"nap": 0, "with_gate": True}}, concurrency=1)
    assert submit(fleet, path).wait(timeout=WAIT) == 0

    def waiting_gate() -> str | None:
        rows = journal.query("SELECT run_id FROM gate_requests WHERE gate_id = 'signoff'", ())
        run_id = estates(journal, "gated")["bakery"]["run_id"]
        return run_id if any(r["run_id"] == run_id for r in rows) else None

    run_id = wait_until(waiting_gate, WAIT, "the run to wait at its gate")
    status = cutover(["campaign", "status", str(path)], tmp_path)
    assert status.returncode == 0 and f"GATE signoff waits (cutover approve {run_id} signoff" in status.stdout

    # the estate is locked by the waiting run: a second campaign on it is refused, nothing recorded
    other = campaign_file(fleet, "rival", {"bakery": {"nap": 0}}, concurrency=1)
    refused = cutover(["campaign", "run", str(other)], tmp_path)
    assert refused.returncode == 3, refused.stderr
    assert "estate 'bakery' belongs to campaign gated, running" in refused.stderr
    assert journal.query_one("SELECT name FROM campaigns WHERE name = 'rival'") is None

    answer = cutover(["approve", run_id, "signoff", "--as", "Claire Martin (client)", "--comment", "tested"],
                     tmp_path, journal_url=fleet["url"])
    assert answer.returncode == 0, answer.stderr
    wait_until(lambda: campaign_state(journal, "gated") == "finished", WAIT, "the run to go on after the gate")
    assert estates(journal, "gated")["bakery"]["state"] == "succeeded"
    gate = journal.gates(run_id)
    assert [(g["gate_id"], g["approved"], g["by_whom"], g["comment"]) for g in gate] == [
        ("signoff", 1, "Claire Martin (client)", "tested")]
    report = cutover(["report", run_id, "--format", "json", "-o", "-"], tmp_path, journal_url=fleet["url"])
    assert "Claire Martin (client)" in report.stdout
    assert (fleet["work"] / "gated.log").read_text().splitlines() == ["bakery stop", "bakery start"]


def test_the_schema_is_versioned_and_migrated_once(fleet, journal):
    rows = journal.query("SELECT version, description FROM cutover_schema ORDER BY version", ())
    assert [r["version"] for r in rows] == [1, 2] and "fleet" in rows[1]["description"]
    script = textwrap.dedent(f"""
        from engine.journal.store import Journal
        Journal("x.db", url={fleet['url']!r}).close()
    """)
    assert subprocess.run([sys.executable, "-c", script], env=cli_env(), cwd=fleet["work"]).returncode == 0
    assert journal.query("SELECT count(*) AS n FROM cutover_schema", ())[0]["n"] == 2
