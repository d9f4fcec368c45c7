"""A task's retries/delay/timeout are decided once per task only when they are plain values
(engine/execute/runner.py `_task_fields`): a templated one is still rendered for each host, with
that host's variables, and the plain one applies to every step of the task."""

from __future__ import annotations

from pathlib import Path

from tests.support.runs import journal_of, run_cli, write_yaml


def test_templated_retries_follow_each_host_and_plain_ones_every_step(tmp_path: Path) -> None:
    inventory = write_yaml(
        tmp_path / "inventory.yml",
        {
            "estate": "task-fields",
            "hosts": {
                "h1": {"connection": "sim", "vars": {"tries": 0}},
                "h2": {"connection": "sim", "vars": {"tries": 2}},
                "h3": {"connection": "sim", "vars": {"tries": 1}},
            },
        },
    )
    stat = {"path": "C:\\Windows"}
    playbook = write_yaml(
        tmp_path / "play.yml",
        [
            {
                "hosts": "all",
                "tasks": [
                    {"name": "plain", "stat": stat, "until": "false", "retries": 1, "delay": 0,
                     "ignore_errors": True},
                    {"name": "templated", "stat": stat, "until": "false", "retries": "{{ tries }}",
                     "delay": 0, "ignore_errors": True},
                ],
            }
        ],
    )  # fmt: skip
    result = run_cli(
        ["run", str(playbook), "-i", str(inventory), "--no-report", "--output", "jsonl"], tmp_path
    )
    assert result.rc == 0, result.out + result.err
    journal = journal_of(tmp_path)
    (run,) = journal.runs(limit=1)
    attempts = {(n["task"], n["host"]): n["attempts"] for n in journal.nodes(run["id"])}
    assert attempts == {
        ("plain", "h1"): 2, ("plain", "h2"): 2, ("plain", "h3"): 2,
        ("templated", "h1"): 1, ("templated", "h2"): 3, ("templated", "h3"): 2,
    }  # fmt: skip
