"""A hang-up or a closed output ends a run as interrupted: recorded, lock released, resumable.

`cutover run ... | head -n 3` closes the pipe under the run: Python ignores SIGPIPE, so the next
write raises BrokenPipeError; a terminal that goes away sends SIGHUP (whose default action would
kill the run mid-step and leave it `running` in the journal). Either way: the steps running
finish, no new one starts, the run is journaled `interrupted` with the reason in its notes, the
estate lock is free, and `resume` completes the run without running a finished step again.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.runs import journal_of, local_inventory, run_cli, spawn_cli, wait_for_done_nodes

STEPS = 6


def estate(tmp_path: Path) -> tuple[Path, Path]:
    inventory = local_inventory(tmp_path / "inventory.yml", ["here"])
    tasks = "".join(f"    - name: step {i}\n      command: sleep 0.4\n" for i in range(STEPS))
    playbook = tmp_path / "site.yml"
    playbook.write_text(f"- hosts: all\n  tasks:\n{tasks}", encoding="utf-8")
    return playbook, inventory


def recorded(tmp_path: Path) -> tuple[dict, dict]:
    journal = journal_of(tmp_path)
    try:
        run = journal.find_run("last")
        return run, journal.done_nodes(run["id"])
    finally:
        journal.close()


def resumes_to_the_end(tmp_path: Path, run: dict, done: dict) -> None:
    assert 0 < len(done) < STEPS, "the interruption must land mid-run"
    resumed = run_cli(["resume", run["id"], "--no-report", "--output", "jsonl"], tmp_path)
    assert resumed.rc == 0, resumed.err
    assert not set(resumed.statuses()) & set(done), "resume ran a step recorded done"
    after, all_done = recorded(tmp_path)
    assert after["status"] == "succeeded" and len(all_done) == STEPS


def test_sighup_interrupts_the_run_and_resume_completes_it(tmp_path: Path) -> None:
    playbook, inventory = estate(tmp_path)
    proc = spawn_cli(["run", str(playbook), "-i", str(inventory), "--no-report"], tmp_path)
    wait_for_done_nodes(tmp_path, 1)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    run, done = recorded(tmp_path)
    assert run["status"] == "interrupted" and run["ended"]
    assert any("SIGHUP" in note for note in run["notes"]), run["notes"]
    resumes_to_the_end(tmp_path, run, done)  # the lock was released: resume takes it


def test_a_closed_output_pipe_interrupts_the_run_and_resume_completes_it(tmp_path: Path) -> None:
    playbook, inventory = estate(tmp_path)
    proc = spawn_cli(["run", str(playbook), "-i", str(inventory), "--no-report", "--output", "jsonl"], tmp_path)
    while '"node_ended"' not in proc.stdout.readline():  # the reader takes what it wants...
        pass
    proc.stdout.close()  # ...and goes away, as `| head` does
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "Traceback" not in err
    run, done = recorded(tmp_path)
    assert run["status"] == "interrupted" and run["ended"]
    assert any("broken pipe" in note for note in run["notes"]), run["notes"]
    assert proc.returncode == 130
    resumes_to_the_end(tmp_path, run, done)
