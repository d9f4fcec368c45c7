"""The ansible-playbook flags on `cutover run`: listings, --start-at-task, --step, --syntax-check, -l @file.

A listing prints what the plan holds and touches nothing; --start-at-task past the backup a
destructive step needs is refused under the named rule with the flag that lifts it, and the
refusal is a `refused` run in the journal; --step asks before each step and quits resumably.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.cli.step import NO_SKIP, StepReporter
from tests.support.runs import journal_of, local_inventory, run_cli, write_yaml

DLL = "C:\\Program Files (x86)\\Sage\\CRM\\CRM\\eware.dll"


def _local(tmp: Path) -> None:
    local_inventory(tmp / "inv.yml", ["h1", "h2"], groups={"web": {"hosts": ["h2"]}})
    write_yaml(tmp / "pb.yml", [
        {"name": "first", "hosts": "all", "tasks": [
            {"name": "prepare", "debug": {"msg": "p"}, "tags": ["prep"]},
            {"name": "install", "block": [
                {"name": "install files", "debug": {"msg": "i"}, "tags": ["install"]},
                {"name": "install service", "debug": {"msg": "s"}}]}]},
        {"name": "second", "hosts": "web", "tasks": [{"name": "check", "debug": {"msg": "c"}, "tags": ["check"]}]},
    ])


def test_list_tasks_hosts_and_tags_in_ansible_playbooks_layout(tmp_path):
    _local(tmp_path)
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--list-tasks", "--list-hosts", "--list-tags"], tmp_path)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        "playbook: pb.yml", "",
        "  play #1 (all): first\tTAGS: []", "    pattern: ['all']", "    hosts (2):", "      h1", "      h2",
        "    tasks:", "      prepare\tTAGS: [prep]", "      install files\tTAGS: [install]",
        "      install service\tTAGS: []", "      TASK TAGS: [install, prep]", "",
        "  play #2 (web): second\tTAGS: []", "    pattern: ['web']", "    hosts (1):", "      h2",
        "    tasks:", "      check\tTAGS: [check]", "      TASK TAGS: [check]",
    ]
    assert not (tmp_path / ".cutover" / "runs.db").exists()


def test_start_at_task_leaves_out_what_comes_before_even_inside_a_block(tmp_path):
    _local(tmp_path)
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--start-at-task", "install s*", "--list-tasks"], tmp_path)
    assert result.rc == 0, result.err
    tasks = [line.strip().split("\t")[0] for line in result.out.splitlines() if "TAGS: [" in line and "play #" not in line]
    assert tasks == ["install service", "check"]


def test_start_at_an_unknown_task_is_bad_input(tmp_path):
    _local(tmp_path)
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--start-at-task", "instal service"], tmp_path)
    assert result.rc == 2 and "no task is named 'instal service'" in result.err and "install service" in result.err


def test_limit_from_a_retry_file_and_its_mistakes_located(tmp_path):
    _local(tmp_path)
    (tmp_path / "site.retry").write_text("# failed last time\nh2\n")
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "-l", "@site.retry", "--list-hosts"], tmp_path)
    assert result.rc == 0 and "    hosts (1):\n      h2\n" in result.out
    (tmp_path / "site.retry").write_text("h2\n  h9\n")
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "-l", "@site.retry"], tmp_path)
    assert result.rc == 2 and "site.retry:2:3: host pattern 'h9' matches no host" in result.err


def test_syntax_check_is_validate(tmp_path):
    _local(tmp_path)
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--syntax-check"], tmp_path)
    assert result.rc == 0 and result.out.startswith("ok: pb.yml with inv.yml: 7 steps on 2 hosts")
    assert not (tmp_path / ".cutover" / "runs.db").exists()


def _guarded(tmp: Path) -> None:
    host = {"connection": "sim", "roles": ["web"], "sim": {"initial": {"preset": "sagecrm"}}}
    write_yaml(tmp / "inv.yml", {"estate": "guarded", "hosts": {"web1": host}})
    write_yaml(tmp / "pb.yml", [{"hosts": "all", "tasks": [
        {"name": "keep the old dll", "win_copy": {"dest": DLL, "content": "eware.dll 7.2\n", "backup": True}},
        {"name": "new eware.dll", "win_copy": {"dest": DLL, "content": "eware.dll 7.3\n"}}]}])


def test_start_at_task_past_the_backup_is_refused_naming_the_rule_and_the_flag(tmp_path):
    _guarded(tmp_path)
    assert run_cli(["plan", "pb.yml", "-i", "inv.yml"], tmp_path).rc == 0  # whole, the plan is fine
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--start-at-task", "new eware.dll"], tmp_path)
    assert result.rc == 2, result.err
    assert "refused: --start-at-task 'new eware.dll' leaves out the backup" in result.err
    assert "rule: a destructive step needs a verified backup upstream" in result.err
    assert "--allow-unprotected" in result.err and "Traceback" not in result.err
    row = journal_of(tmp_path).find_run("last") or journal_of(tmp_path).runs()[0]
    assert row["status"] == "refused" and row["kind"] == "refused" and row["estate"] == "guarded"
    assert "new eware.dll" in str(row["notes"]) and not (tmp_path / ".cutover" / "sim").exists()


class _Node:
    def __init__(self, label: str):
        self.label, self.host = label, "h1"


class _Inner:
    live_enabled = True

    def __getattr__(self, name: str) -> Any:
        return lambda *a: None


def test_step_asks_yes_continue_quit_and_never_skips():
    answers = iter(["n", "what", "y", "c"])
    said: list[str] = []
    asker = StepReporter(_Inner(), ask=lambda prompt: next(answers), say=said.append)
    assert asker.inner.live_enabled is False
    assert asker.may_start(_Node("a")) is True and said == [NO_SKIP, "answer y, c or q"]
    assert asker.may_start(_Node("b")) is True and asker.may_start(_Node("c")) is True  # c: no more questions
    quitting = StepReporter(_Inner(), ask=lambda prompt: "q")
    assert quitting.may_start(_Node("a")) is False


def test_step_quit_ends_the_run_interrupted_and_resumable(tmp_path, monkeypatch):
    from engine.cli import build_parser
    from engine.cli.common import sources_from
    from engine.execute.session import RunRequest, execute_run
    from engine.pipeline import flows

    _local(tmp_path)
    monkeypatch.chdir(tmp_path)
    parser, _ = build_parser(["run"])
    plan = flows.plan(sources_from(parser.parse_args(["run", "pb.yml", "-i", "inv.yml"])))
    answers = iter(["y", "q"])
    summary = execute_run(RunRequest(plan=plan, state_dir=str(tmp_path / ".cutover"), forks=1,
                                     reporter=StepReporter(_Inner(), ask=lambda prompt: next(answers))))
    assert summary.status == "interrupted" and summary.counts == {"ok": 1}
    assert journal_of(tmp_path).run(summary.run_id)["status"] == "interrupted"
