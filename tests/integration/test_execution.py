"""`cutover run` for real over the local connection: order, policies, retries, handlers, check mode."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.runs import (
    journal_of,
    local_inventory,
    run_cli,
    spawn_cli,
    wait_for_done_nodes,
    write_yaml,
)

JSONL = ["--output", "jsonl", "--no-report"]


def _run(tmp: Path, plays: list, hosts: list[str] = ("a", "b", "c"), extra: list[str] = ()) -> object:
    local_inventory(tmp / "inv.yml", list(hosts))
    write_yaml(tmp / "pb.yml", plays)
    return run_cli(["run", "pb.yml", "-i", "inv.yml", *JSONL, *extra], tmp)


def test_idempotent_second_run_is_all_ok(tmp_path: Path) -> None:
    target = tmp_path / "out"
    plays = [{"hosts": "all", "tasks": [
        {"name": "dir", "file": {"path": f"{target}/{{{{ inventory_hostname }}}}", "state": "directory"}},
        {"name": "file", "copy": {"dest": f"{target}/{{{{ inventory_hostname }}}}/f.txt", "content": "v1\n", "backup": True}},
    ]}]
    first = _run(tmp_path, plays)
    assert first.rc == 0, first.err
    assert set(first.statuses().values()) == {"changed"}
    assert len(first.statuses()) == 6
    second = _run(tmp_path, plays)
    assert second.rc == 0
    assert set(second.statuses().values()) == {"ok"}
    assert (target / "b" / "f.txt").read_text() == "v1\n"


def test_order_under_concurrency_follows_the_plan(tmp_path: Path) -> None:
    plays = [
        {"hosts": "all", "tasks": [
            {"name": "one", "id": "one", "command": "sleep 0.05"},
            {"name": "two", "command": "true"},
        ]},
        {"hosts": "a:b", "tasks": [
            {"name": "three", "command": "true"},
            {"name": "four", "needs": ["one"], "command": "true"},
        ]},
    ]
    result = _run(tmp_path, plays, extra=["--forks", "8"])
    assert result.rc == 0, result.err
    journal = journal_of(tmp_path)
    run = journal.find_run("last")
    order = {}
    for i, event in enumerate(journal.events(run["id"])):
        order.setdefault((event["node_id"], event["status"]), i)
    from engine.pipeline import Sources
    from engine.pipeline import plan as make_plan  # re-plan to get the edges the scheduler had to respect

    plan = make_plan(Sources(str(tmp_path / "pb.yml"), str(tmp_path / "inv.yml")))
    from engine.plan.render import step_edges

    edges = step_edges(plan)
    assert len(edges) > 6
    for a, b in edges:
        assert order[(a, "changed")] < order[(b, "running")], (a, b)
    # hosts ran in parallel: the three `one` steps all started before any ended
    starts = [order[(f"p0/0@{h}", "running")] for h in "abc"]
    ends = [order[(f"p0/0@{h}", "changed")] for h in "abc"]
    assert max(starts) < min(ends)


def test_failure_policy_stop_starts_nothing_new(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "tasks": [
        {"name": "fail on b", "command": "false", "when": "inventory_hostname == 'b'"},
        {"name": "slow", "command": "sleep 0.2"},
        {"name": "after", "command": "true"},
    ]}]
    result = _run(tmp_path, plays)
    assert result.rc == 1
    statuses = result.statuses()
    assert statuses["p0/0@b"] == "failed"
    assert "p0/2@a" not in statuses and "p0/2@c" not in statuses  # held, not started
    ended = [e for e in result.events() if e["event"] == "run_ended"][0]
    assert ended["status"] == "failed" and ended["not_run"] == 2
    assert statuses["p0/1@b"] == "blocked"


def test_failure_policy_continue_lets_other_hosts_finish(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "on_failure": "continue", "tasks": [
        {"name": "fail on b", "command": "false", "when": "inventory_hostname == 'b'"},
        {"name": "after", "command": "true"},
    ]}]
    result = _run(tmp_path, plays)
    statuses = result.statuses()
    assert result.rc == 1
    assert statuses["p0/1@a"] == "changed" and statuses["p0/1@c"] == "changed"
    assert statuses["p0/1@b"] == "blocked"


def test_max_fail_percentage(tmp_path: Path) -> None:
    plays = [{"hosts": "all", "on_failure": "continue", "max_fail_percentage": 50, "tasks": [
        {"name": "fail on a and b", "command": "false", "when": "inventory_hostname != 'c'"},
        {"name": "slow", "command": "sleep 0.3"},
        {"name": "after", "command": "true"},
    ]}]
    result = _run(tmp_path, plays)
    assert result.rc == 1
    assert "p0/2@c" not in result.statuses()  # 2 of 3 failed > 50 %: stopped
    assert any(e.get("text", "").startswith("stopping: 2 of 3 hosts failed") for e in result.events())


def test_ignore_errors_and_failed_when_changed_when(tmp_path: Path) -> None:
    plays = [{"hosts": "a", "tasks": [
        {"name": "ignored", "command": "false", "ignore_errors": True},
        {"name": "judged", "command": "echo hello", "register": "r",
         "changed_when": False, "failed_when": "'hello' not in r.stdout"},
        {"name": "check", "assert": {"that": ["r.stdout == 'hello'", "not r.changed"]}},
    ]}]
    result = _run(tmp_path, plays, hosts=["a"])
    assert result.rc == 0, result.err
    statuses = result.statuses()
    assert statuses == {"p0/0@a": "failed", "p0/1@a": "ok", "p0/2@a": "ok"}


def test_timeout_stops_the_remote_command(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    plays = [{"hosts": "a", "tasks": [
        {"name": "too slow", "timeout": 1, "shell": f"sleep 3 && touch {marker}"},
    ]}]
    t0 = time.monotonic()
    result = _run(tmp_path, plays, hosts=["a"])
    assert result.rc == 1
    ended = [e for e in result.events() if e["event"] == "node_ended"][0]
    assert ended["status"] == "failed" and "timed out" in ended["error"]
    assert time.monotonic() - t0 < 2.9  # it did not wait for the command
    time.sleep(3.2)
    assert not marker.exists(), "the command went on after the timeout"


def test_retries_until(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    plays = [{"hosts": "a", "tasks": [
        {"name": "third time lucky", "register": "r", "retries": 5, "delay": 0,
         "shell": f"echo x >> {counter}; wc -l < {counter}", "until": "r.stdout | int >= 3"},
    ]}]
    result = _run(tmp_path, plays, hosts=["a"])
    assert result.rc == 0, result.err
    assert counter.read_text().count("x") == 3
    journal = journal_of(tmp_path)
    nodes = journal.nodes(journal.find_run("last")["id"])
    assert nodes[0]["attempts"] == 3


def test_handlers_run_when_notified_and_on_failure(tmp_path: Path) -> None:
    log = tmp_path / "handlers.log"
    plays = [{"hosts": "all", "on_failure": "continue", "tasks": [
        {"name": "change", "command": "true", "notify": "restart", "when": "inventory_hostname != 'c'"},
        {"name": "fail on b", "command": "false", "when": "inventory_hostname == 'b'"},
    ], "handlers": [
        {"name": "restart", "shell": f"echo {{{{ inventory_hostname }}}} >> {log}"},
        {"name": "never", "shell": f"echo never >> {log}"},
    ]}]
    result = _run(tmp_path, plays)
    assert sorted(log.read_text().split()) == ["a", "b"]  # b failed, force_handlers runs it anyway
    statuses = result.statuses()
    assert statuses["p0/h0@c"] == "skipped"
    assert statuses["p0/h1@a"] == "skipped"


def test_block_rescue_always(tmp_path: Path) -> None:
    plays = [{"hosts": "a", "tasks": [
        {"name": "guarded", "block": [
            {"name": "breaks", "command": "false"},
            {"name": "not reached", "command": "true"},
        ], "rescue": [
            {"name": "repair", "set_fact": {"repaired": True}},
        ], "always": [
            {"name": "cleanup", "command": "true"},
        ]},
        {"name": "after", "assert": {"that": ["repaired"]}},
    ]}]
    result = _run(tmp_path, plays, hosts=["a"])
    assert result.rc == 0, result.out  # the failure is recorded and rescued, the host goes on
    statuses = {k.split("@")[0]: v for k, v in result.statuses().items()}
    assert statuses["p0/0.b0"] == "failed"
    assert statuses["p0/0.b1"] == "skipped"
    assert statuses["p0/0.r0"] == "ok"
    assert statuses["p0/0.a0"] == "changed"
    assert statuses["p0/1"] == "ok"


def test_check_mode_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    target.mkdir()
    (target / "keep.txt").write_text("old\n")
    plays = [{"hosts": "a", "tasks": [
        {"name": "overwrite", "copy": {"dest": str(target / "keep.txt"), "content": "new\n", "backup": True}},
        {"name": "new dir", "file": {"path": str(target / "d"), "state": "directory"}},
        {"name": "remove", "file": {"path": str(target / "keep.txt"), "state": "absent"}},
        {"name": "command", "shell": f"touch {target}/touched"},
    ]}]
    before = sorted((p.relative_to(target), p.read_bytes() if p.is_file() else b"") for p in target.rglob("*"))
    result = _run(tmp_path, plays, hosts=["a"], extra=["--check"])
    after = sorted((p.relative_to(target), p.read_bytes() if p.is_file() else b"") for p in target.rglob("*"))
    assert result.rc == 0, result.err
    assert before == after
    assert set(result.statuses().values()) == {"would-change"}


def test_gate_needs_approval(tmp_path: Path) -> None:
    plays = [{"hosts": "a", "tasks": [{"name": "sign", "gate": {"id": "tested", "prompt": "tested?"}}]}]
    refused = _run(tmp_path, plays, hosts=["a"])
    assert refused.rc == 1
    approved = _run(tmp_path, plays, hosts=["a"], extra=["--approve", "tested=looks good", "--operator", "alice"])
    assert approved.rc == 0, approved.err
    journal = journal_of(tmp_path)
    gates = journal.gates(journal.find_run("last")["id"])
    assert gates[0]["approved"] == 1 and gates[0]["by_whom"] == "alice" and gates[0]["comment"] == "looks good"


def test_time_window_stops_resumably(tmp_path: Path) -> None:
    plays = [{"hosts": "a", "tasks": [
        {"name": "first", "command": "true"},
        {"name": "too late", "not_after": "2000-01-01T00:00:00", "command": "true"},
    ]}]
    result = _run(tmp_path, plays, hosts=["a"])
    assert result.rc == 1
    assert any("may not start after 2000-01-01" in e.get("text", "") for e in result.events())
    journal = journal_of(tmp_path)
    run = journal.find_run("last")
    assert run["status"] == "stopped"
    assert set(journal.done_nodes(run["id"])) == {"p0/0@a"}


def test_second_run_on_same_estate_is_refused(tmp_path: Path) -> None:
    local_inventory(tmp_path / "inv.yml", ["a"], estate="acme")
    write_yaml(tmp_path / "slow.yml", [{"hosts": "a", "tasks": [{"name": "slow", "command": "sleep 3"}]}])
    first = spawn_cli(["run", "slow.yml", "-i", "inv.yml", "--no-report", "--operator", "bob"], tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / ".cutover" / "locks" / "acme.lock").exists() or \
                not (tmp_path / ".cutover" / "locks" / "acme.lock").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = run_cli(["run", "slow.yml", "-i", "inv.yml", "--no-report"], tmp_path)
        assert second.rc == 3
        assert "locked by run" in second.err and "bob" in second.err
    finally:
        first.wait(timeout=20)
    assert first.returncode == 0


@pytest.mark.parametrize("signal_name", ["SIGINT"])
def test_interrupt_exits_130_and_resume_finishes(tmp_path: Path, signal_name: str) -> None:
    import signal

    local_inventory(tmp_path / "inv.yml", ["a", "b"])
    write_yaml(tmp_path / "pb.yml", [{"hosts": "all", "tasks": [
        {"name": f"t{i}", "command": "sleep 0.3"} for i in range(4)]}])
    proc = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)
    wait_for_done_nodes(tmp_path, 1)
    proc.send_signal(getattr(signal, signal_name))
    proc.wait(timeout=20)
    assert proc.returncode == 130, proc.stderr.read()
    journal = journal_of(tmp_path)
    run = journal.find_run("last")
    assert run["status"] == "interrupted"
    done_before = set(journal.done_nodes(run["id"]))
    assert 0 < len(done_before) < 8
    resumed = run_cli(["resume", run["id"], "--output", "jsonl", "--no-report"], tmp_path)
    assert resumed.rc == 0, resumed.err
    assert set(resumed.statuses()) == {f"p0/{i}@{h}" for i in range(4) for h in "ab"} - done_before


def test_loop_run_once_serial_delegate(tmp_path: Path) -> None:
    log = tmp_path / "log"
    plays = [{"hosts": "all", "serial": 2, "tasks": [
        {"name": "each", "shell": f"echo {{{{ inventory_hostname }}}}-{{{{ item }}}} >> {log}", "loop": [1, 2]},
        {"name": "once", "shell": f"echo once >> {log}", "run_once": True, "register": "once"},
        {"name": "shared", "assert": {"that": ["once.rc == 0"]}},
        {"name": "delegated", "shell": f"echo {{{{ inventory_hostname }}}}-via-localhost >> {log}",
         "delegate_to": "localhost"},
    ]}]
    result = _run(tmp_path, plays)
    assert result.rc == 0, result.err
    lines = log.read_text().split()
    assert sorted(x for x in lines if "-" in x and "via" not in x) == ["a-1", "a-2", "b-1", "b-2", "c-1", "c-2"]
    assert lines.count("once") == 2  # once per serial batch: [a, b] then [c]
    assert sorted(x for x in lines if "via" in x) == ["a-via-localhost", "b-via-localhost", "c-via-localhost"]
    # serial: every step of the first batch ended before the second batch began
    journal = journal_of(tmp_path)
    events = journal.events(journal.find_run("last")["id"])
    last_end_batch1 = max(i for i, e in enumerate(events) if e["node_id"].endswith(("@a", "@b"))
                          and e["status"] != "running")
    first_start_c = min(i for i, e in enumerate(events) if e["node_id"].endswith("@c"))
    assert last_end_batch1 < first_start_c


def test_resume_refuses_changed_playbook_unless_forced(tmp_path: Path) -> None:
    plays = [{"hosts": "a", "tasks": [{"name": "fail", "command": "false"}]}]
    assert _run(tmp_path, plays, hosts=["a"]).rc == 1
    write_yaml(tmp_path / "pb.yml", [{"hosts": "a", "tasks": [{"name": "fixed", "command": "true"}]}])
    refused = run_cli(["resume", "last", "--no-report"], tmp_path)
    assert refused.rc == 3 and "playbook" in refused.err and "changed" in refused.err
    forced = run_cli(["resume", "last", "--force", "--no-report"], tmp_path)
    assert forced.rc == 0, forced.err


def test_stale_lock_is_detected_and_unlocked(tmp_path: Path) -> None:
    import signal

    local_inventory(tmp_path / "inv.yml", ["a"], estate="stale")
    write_yaml(tmp_path / "slow.yml", [{"hosts": "a", "tasks": [{"name": "slow", "command": "sleep 5"}]}])
    proc = spawn_cli(["run", "slow.yml", "-i", "inv.yml", "--no-report"], tmp_path)
    lock = tmp_path / ".cutover" / "locks" / "stale.lock"
    deadline = time.monotonic() + 15
    while not (lock.exists() and lock.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    held = run_cli(["unlock", "stale"], tmp_path)
    assert held.rc == 3 and "live process" in held.err
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    unlocked = run_cli(["unlock", "stale"], tmp_path)
    assert unlocked.rc == 0 and "removed stale lock of run" in unlocked.out
    assert run_cli(["unlock", "stale"], tmp_path).out.startswith("estate 'stale' is not locked")
