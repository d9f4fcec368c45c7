"""`rescue:` as in Ansible: a rescued failure is counted as rescued and does not fail the run.

Ansible's documentation (Blocks, "Handling errors with blocks",
https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_blocks.html): "If an error
occurs in the block and the rescue task succeeds, Ansible reverts the failed status of the
original task for the run and continues to run the play as if the original task had succeeded.
The rescued task is considered successful, and does not trigger max_fail_percentage or
any_errors_fatal configurations. However, Ansible still reports a failure in the playbook
statistics." cutover does the same: the step stays `failed` in the journal, the run summary
counts it as `rescued`, and the run succeeds (exit 0) unless something else failed. These
tests run real playbooks over the local connection and read the exit code, the summary the run
ends with (jsonl `run_ended`) and the journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.runs import CliResult, journal_of, local_inventory, run_cli, write_yaml

JSONL = ["--output", "jsonl", "--no-report"]


def _run(tmp: Path, plays: list[dict[str, Any]], hosts: tuple[str, ...] = ("a",)) -> CliResult:
    local_inventory(tmp / "inv.yml", list(hosts))
    write_yaml(tmp / "pb.yml", plays)
    return run_cli(["run", "pb.yml", "-i", "inv.yml", *JSONL], tmp)


def _summary(result: CliResult) -> dict[str, Any]:
    (ended,) = [e for e in result.events() if e["event"] == "run_ended"]
    return ended


def _guarded(rescue: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "guarded", "block": [{"name": "breaks", "command": "false"}], "rescue": rescue}


def test_a_rescued_failure_lets_the_run_succeed(tmp_path: Path) -> None:
    plays = [
        {"hosts": "all", "tasks": [_guarded([{"name": "repair", "debug": {"msg": "repaired"}}])]},
        {"hosts": "all", "tasks": [{"name": "next play", "command": "true"}]},
    ]
    result = _run(tmp_path, plays, hosts=("a", "b"))

    assert result.rc == 0, result.out
    ended = _summary(result)
    assert ended["status"] == "succeeded"
    assert ended["counts"] == {"rescued": 2, "ok": 2, "changed": 2}
    journal = journal_of(tmp_path)
    try:
        run = journal.find_run("last")
        assert run["status"] == "succeeded"
        statuses = {row["task"]: row["status"] for row in journal.nodes(run["id"])}
    finally:
        journal.close()
    assert statuses == {"breaks": "failed", "repair": "ok", "next play": "changed"}  # the step did fail


def test_a_failing_rescue_fails_the_run(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "tasks": [
        _guarded([{"name": "repair fails too", "command": "false"}]),
        {"name": "after the block", "command": "true"},
    ]}]
    result = _run(tmp_path, plays)

    assert result.rc == 1
    ended = _summary(result)
    assert ended["status"] == "failed"
    assert ended["counts"]["rescued"] == 1 and ended["counts"]["failed"] == 1
    assert result.statuses()["p0/1@a"] == "blocked"


def test_a_failure_elsewhere_still_fails_a_run_that_rescued_one(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "on_failure": "continue", "tasks": [
        _guarded([{"name": "repair", "debug": {"msg": "repaired"}}]),
        {"name": "unguarded", "command": "false", "when": "inventory_hostname == 'b'"},
    ]}]
    result = _run(tmp_path, plays, hosts=("a", "b"))

    assert result.rc == 1
    ended = _summary(result)
    assert ended["status"] == "failed"
    assert ended["counts"]["rescued"] == 2 and ended["counts"]["failed"] == 1


def test_an_outer_rescue_handles_a_failure_inside_an_inner_rescue(tmp_path: Path) -> None:
    inner = _guarded([{"name": "inner repair fails", "command": "false"}])
    plays = [{"hosts": "all", "tasks": [
        {"name": "outer", "block": [inner], "rescue": [{"name": "outer repair", "debug": {"msg": "ok"}}]},
        {"name": "after", "command": "true"},
    ]}]
    result = _run(tmp_path, plays)

    assert result.rc == 0, result.out
    assert _summary(result)["counts"] == {"rescued": 2, "ok": 1, "changed": 1}


def test_without_rescue_an_always_section_does_not_rescue(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "tasks": [
        {"name": "guarded", "block": [{"name": "breaks", "command": "false"}],
         "always": [{"name": "clean up", "command": "true"}]},
    ]}]
    result = _run(tmp_path, plays)

    assert result.rc == 1
    ended = _summary(result)
    assert ended["status"] == "failed" and "rescued" not in ended["counts"]
    assert ended["counts"] == {"failed": 1, "changed": 1}


def test_a_rescued_failure_does_not_trigger_any_errors_fatal(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "any_errors_fatal": True, "tasks": [
        {"name": "guarded", "when": "inventory_hostname == 'a'",
         "block": [{"name": "breaks", "command": "false"}],
         "rescue": [{"name": "repair", "debug": {"msg": "repaired"}}]},
        {"name": "every host goes on", "command": "true"},
    ]}]
    result = _run(tmp_path, plays, hosts=("a", "b"))

    assert result.rc == 0, result.out
    assert result.statuses()["p0/1@a"] == "changed" and result.statuses()["p0/1@b"] == "changed"


# --- resume ------------------------------------------------------------------------------------
def _fail_then_resume(tmp: Path, tasks: list[dict[str, Any]]) -> tuple[CliResult, CliResult]:
    """Run `tasks` (they fail while `tmp/flag` is missing), create the flag, resume the run."""
    first = _run(tmp, [{"hosts": "all", "tasks": tasks}])
    assert first.rc == 1, first.out
    (tmp / "flag").touch()
    return first, run_cli(["resume", "last", *JSONL], tmp)


def _sh(name: str, line: str) -> dict[str, Any]:
    return {"name": name, "shell": line}


def _logged(tmp: Path) -> list[str]:
    return (tmp / "log").read_text().split()


def _ended(result: CliResult) -> list[str]:
    return [e["task"] for e in result.events() if e["event"] == "node_ended"]


def test_resume_continues_a_rescue_that_had_started(tmp_path: Path) -> None:
    """The failure a rescue handles is final: resume runs the rest of the rescue, not the block again."""
    log, flag = tmp_path / "log", tmp_path / "flag"
    guarded = {"name": "guarded", "block": [_sh("breaks", f"echo block >> {log}; false")], "rescue": [
        _sh("first repair", f"echo repair >> {log}"),
        _sh("second repair", f"test -f {flag} && echo second >> {log}"),
    ]}

    first, resumed = _fail_then_resume(tmp_path, [guarded])

    assert resumed.rc == 0, resumed.out
    assert _logged(tmp_path) == ["block", "repair", "second"]  # neither the block nor step 1 again
    assert _ended(resumed) == ["second repair"]


def test_resume_does_not_invent_a_rescue_for_a_block_that_succeeded(tmp_path: Path) -> None:
    log, flag = tmp_path / "log", tmp_path / "flag"
    guarded = {"name": "guarded", "block": [_sh("works", f"echo block >> {log}")],
               "rescue": [_sh("repair", f"echo repair >> {log}")]}

    first, resumed = _fail_then_resume(tmp_path, [guarded, _sh("later", f"test -f {flag} && echo later >> {log}")])

    assert resumed.rc == 0, resumed.out
    assert _logged(tmp_path) == ["block", "later"]


def test_resume_finishes_a_rescue_whose_own_step_failed(tmp_path: Path) -> None:
    """Steps skipped after a failed rescue step run on resume: the rescue completes (the 1CRM decision)."""
    log, flag = tmp_path / "log", tmp_path / "flag"
    guarded = {"name": "guarded", "block": [_sh("breaks", f"echo block >> {log}; false")], "rescue": [
        _sh("confirm", f"test -f {flag}"),
        _sh("restore", f"echo restored >> {log}"),
    ]}

    first, resumed = _fail_then_resume(tmp_path, [guarded, _sh("after the block", f"echo after >> {log}")])

    assert first.statuses()["p0/0.r1@a"] == "skipped"  # after the failed confirm
    assert resumed.rc == 0, resumed.out
    assert _logged(tmp_path) == ["block", "restored", "after"]
    assert _ended(resumed) == ["confirm", "restore", "after the block"]


def test_resume_runs_again_what_a_failure_in_a_block_skipped(tmp_path: Path) -> None:
    log, flag = tmp_path / "log", tmp_path / "flag"
    plain = {"name": "plain block", "block": [
        _sh("needs the flag", f"test -f {flag}"),
        _sh("next in the block", f"echo next >> {log}"),
    ]}

    first, resumed = _fail_then_resume(tmp_path, [plain])

    assert first.statuses()["p0/0.b1@a"] == "skipped"
    assert resumed.rc == 0, resumed.out
    assert _logged(tmp_path) == ["next"]
