"""Files on Windows hosts as they really are: shares the session may not open, large files, programs
left running by a stopped step.

- Access denied on a UNC path: `Get-Item -ErrorAction SilentlyContinue` answers nothing for a path
  Windows refuses, so file.stat said "absent". Over WinRM a share is often refused because the
  logon's credentials do not travel on to the file server (the second hop: "Making the second
  hop in PowerShell Remoting", https://learn.microsoft.com/powershell/scripting/security/remoting/
  ps-remoting-second-hop); the primitives now answer `denied` and name it.
- Large files: file.read on Windows answers at most 32 MiB per call (a shell may be capped at
  MaxMemoryPerShellMB) and reads from an offset; file.write appends pieces; file.move overwrite
  swaps a finished file in. `modules.windows._transfer` moves a file between hosts that way.
- A step stopped while a program runs: the TaskTimeout names what was running (never its
  arguments, which may hold secrets), and the helper's job object ends the programs it started.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.api.primitives import Remote
from engine.connect.sim import SimConnection
from engine.connect.winrm import WinRMConnection
from engine.core.errors import TaskTimeout
from engine.core.model import Host
from modules.windows._transfer import PIECE, copy_between, read_pieces
from tests.support.modharness import run_module
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture

SHARE = "\\\\fs1\\crm"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[SimConnection]:
    initial = {"disks": {"C": {"total": 1 << 34, "free": 1 << 33}, SHARE: {"access": "denied"}}}
    connection = SimConnection(Host("web1", "web1", "sim", settings={"sim": {"initial": initial}}),
                               state_dir=str(tmp_path / "state"))  # fmt: skip
    connection.open()
    yield connection
    connection.close()


def answer(conn: SimConnection, op: str, **args: object) -> dict:
    [value] = conn.call([{"op": op, "args": args}])
    return value


# --- shares ------------------------------------------------------------------------------------


def test_a_share_the_session_may_not_open_is_denied_not_absent(conn) -> None:
    stat = answer(conn, "file.stat", path=f"{SHARE}\\Library\\doc.pdf")
    free = answer(conn, "disk.free", path=SHARE)

    assert stat["ok"] is False and stat["kind"] == "denied"
    assert stat["error"].startswith(f"Access to the path '{SHARE}\\Library\\doc.pdf' is denied.")
    assert "the second hop" in stat["error"] and "credssp" in stat["error"]
    assert free["ok"] is False and free["kind"] == "denied"


def test_win_stat_of_a_denied_share_fails_with_the_reason(conn) -> None:
    result = run_module("win_stat", {"path": f"{SHARE}\\Library"}, connection=conn)

    assert result.failed
    assert "is denied" in result.msg and "second hop" in result.msg


# --- large files ---------------------------------------------------------------------------------


def test_file_read_reads_from_an_offset(conn) -> None:
    data = os.urandom(3000)
    conn.sim.write_bytes("C:\\data.bin", data)

    middle = answer(conn, "file.read", path="C:\\data.bin", offset=1000, max_bytes=1500)["value"]
    tail = answer(conn, "file.read", path="C:\\data.bin", offset=2500, max_bytes=1500)["value"]

    assert base64.b64decode(middle["content_b64"]) == data[1000:2500] and middle["truncated"] is True
    assert base64.b64decode(tail["content_b64"]) == data[2500:] and tail["truncated"] is False
    assert middle["size"] == tail["size"] == 3000


def test_one_file_read_never_answers_more_than_32_mib(conn) -> None:
    conn.sim.write_bytes("C:\\big.bin", b"\0" * ((32 << 20) + 1))

    whole = answer(conn, "file.read", path="C:\\big.bin")
    piece = answer(conn, "file.read", path="C:\\big.bin", max_bytes=PIECE)

    assert whole["ok"] is False and whole["kind"] == "invalid"
    assert "read it in pieces with offset and max_bytes" in whole["error"]
    assert piece["ok"] is True and piece["value"]["truncated"] is True


def test_file_write_appends_and_file_move_overwrite_swaps_a_file_in(conn) -> None:
    conn.sim.write_bytes("C:\\target.bin", b"old")
    first = answer(conn, "file.write", path="C:\\part.tmp", content_b64=base64.b64encode(b"ab").decode())
    second = answer(conn, "file.write", path="C:\\part.tmp", content_b64=base64.b64encode(b"cd").decode(),
                    append=True)  # fmt: skip
    refused = answer(conn, "file.move", src="C:\\part.tmp", dest="C:\\target.bin")
    moved = answer(conn, "file.move", src="C:\\part.tmp", dest="C:\\target.bin", overwrite=True)

    assert first["ok"] and second["value"] == {"changed": True, "size": 4}
    assert refused["kind"] == "exists"
    assert moved["value"] == {"changed": True}
    assert conn.sim.read_bytes("C:\\target.bin") == b"abcd" and not conn.sim.exists("C:\\part.tmp")


def test_a_file_moves_between_hosts_over_winrm_in_pieces(winrm_endpoint) -> None:
    live = winrm_endpoint("live1", auth="ntlm", state_dir=None)
    test = winrm_endpoint("test1", auth="ntlm", state_dir=None)
    data = os.urandom(2 * PIECE + 12345)
    live.sim.write_bytes("C:\\Backup\\crm.zip", data)
    test.sim.write_bytes("C:\\Backup\\crm.zip", b"an older zip")
    source, target = WinRMConnection(live.host()), WinRMConnection(test.host())
    source.open()
    target.open()
    try:
        sha = copy_between(Remote(source), "C:\\Backup\\crm.zip", Remote(target), "C:\\Backup\\crm.zip",
                           hashlib.sha256(data).hexdigest())  # fmt: skip
        pieces = [len(p) for p in read_pieces(Remote(target), "C:\\Backup\\crm.zip")]
    finally:
        source.close()
        target.close()

    assert sha == hashlib.sha256(data).hexdigest()
    assert test.sim.read_bytes("C:\\Backup\\crm.zip") == data
    assert pieces == [PIECE, PIECE, 12345]
    # no batch carried more than one piece (base64: 4/3 of it, plus the call around it)
    assert max(live.stats["largest_batch"], test.stats["largest_batch"]) < PIECE * 4 // 3 + 4096
    assert not [p for p in test.sim.snapshot()["files"] if p.endswith(".part")]


def test_a_copy_with_the_wrong_sha256_leaves_the_target_as_it_was(winrm_endpoint) -> None:
    live = winrm_endpoint("live1", auth="basic", state_dir=None)
    test = winrm_endpoint("test1", auth="basic", state_dir=None)
    live.sim.write_bytes("C:\\a.zip", b"changed since it was verified")
    test.sim.write_bytes("C:\\a.zip", b"kept")
    source, target = WinRMConnection(live.host()), WinRMConnection(test.host())
    source.open()
    target.open()
    try:
        with pytest.raises(Exception) as caught:
            copy_between(Remote(source), "C:\\a.zip", Remote(target), "C:\\a.zip", "0" * 64)
    finally:
        source.close()
        target.close()

    assert "expected " + "0" * 64 in str(caught.value)
    assert test.sim.read_bytes("C:\\a.zip") == b"kept"
    assert not [p for p in test.sim.snapshot()["files"] if p.endswith(".part")]


# --- what a stopped step was running --------------------------------------------------------------


def test_a_stopped_step_names_the_program_it_was_running_but_not_its_arguments(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    endpoint.sim.add_fault({"op": "process.run", "latency": 60, "mode": "once"})
    conn = WinRMConnection(endpoint.host())
    conn.open()
    try:
        with pytest.raises(TaskTimeout) as caught:
            Remote(conn, timeout=1).call(
                "process.run", argv=["C:\\Install\\SageCRM73\\setup.exe", "/s", "/f1C:\\Install\\secret.iss"]
            )
    finally:
        conn.close()

    message = str(caught.value)
    assert "the remote PowerShell helper and the programs it started were stopped" in message
    assert "(it was running process.run C:\\Install\\SageCRM73\\setup.exe)" in message
    assert "secret.iss" not in message
    assert endpoint.stats["terminate"] == 1
