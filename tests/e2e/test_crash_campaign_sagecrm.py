"""Crash campaign: SIGKILL the three-server Sage CRM demo upgrade at random instants, then `resume`.

The demo estate (examples/demo/inventory.yml: three simulated Sage CRM 7.2 servers and a SQLite
CRM database) is upgraded by playbooks/sagecrm/upgrade.yml in a real `cutover` process, killed
with SIGKILL at a random instant: after a random number of steps were journaled done, plus a
random fraction of a step, so kills land between steps and inside them (during a backup, the
installer, a journal commit). Then `cutover resume` (in-process, fast) must:

- complete the run (status succeeded, exit code 0) with the estate upgraded to 7.3 everywhere;
- never run a step the journal recorded done before the kill (its events and attempts unchanged);
- leave a journal that passes `PRAGMA integrity_check`, before and after the resume.

Rounds: `CUTOVER_CRASH_ROUNDS=N` runs exactly N kills (bench/crash_campaign.py runs a long form).
Without it, CI aims at 50 kills within a budget of ~90 s of wall time; on a slow or busy machine
it stops early (never below 10 kills) and prints why, so the suite stays fast. The budget only
decides how many kills run, never whether the test passes. The rounds are independent working
copies; a failing round names its seed (`CUTOVER_CRASH_SEED`) to reproduce it.

Concurrent starts: two upgrades of the same estate started together, from one state directory
and from two (the estate lock on the servers, tests/integration/test_estate_lock.py): one runs
the estate to 7.3, the other is refused with exit 3 naming the holder and journals nothing;
`CUTOVER_CONCURRENT_ROUNDS` rounds of each (2 here, more from bench/crash_campaign.py).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from engine.journal.store import DONE, Journal
from tests.support.runs import (
    REPO,
    first_to_end,
    journal_of,
    run_cli,
    spawn_cli,
    wait_for_done_nodes,
    write_yaml,
)

EXPLICIT_ROUNDS = os.environ.get("CUTOVER_CRASH_ROUNDS")
ROUNDS = int(EXPLICIT_ROUNDS or 50)
#: without CUTOVER_CRASH_ROUNDS: stop starting new kills past this much wall time (but do at least MIN_ROUNDS)
BUDGET_SECONDS = 90.0
MIN_ROUNDS = 10
SEED = int(os.environ.get("CUTOVER_CRASH_SEED", "20261122"))
PLAYBOOK = "playbooks/sagecrm/upgrade.yml"
INVENTORY = "examples/demo/inventory.yml"
HOSTS = ("crm1", "crm2", "crm3")
#: the repair gate --approve-all does not answer (the demo's customised view kept by the upgrade)
REPAIRED = ("--approve", "upgrade-log-fixed-crm2=vCompanyPE merged")


def demo_copy(work: Path) -> Path:
    """A private working copy of the demo: its .cutover/ (journal, sim hosts, SQLite CRM) starts empty."""
    shutil.copytree(REPO / "examples" / "demo", work / "examples" / "demo")
    shutil.copytree(REPO / "playbooks", work / "playbooks")
    return work


def upgraded_versions(work: Path) -> dict[str, Any]:
    """The Sage CRM version each simulated server's registry reports."""
    from simulation.host import SimHost

    key = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
    return {
        h: SimHost.open(work / ".cutover", h).registry_value(key, "Version", view="32")["data"] for h in HOSTS
    }


def _integrity(work: Path) -> None:
    with sqlite3.connect(work / ".cutover" / "runs.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def kill_at(work: Path, done: int, fraction: float) -> None:
    """Start the upgrade as its own process and SIGKILL it after `done` steps and a bit more."""
    proc = spawn_cli(
        ["run", PLAYBOOK, "-i", INVENTORY, "--approve-all", *REPAIRED, "--no-report", "--forks", "4"], work
    )
    try:
        if done:
            wait_for_done_nodes(work, done, timeout=60)
        if fraction:
            time.sleep(fraction)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)


def crash_round(work: Path, rng: random.Random, steps: int) -> tuple[int, int]:
    """One kill and resume; returns (steps done before the kill, steps the resume ran)."""
    kill_at(work, rng.randrange(0, steps), rng.choice([0.0, 0.0, rng.uniform(0.0, 0.05)]))
    if not (work / ".cutover" / "runs.db").exists():  # killed while starting: nothing may have happened
        assert not (work / ".cutover" / "sim").exists()
        return 0, 0
    _integrity(work)
    journal = journal_of(work)
    run = journal.find_run("last")
    if run is None:  # killed before the run was recorded: no step may have started
        journal.close()
        assert not (work / ".cutover" / "sim").exists()
        return 0, 0
    done = journal.done_nodes(run["id"])
    events_before = [e for e in journal.events(run["id"]) if e["node_id"] in done]
    journal.close()

    resumed = run_cli(
        ["resume", run["id"], "--approve-all", *REPAIRED, "--no-report", "--output", "jsonl"], work
    )
    assert resumed.rc == 0, resumed.err + resumed.out[-3000:]
    ran_again = set(resumed.statuses()) & set(done)
    assert not ran_again, f"resume ran steps recorded done: {sorted(ran_again)}"
    _integrity(work)
    journal = journal_of(work)
    after = journal.find_run(run["id"])
    assert after["status"] == "succeeded"
    assert [e for e in journal.events(run["id"]) if e["node_id"] in done] == events_before
    for node_id, row in journal.done_nodes(run["id"]).items():
        if node_id in done:
            assert row["attempts"] == done[node_id]["attempts"] and row["ended"] == done[node_id]["ended"]
    assert len(journal.done_nodes(run["id"])) == steps
    journal.close()
    assert upgraded_versions(work) == dict.fromkeys(HOSTS, "7.3")
    return len(done), len(resumed.statuses())


def test_sigkill_anywhere_in_the_sagecrm_upgrade_then_resume_completes(tmp_path: Path) -> None:
    baseline = run_cli(["run", PLAYBOOK, "-i", INVENTORY, "--approve-all", *REPAIRED, "--no-report", "--output", "jsonl"],
                       demo_copy(tmp_path / "baseline"))  # fmt: skip
    assert baseline.rc == 0, baseline.err + baseline.out[-3000:]
    steps = len(baseline.statuses())
    assert steps >= 30 and upgraded_versions(tmp_path / "baseline") == dict.fromkeys(HOSTS, "7.3")

    rng = random.Random(SEED)
    started = time.monotonic()
    mid_run = rounds = 0
    for round_ in range(ROUNDS):
        elapsed = time.monotonic() - started
        if not EXPLICIT_ROUNDS and round_ >= MIN_ROUNDS and elapsed / round_ * (round_ + 1) > BUDGET_SECONDS:
            print(f"crash campaign: short form, {round_} of {ROUNDS} kills: the next one would pass the "
                  f"{BUDGET_SECONDS:.0f} s budget ({elapsed:.1f} s so far on this machine); "
                  "CUTOVER_CRASH_ROUNDS=50 forces the full count")  # fmt: skip
            break
        work = demo_copy(tmp_path / f"round{round_}")
        try:
            before, _resumed = crash_round(work, rng, steps)
        except AssertionError as err:
            raise AssertionError(f"round {round_} (CUTOVER_CRASH_SEED={SEED}): {err}") from None
        rounds += 1
        mid_run += 0 < before < steps
        shutil.rmtree(work)
    print(f"crash campaign: {rounds} SIGKILL rounds in {time.monotonic() - started:.1f} s; {mid_run} mid-run")
    assert rounds >= min(ROUNDS, MIN_ROUNDS)
    assert mid_run >= rounds * 0.6  # the kills really landed inside runs, not before or after them


# --------------------------------------------------------------------------- concurrent starts
#: rounds of each concurrent-start case (bench/crash_campaign.py --concurrent runs more)
CONCURRENT_ROUNDS = int(os.environ.get("CUTOVER_CONCURRENT_ROUNDS", "2"))


def _shared_estate_inventory(work: Path) -> str:
    """The demo inventory with its simulated servers kept in `work/.cutover` whatever the state
    directory: the estate is one (real servers are), the operators' state directories are two."""
    import yaml

    source = work / INVENTORY
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["defaults"]["sim"]["state_dir"] = str(work / ".cutover")
    shared = source.with_name("shared-estate.yml")
    shared.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(shared.relative_to(work))


#: the file the held upgrade waits for on crm1, written once one of the two runs has ended
GO = "C:\\cutover-test\\go.txt"


def _held_upgrade(work: Path) -> str:
    """The upgrade behind one first step that waits for GO on crm1: the run that took the estate
    lock holds it until the test has seen the other run end (the demo upgrade alone takes under
    a second, less than a busy machine may need to start the second process)."""
    wait = {
        "name": "wait for go",
        "wait_for": {"path": GO, "state": "present", "timeout": 300, "sleep": 0.05},
    }
    held = work / "playbooks" / "sagecrm" / "held-upgrade.yml"
    write_yaml(held, [{"name": "held", "hosts": "crm1", "tasks": [wait]}, {"import_playbook": "upgrade.yml"}])
    return str(held.relative_to(work))


def _go(work: Path) -> None:
    from simulation.host import SimHost

    SimHost.open(work / ".cutover", "crm1").write_bytes(GO, b"go")


@pytest.mark.parametrize("state_dirs", ["one", "two"])
def test_two_upgrades_of_the_estate_started_together_one_runs_the_other_is_refused(
    tmp_path: Path, state_dirs: str
) -> None:
    """Two `cutover run` of the same upgrade started at once, from one state directory (the
    journal and the local lock decide) or from two (the markers on the servers decide,
    tests/integration/test_estate_lock.py): one upgrades the estate to 7.3 and its journal says
    succeeded; the other is refused with exit 3 naming the holder, journals nothing and touched
    nothing: every server upgraded once, no marker left behind."""
    for round_ in range(CONCURRENT_ROUNDS):
        work = demo_copy(tmp_path / f"round{round_}")
        inventory = _shared_estate_inventory(work) if state_dirs == "two" else INVENTORY
        folders = [".cutover", ".cutover"] if state_dirs == "one" else ["alice", "bob"]
        playbook = _held_upgrade(work)
        args = ["run", playbook, "-i", inventory, "--approve-all", *REPAIRED, "--no-report", "--forks", "4"]
        both = [spawn_cli([*args, "--state-dir", folder], work) for folder in folders]
        try:
            first = first_to_end(both)  # both running, none ended: the lock let both through
        finally:
            _go(work)
            outputs = [proc.communicate(timeout=300) for proc in both]
        said = [out + err for out, err in outputs]
        where = f"round {round_} ({state_dirs} state dir(s))"
        assert "Traceback" not in "".join(said), f"{where}: {said}"
        codes = [proc.returncode for proc in both]
        assert sorted(codes) == [0, 3], f"{where}: {codes} {said}"
        loser, winner = codes.index(3), codes.index(0)
        assert both[loser] is first, f"{where}: the refused run ends first, the other waits for GO"
        assert upgraded_versions(work) == dict.fromkeys(HOSTS, "7.3"), where
        journal = journal_of(work) if state_dirs == "one" else Journal(work / folders[winner] / "runs.db")
        try:
            [ran] = journal.runs()  # the refused run journaled nothing, here or in its own folder
            assert ran["status"] == "succeeded", where
            nodes = journal.nodes(ran["id"])
            assert all(row["status"] in DONE for row in nodes), f"{where}: every step done"
            assert all(row["attempts"] <= 1 for row in nodes), f"{where}: a step ran twice"  # 0: skipped
        finally:
            journal.close()
        # the holder named: the run on the servers' markers or the local lock, or (one folder,
        # both opening the journal at the same instant) the journal's own lock
        named = f"by run {ran['id']} by " in said[loser]
        assert named or (state_dirs == "one" and "is locked by another cutover process" in said[loser]), said[
            loser
        ]
        if state_dirs == "two":
            assert not (work / folders[loser] / "runs.db").exists() or not _runs(work / folders[loser]), where
        assert _markers_left(work) == {}, f"{where}: the estate lock was released"
        shutil.rmtree(work)


def _runs(state: Path) -> list[dict[str, Any]]:
    journal = Journal(state / "runs.db")
    try:
        return journal.runs()
    finally:
        journal.close()


def _markers_left(work: Path) -> dict[str, Any]:
    """The estate lock markers still on the simulated servers (none once every run ended)."""
    from simulation.host import SimHost

    found = {}
    for host in HOSTS:
        sim = SimHost.open(work / ".cutover", host)
        [answer] = sim.call(
            [{"op": "lock.inspect", "args": {"path": "C:\\ProgramData\\cutover\\locks\\sagecrm-demo.lock"}}]
        )
        if answer["value"]["holder"]:
            found[host] = answer["value"]["holder"]
    return found
