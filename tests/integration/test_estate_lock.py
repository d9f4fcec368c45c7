"""One run per estate, wherever it is started from (issue 18, item 1).

Two operators with two clones of the estate's repository are two state directories: the local
flock of `.cutover/locks/` cannot see the other one. The lock that can is the marker each run takes
on every host of the estate (engine/execute/estate_markers.py). Here two state directories drive
the same simulated estate (the hosts' `sim: state_dir` is shared, as real servers are): the second
run is refused with exit 3 naming the holder, and runs once the first has ended; a marker a killed
run left is reported stale and removed by `cutover unlock --estate`, which the journal records.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from simulation.host import SimHost
from tests.support.runs import journal_of, run_cli, spawn_cli, wait_for_done_nodes, write_yaml

GO = "C:\\cutover-test\\go.txt"


def clone(tmp_path: Path, name: str, shared: Path, **estate_lock: Any) -> Path:
    """One operator's checkout: the estate's inventory and playbook, its own state directory."""
    folder = tmp_path / name
    hosts = {h: {"connection": "sim", "sim": {"state_dir": str(shared)}} for h in ("web1", "web2")}
    extra = {"estate_lock": estate_lock} if estate_lock else {}
    write_yaml(folder / "inv.yml", {"estate": "crm", "hosts": hosts, **extra})
    tasks = [
        {"name": "a folder", "win_file": {"path": "C:\\cutover-test", "state": "directory"}},
        {"name": "wait for go", "wait_for": {"path": GO, "state": "present", "timeout": 120, "sleep": 0.05}},
    ]
    write_yaml(folder / "pb.yml", [{"name": "p", "hosts": "all", "tasks": tasks}])
    return folder


def markers(shared: Path) -> dict[str, Any]:
    """The lock markers of each simulated host: what `lock.inspect` answers on it."""
    found = {}
    for name in ("web1", "web2"):
        host = SimHost.open(shared, name)
        [answer] = host.call(
            [{"op": "lock.inspect", "args": {"path": "C:\\ProgramData\\cutover\\locks\\crm.lock"}}]
        )
        found[name] = answer["value"]["holder"]
    return found


def go(shared: Path) -> None:
    for name in ("web1", "web2"):
        SimHost.open(shared, name).write_bytes(GO, b"go")


def test_a_second_state_directory_is_refused_while_the_first_runs_and_runs_after(tmp_path: Path) -> None:
    shared = tmp_path / "estate"
    first, second = clone(tmp_path, "alice", shared), clone(tmp_path, "bob", shared)
    running = spawn_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report", "--operator", "alice"], first)
    try:
        wait_for_done_nodes(first, 2)  # both folders made: the run is waiting, markers held
        holder = journal_of(first).runs()[0]

        refused = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report", "--operator", "bob"], second)

        assert refused.rc == 3, refused.out + refused.err
        said = refused.out + refused.err
        assert f"run {holder['id']} by alice on {socket.gethostname()}" in said
        assert f"since {holder['started'][:16]}" in said and "last heartbeat " in said
        assert "held on web1 (C:\\ProgramData\\cutover\\locks\\crm.lock)" in said
        assert "looks stale" not in said
        assert journal_of(second).runs() == [], "a refused run journals nothing"
        assert {h["run_id"] for h in markers(shared).values()} == {holder["id"]}
        assert {h["operator"] for h in markers(shared).values()} == {"alice"}
    finally:
        go(shared)
        out, err = running.communicate(timeout=120)
    assert running.returncode == 0, out + err
    assert markers(shared) == {"web1": None, "web2": None}, "released at the end"

    again = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report", "--operator", "bob"], second)

    assert again.rc == 0, again.out + again.err
    assert journal_of(second).runs()[0]["status"] == "succeeded"


def _killed_run_marker(shared: Path) -> dict[str, Any]:
    """What a run SIGKILLed on another controller leaves on both hosts: its marker, an old heartbeat."""
    holder = {
        "run_id": "20260101-000000-dead00", "operator": "carol", "controller": "ctl-gone", "pid": 4242,
        "since": "2026-01-01T00:00:00.000+00:00", "heartbeat": "2026-01-01T00:05:00.000+00:00", "estate": "crm",
    }  # fmt: skip
    for name in ("web1", "web2"):
        host = SimHost.open(shared, name)
        [answer] = host.call([{"op": "lock.take", "args": {"path": "C:\\ProgramData\\cutover\\locks\\crm.lock",
                                                             "holder": holder}}])  # fmt: skip
        assert answer["value"]["taken"] is True
    return holder


def test_a_killed_runs_marker_is_reported_stale_and_unlock_estate_removes_it_recorded(tmp_path: Path) -> None:
    shared = tmp_path / "estate"
    second = clone(tmp_path, "bob", shared)
    dead = _killed_run_marker(shared)
    go(shared)

    refused = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], second)

    said = refused.out + refused.err
    assert refused.rc == 3, said
    assert "run 20260101-000000-dead00 by carol on ctl-gone (pid 4242) since 2026-01-01T00:00:00" in said
    assert "last heartbeat 2026-01-01T00:05:00" in said
    assert "it looks stale" in said and "over the 900 s limit" in said
    assert "clear it with: cutover unlock --estate -i inv.yml" in said

    unlocked = run_cli(["unlock", "--estate", "-i", "inv.yml", "--operator", "bob"], second)

    assert unlocked.rc == 0, unlocked.out + unlocked.err
    assert markers(shared) == {"web1": None, "web2": None}
    [record] = journal_of(second).runs()
    assert (record["kind"], record["operator"], record["estate"], record["status"]) == (
        "unlock", "bob", "crm", "succeeded",
    )  # fmt: skip
    notes = json.loads(record["notes"])
    assert any(n.startswith(f"removed the estate lock marker of run {dead['run_id']} by carol") and "on web1" in n
               for n in notes), notes  # fmt: skip
    listed = run_cli(["runs"], second)
    assert record["id"] in listed.out and "unlock" in listed.out
    shown = run_cli(["show", record["id"]], second)
    assert "removed the estate lock marker of run 20260101-000000-dead00" in shown.out, shown.out

    ran = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], second)
    assert ran.rc == 0, ran.out + ran.err


def test_unlock_estate_refuses_a_fresh_holder_unless_forced(tmp_path: Path) -> None:
    shared = tmp_path / "estate"
    second = clone(tmp_path, "bob", shared, stale_after=10_000_000_000)  # every heartbeat is fresh
    dead = _killed_run_marker(shared)

    refused = run_cli(["unlock", "--estate", "-i", "inv.yml"], second)

    assert refused.rc == 3, refused.out + refused.err
    assert "held by a live run" in refused.err and dead["run_id"] in refused.err
    assert {h["run_id"] for h in markers(shared).values()} == {dead["run_id"]}
    assert journal_of(second).runs() == []

    forced = run_cli(["unlock", "--estate", "-i", "inv.yml", "--force"], second)

    assert forced.rc == 0, forced.out + forced.err
    assert markers(shared) == {"web1": None, "web2": None}
    assert "forced (--force): the holder's heartbeat was fresh" in json.loads(
        journal_of(second).runs()[0]["notes"]
    )


def test_all_or_nothing_a_host_held_by_another_run_releases_the_markers_already_taken(tmp_path: Path) -> None:
    shared = tmp_path / "estate"
    second = clone(tmp_path, "bob", shared)
    host = SimHost.open(shared, "web2")
    other = {"run_id": "other-run", "operator": "dan", "controller": "ctl2", "pid": 1,
             "since": "2026-01-01T00:00:00+00:00", "heartbeat": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    host.call(
        [{"op": "lock.take", "args": {"path": "C:\\ProgramData\\cutover\\locks\\crm.lock", "holder": other}}]
    )

    refused = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], second)

    assert refused.rc == 3
    assert "held on web2" in refused.err and "held on web1" not in refused.err
    assert markers(shared) == {"web1": None, "web2": other}, "web1's marker, taken first, was released"


def test_check_mode_and_plan_take_no_marker(tmp_path: Path) -> None:
    shared = tmp_path / "estate"
    second = clone(tmp_path, "bob", shared)
    dead = _killed_run_marker(shared)

    checked = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report", "--check"], second)
    planned = run_cli(["plan", "pb.yml", "-i", "inv.yml"], second)

    assert checked.rc == 0, checked.out + checked.err
    assert planned.rc == 0, planned.out + planned.err
    assert {h["run_id"] for h in markers(shared).values()} == {dead["run_id"]}, "nothing written on the hosts"


def test_the_marker_path_is_set_in_the_inventory(tmp_path: Path) -> None:
    shared = tmp_path / "estate"
    second = clone(tmp_path, "bob", shared, windows_path="C:\\locks\\crm-estate.lock")
    holder = {"run_id": "other-run", "operator": "dan", "controller": "ctl2", "pid": 1,
              "since": "2026-01-01T00:00:00+00:00", "heartbeat": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    SimHost.open(shared, "web1").call([{"op": "lock.take", "args": {"path": "C:\\locks\\crm-estate.lock",
                                                                    "holder": holder}}])  # fmt: skip

    refused = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], second)

    assert refused.rc == 3
    assert "held on web1 (C:\\locks\\crm-estate.lock) by run other-run by dan on ctl2" in refused.err
