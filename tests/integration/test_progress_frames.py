"""Progress frames of a long `process.run`: a program's log tail reaches the step while it runs.

Through the real pywinrm client and the project's WinRM test endpoint (the helper's
`@@CUTOVER-PROGRESS@@` frames, written before the answer as processes.ps1's Send-CutoverProgress
writes them), and through the POSIX helper over a local connection (its `{"progress": ...}`
frames). In both the frames arrive in the order the program wrote its lines, the answer carries
the last line (`progress_last`, the one line a journal keeps), and a Receive that ends with
`w:TimedOut` while the program still runs is polled again on the same helper.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from engine.api.primitives import Remote
from engine.connect.local import LocalConnection
from engine.core.model import Host
from engine.execute.progress import frame_forwarder
from simulation.programs import log_line, register_program, unregister_program
from tests.support.winrm_client import winrm_connect_fixture  # noqa: F401 - fixture
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture

LOG = "C:\\CutoverBackups\\install.log"
LINES = ["copying files (1 of 3)", "registering eWare.dll (2 of 3)", "upgrade complete (3 of 3)"]


@pytest.fixture
def long_installer() -> Any:
    """`longsetup.exe` on the simulated host: writes its log line by line, then still runs a while
    (past the WinRM operation timeout, so a Receive ends with w:TimedOut before the answer)."""

    def run(host: Any, argv: list[str], stdin: bytes) -> tuple[int, str, str]:
        for line in LINES:
            log_line(host, LOG, line)
        time.sleep(2.5)  # still running after its last line: the pace of a real installer's end
        return 0, "done\r\n", ""

    register_program("longsetup.exe", run)
    yield
    unregister_program("longsetup.exe")


def test_winrm_progress_frames_reach_the_step_in_order_and_timedout_receives_are_polled_again(
    winrm_endpoint, connect, long_installer
) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    conn = connect(endpoint, operation_timeout=1, read_timeout=5)
    shown: list[tuple[str, str]] = []
    remote = Remote(conn, progress=frame_forwarder("n1", lambda node, line: shown.append((node, line))))

    answer = remote.call("process.run", argv=["C:\\Install\\longsetup.exe"], progress_log=LOG)

    assert [line for node, line in shown] == LINES and {node for node, _ in shown} == {"n1"}
    assert answer["rc"] == 0 and answer["progress_last"] == LINES[-1]
    assert endpoint.stats["receive_timeout"] >= 1  # still running after the frames: polled again
    assert endpoint.stats["command"] == 1 and endpoint.stats["terminate"] == 0
    assert conn.on_progress is None  # watched only while the step's call ran


def test_winrm_a_call_without_progress_log_sends_no_frames(winrm_endpoint, connect, long_installer) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint, operation_timeout=1, read_timeout=5)
    shown: list[dict[str, Any]] = []

    answer = Remote(conn, progress=shown.append).call("process.run", argv=["C:\\Install\\longsetup.exe"])

    assert shown == [] and "progress_last" not in answer and answer["stdout"] == "done\r\n"


PROGRAM = textwrap.dedent(
    """\
    import os, sys, time
    log, gate = sys.argv[1], sys.argv[2]
    for n, line in enumerate(["unpacking", "copying files", "done"]):
        with open(log, "a", encoding="utf-16") as fh:  # UTF-16 with its BOM, as installers write
            fh.write(line + "\\r\\n")
        while n < 2 and not os.path.exists(gate + str(n)):  # the test saw this line: write the next
            time.sleep(0.05)
    """
)


def test_posix_helper_sends_the_log_tail_as_progress_while_the_program_runs(tmp_path: Path) -> None:
    program, log, gate = tmp_path / "setup.py", tmp_path / "setup.log", tmp_path / "seen"
    program.write_text(PROGRAM)
    conn = LocalConnection(Host(name="local1", address="localhost", connection="local"))
    conn.open()
    seen: list[dict[str, Any]] = []

    def watch(values: dict[str, Any]) -> None:
        seen.append(values)
        (tmp_path / f"seen{len(seen) - 1}").touch()  # lets the program write its next line

    try:
        answer = Remote(conn, timeout=120, progress=watch).call(
            "process.run", argv=[sys.executable, str(program), str(log), str(gate)], progress_log=str(log)
        )
    finally:
        conn.close()

    assert [v["line"] for v in seen] == ["unpacking", "copying files"]
    assert {v["op"] for v in seen} == {"process.run"}
    assert answer["rc"] == 0 and answer["progress_last"] == "done"
