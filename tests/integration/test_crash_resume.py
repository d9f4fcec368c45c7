"""SIGKILL `cutover run` at 20 random points; `resume` finishes exactly what was not recorded done."""

from __future__ import annotations

import random
import signal
from collections import Counter
from pathlib import Path

from tests.support.runs import (
    journal_of,
    local_inventory,
    run_cli,
    spawn_cli,
    wait_for_done_nodes,
    write_yaml,
)

HOSTS = ["a", "b", "c"]
TASKS_PER_PLAY = 5


def _playbook(log: Path) -> list:
    def tasks(play: int) -> list:
        return [{"name": f"p{play}t{i}",
                 "shell": f"echo p{play}/{i}@{{{{ inventory_hostname }}}} >> {log}; sleep 0.01"}
                for i in range(TASKS_PER_PLAY)]

    return [{"hosts": "all", "tasks": tasks(0)}, {"hosts": "a:b", "tasks": tasks(1)}]


def test_sigkill_at_random_points_then_resume(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    all_nodes = {f"p0/{i}@{h}" for i in range(TASKS_PER_PLAY) for h in HOSTS} | \
                {f"p1/{i}@{h}" for i in range(TASKS_PER_PLAY) for h in "ab"}
    kills_with_work_left = 0
    for round_ in range(20):
        work = tmp_path / f"round{round_}"
        log = work / "executed.log"
        local_inventory(work / "inv.yml", HOSTS, estate=f"crash{round_}")
        write_yaml(work / "pb.yml", _playbook(log))
        proc = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report", "--forks", "4"], work)
        target = rng.randrange(0, len(all_nodes))
        try:
            if target:
                wait_for_done_nodes(work, target)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        journal = journal_of(work)
        assert journal.integrity_ok()
        run = journal.find_run("last")
        if run is None:  # killed before the run was recorded: nothing to resume, nothing may have run
            assert not log.exists()
            continue
        done_before = set(journal.done_nodes(run["id"]))
        journal.close()
        if done_before != all_nodes:
            kills_with_work_left += 1
        resumed = run_cli(["resume", run["id"], "--output", "jsonl", "--no-report"], work)
        assert resumed.rc == 0, resumed.err
        ran_on_resume = set(resumed.statuses())
        assert ran_on_resume.isdisjoint(done_before), f"ran again: {ran_on_resume & done_before}"
        assert ran_on_resume | done_before == all_nodes
        executed = Counter(log.read_text().split())
        for node in done_before:
            assert executed[node] == 1, f"{node} executed {executed[node]} times"
        assert set(executed) == all_nodes
        journal = journal_of(work)
        assert journal.integrity_ok()
        assert journal.find_run(run["id"])["status"] == "succeeded"
        journal.close()
    assert kills_with_work_left >= 15  # the kills really landed in the middle of runs
