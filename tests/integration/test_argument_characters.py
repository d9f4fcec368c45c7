"""A program argument with NUL or a character no encoding carries is named as such, by every layer.

NUL ends a C string, so `execve(2)` would pass a shorter argument than asked; on Windows the
command line `CreateProcessW` receives is a NUL-terminated string too ("lpCommandLine: The
command line to be executed", a null-terminated string:
https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw).
A lone UTF-16 surrogate is no Unicode character: UTF-8 cannot encode it. The controller refuses
both before sending (engine/connect/remote/spec.py); the POSIX helper and the simulated Windows
host refuse them too when a call reaches them directly. The value itself is never echoed (it
may be a secret).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect.local import LocalConnection
from simulation.errors import SimError
from simulation.host import SimHost
from simulation.programs import _argv
from tests.integration import test_posix_primitives
from tests.support.runs import local_inventory, run_cli

#: the POSIX helper under LocalConnection, one per module (the fixture `conn`)
conn = test_posix_primitives.conn


def test_the_controller_names_a_nul_before_sending(conn: LocalConnection) -> None:
    with pytest.raises(PrimitiveFailed) as refused:
        Remote(conn).call("process.run", argv=["echo", "pass", "s3cr\0t"])
    assert refused.value.kind == "invalid"
    assert "argv[2] contains a NUL character (\\0) at position 4: a program argument ends at NUL" in str(refused.value)
    assert "s3cr" not in str(refused.value)


def test_the_controller_names_a_lone_surrogate_and_the_environment(conn: LocalConnection) -> None:
    with pytest.raises(PrimitiveFailed, match=r"argv\[1\] contains U\+D800 at position 1: a lone surrogate"):
        Remote(conn).call("process.run", argv=["echo", "a\ud800"])
    with pytest.raises(PrimitiveFailed, match=r"env 'TOKEN' contains a NUL character \(\\0\) at position 2"):
        Remote(conn).call("process.run", argv=["true"], env={"TOKEN": "ab\0"})


def test_the_posix_helper_names_them_itself(conn: LocalConnection) -> None:
    nul, surrogate, escaped = conn.call([
        {"op": "process.run", "args": {"argv": ["echo", "a\0b"]}},
        {"op": "process.run", "args": {"argv": ["echo", "ok", "\udbff"]}},
        {"op": "process.run", "args": {"argv": ["printf", "%s", "a\udc80"]}},  # a raw byte, surrogateescape
    ])  # fmt: skip
    assert (nul["kind"], nul["error"]) == (
        "invalid", "argv[1] contains a NUL character (\\0) at position 1: a program argument ends at NUL"
    )  # fmt: skip
    assert surrogate["kind"] == "invalid" and surrogate["error"].startswith("argv[2] contains U+DBFF at position 0")
    assert escaped["ok"] and escaped["value"]["rc"] == 0


def test_the_simulated_windows_host_names_a_nul(tmp_path: Path) -> None:
    host = SimHost.open(tmp_path, "w1", {"preset": "sagecrm"})
    with pytest.raises(SimError, match=r"argv\[2\] contains a NUL character \(\\0\) at position 4: a Windows"):
        _argv(["cmd", "/c", "echo\0x"])
    answer = host.call([{"op": "process.run", "args": {"argv": ["cmd", "/c", "echo\0x"]}}])[0]
    assert answer["ok"] is False and answer["kind"] == "invalid"
    assert "argv[2] contains a NUL character" in answer["error"]


def test_a_task_with_a_nul_in_its_argv_fails_naming_it(tmp_path: Path) -> None:
    inventory = local_inventory(tmp_path / "inventory.yml", ["here"])
    playbook = tmp_path / "site.yml"
    playbook.write_text(
        '- hosts: all\n  tasks:\n    - name: echo\n      command:\n        argv: [echo, "a\\0b"]\n', encoding="utf-8"
    )
    ran = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report", "--output", "jsonl"], tmp_path)
    assert ran.rc != 0
    ended = [e for e in ran.events() if e["event"] == "node_ended"]
    assert [e["status"] for e in ended] == ["failed"]
    assert "argv[1] contains a NUL character (\\0) at position 1" in (ended[0].get("error") or ""), ended[0]
