"""The estate lock markers on POSIX hosts: the helper's `lock.*` primitives over the real sshd
fixture (tests/support/sshd.py), and a run on `connection: local` killed and resumed.

Atomicity: the helper writes the holder under a temporary name and hard-links it into place;
link(2) fails with EEXIST when the marker exists ("EEXIST newpath already exists", link(2)), so
of two takes at the same instant from two SSH sessions exactly one wins, and the marker always
holds the winner's complete JSON.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect import connection_for
from tests.support import sshd as sshd_support
from tests.support.runs import journal_of, run_cli, spawn_cli, wait_for_done_nodes, write_yaml
from tests.support.sshd import SSHD

sshd_server = sshd_support.sshd_server  # the session fixture, registered in this module


def holder(run_id: str) -> dict[str, object]:
    return {"run_id": run_id, "operator": "op", "controller": "ctl", "pid": 1,
            "since": "2026-01-01T00:00:00+00:00", "heartbeat": "2026-01-01T00:00:00+00:00"}  # fmt: skip


def test_two_concurrent_takes_over_ssh_exactly_one_wins(sshd_server: SSHD, tmp_path: Path) -> None:
    rounds = 15
    with connection_for(sshd_server.ssh_host("h1")) as one, connection_for(sshd_server.ssh_host("h2")) as two:
        remotes = {"a": Remote(one), "b": Remote(two)}
        barrier = threading.Barrier(2)
        answers: dict[tuple[int, str], dict] = {}

        def take(who: str) -> None:
            for n in range(rounds):
                barrier.wait()
                path = str(tmp_path / "locks" / f"estate-{n}.lock")
                answers[n, who] = remotes[who].call("lock.take", path=path, holder=holder(f"run-{who}"))

        threads = [threading.Thread(target=take, args=(w,)) for w in remotes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for n in range(rounds):
        a, b = answers[n, "a"], answers[n, "b"]
        assert [a["taken"], b["taken"]].count(True) == 1, (a, b)
        winner = "a" if a["taken"] else "b"
        loser = b if winner == "a" else a
        assert loser["holder"]["run_id"] == f"run-{winner}", "the loser is told who holds it"
        on_disk = json.loads((tmp_path / "locks" / f"estate-{n}.lock").read_text())
        assert on_disk == holder(f"run-{winner}")
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == sorted(
        f"estate-{n}.lock" for n in range(rounds)
    )


def test_beat_release_and_inspect_keep_to_the_holders_run(sshd_server: SSHD, tmp_path: Path) -> None:
    path = str(tmp_path / "deep" / "er" / "crm.lock")
    with connection_for(sshd_server.ssh_host("h1")) as conn:
        remote = Remote(conn)
        assert remote.call("lock.inspect", path=path) == {"exists": False, "holder": None}
        assert remote.call("lock.take", path=path, holder=holder("mine"))["again"] is False
        again = remote.call("lock.take", path=path, holder=holder("mine"))  # a resume of the same run
        assert (again["taken"], again["again"]) == (True, True)

        assert remote.call("lock.beat", path=path, run_id="other", heartbeat="x")["beat"] is False
        beat = remote.call("lock.beat", path=path, run_id="mine", heartbeat="2026-02-02T00:00:00+00:00")
        assert beat["beat"] is True
        assert remote.call("lock.inspect", path=path)["holder"]["heartbeat"] == "2026-02-02T00:00:00+00:00"

        with pytest.raises(PrimitiveFailed) as refused:
            remote.call("lock.release", path=path, run_id="other")
        assert refused.value.kind == "exists" and "held by run mine, not other" in str(refused.value)
        assert remote.call("lock.release", path=path, run_id="other", force=True)["changed"] is True
        assert remote.call("lock.beat", path=path, run_id="mine", heartbeat="y") == {
            "beat": False,
            "holder": None,
        }
        assert os.listdir(tmp_path / "deep" / "er") == [], "no temporary file left beside the marker"


def test_a_killed_run_on_a_local_host_leaves_its_marker_and_its_resume_takes_it_again(tmp_path: Path) -> None:
    go = tmp_path / "go"
    write_yaml(tmp_path / "inv.yml", {"estate": "posix-crm", "hosts": {"box": {"connection": "local"}}})
    tasks = [
        {"name": "a file", "file": {"path": str(tmp_path / "made"), "state": "touch"}},
        {
            "name": "wait for go",
            "wait_for": {"path": str(go), "state": "present", "timeout": 120, "sleep": 0.05},
        },
    ]
    write_yaml(tmp_path / "pb.yml", [{"name": "p", "hosts": "all", "tasks": tasks}])
    marker = Path(os.environ["CUTOVER_LOCK_DIR"]) / "posix-crm.lock"

    running = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)
    wait_for_done_nodes(tmp_path, 1)
    run_id = journal_of(tmp_path).runs()[0]["id"]
    held = json.loads(marker.read_text())
    assert (held["run_id"], held["pid"], held["estate"]) == (run_id, running.pid, "posix-crm")
    running.send_signal(signal.SIGKILL)
    running.communicate(timeout=60)
    assert json.loads(marker.read_text())["run_id"] == run_id, "a SIGKILL cannot release it"

    go.write_text("go")
    resumed = run_cli(["resume", run_id], tmp_path)

    assert resumed.rc == 0, resumed.out + resumed.err
    assert not marker.exists(), "released at the end of the resume"


def _waiting_estate(tmp_path: Path, **estate_lock: object) -> tuple[Path, Path]:
    go = tmp_path / "go"
    extra = {"estate_lock": estate_lock} if estate_lock else {}
    write_yaml(
        tmp_path / "inv.yml", {"estate": "posix-crm", "hosts": {"box": {"connection": "local"}}, **extra}
    )
    tasks = [
        {"name": "a file", "file": {"path": str(tmp_path / "made"), "state": "touch"}},
        {
            "name": "wait for go",
            "wait_for": {"path": str(go), "state": "present", "timeout": 120, "sleep": 0.05},
        },
    ]
    write_yaml(tmp_path / "pb.yml", [{"name": "p", "hosts": "all", "tasks": tasks}])
    return go, Path(os.environ["CUTOVER_LOCK_DIR"]) / "posix-crm.lock"


def test_the_heartbeat_refreshes_the_marker_while_the_run_goes(tmp_path: Path) -> None:
    go, marker = _waiting_estate(tmp_path, heartbeat=0.05)
    running = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)
    try:
        wait_for_done_nodes(tmp_path, 1)
        first = json.loads(marker.read_text())
        seen = first
        for _ in range(2000):  # a beat comes every 0.05 s; stop looking as soon as one came
            seen = json.loads(marker.read_text())
            if seen["heartbeat"] != first["heartbeat"]:
                break
            threading.Event().wait(0.01)
        assert seen["heartbeat"] > first["heartbeat"], "the heartbeat moved on"
        assert {k: v for k, v in seen.items() if k != "heartbeat"} == {
            k: v for k, v in first.items() if k != "heartbeat"
        }
    finally:
        go.write_text("go")
        out, err = running.communicate(timeout=120)
    assert running.returncode == 0, out + err
    assert not marker.exists()


def test_a_fresh_run_takes_over_the_marker_of_a_killed_run_of_the_same_state_directory(
    tmp_path: Path,
) -> None:
    go, marker = _waiting_estate(tmp_path)
    running = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)
    wait_for_done_nodes(tmp_path, 1)
    killed = journal_of(tmp_path).runs()[0]["id"]
    running.send_signal(signal.SIGKILL)
    running.communicate(timeout=60)
    go.write_text("go")

    anew = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report", "--start-anew"], tmp_path)

    assert anew.rc == 0, anew.out + anew.err
    notes = journal_of(tmp_path).runs()[0]["notes"]
    assert f"left by run {killed} of this state directory, whose process is gone" in notes
    assert not marker.exists()


def test_a_run_whose_output_is_closed_ends_interrupted_and_releases_its_marker(tmp_path: Path) -> None:
    go, marker = _waiting_estate(tmp_path)
    write_yaml(
        tmp_path / "pb.yml",
        [{"name": "p", "hosts": "all", "tasks": [
            {"name": "a file", "file": {"path": str(tmp_path / "made"), "state": "touch"}},
            {"name": "wait for go", "wait_for": {"path": str(go), "state": "present", "timeout": 120, "sleep": 0.05}},
            {"name": "after", "file": {"path": str(tmp_path / "after"), "state": "touch"}},
        ]}],
    )  # fmt: skip
    running = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)
    wait_for_done_nodes(tmp_path, 1)
    assert marker.exists()
    assert running.stdout is not None
    running.stdout.close()  # `cutover run ... | head`: the reader is gone

    go.write_text("go")
    running.wait(timeout=120)

    # the run ends (interrupted when the closed output is met between steps; console output is written
    # in bursts, so it may be met only at the end): never left running, and its marker released
    assert journal_of(tmp_path).runs()[0]["status"] in ("interrupted", "succeeded")
    assert not marker.exists(), "released although the output was gone"
