"""SSHConnection against a real sshd on 127.0.0.1 (tests/support/sshd.py), real keys, real ssh client.

The primitives themselves are covered through LocalConnection (same helper); here: the
transport, several hosts at once, failures with ssh's own reasons, timeouts and drops.
"""

from __future__ import annotations

import base64
import os
import signal
import threading
from pathlib import Path

import pytest

from engine.api.primitives import Remote
from engine.connect import connection_for
from engine.connect.ssh import SSHConnection, SSHSettings
from engine.core.errors import ConnectionFailed, TaskTimeout, UserError
from engine.core.model import Host
from tests.support import sshd as sshd_support
from tests.support.posix_checks import NASTY, gone, wait_for_file
from tests.support.sshd import SSHD, free_port

sshd_server = sshd_support.sshd_server  # the session fixture, registered in this module

FACTS = {"op": "host.facts", "args": {}}


def _sleeper(pidfile: Path) -> dict:
    script = f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60"
    return {"op": "process.run", "args": {"argv": ["sh", "-c", script]}}


def _smoke(server: SSHD, alias: str, workdir: Path) -> dict:
    """A little of everything on one host; returns what the checks need."""
    with connection_for(server.ssh_host(alias)) as conn:
        remote = Remote(conn)
        facts = remote.call("host.facts")
        folder = workdir / alias / "tree"
        remote.call("file.mkdir", path=str(folder))
        for i, name in enumerate(NASTY):
            remote.call("file.write", path=str(folder / f"{i}-{name.replace('/', '_')}"), content_b64="eA==")
        echoed = remote.call("process.run", argv=["printf", "%s\\0", *NASTY])["stdout"]
        archive = str(workdir / alias / "tree.tar.gz")
        remote.call("archive.create", src=str(folder), dest=archive)
        remote.call("archive.extract", src=archive, dest=str(workdir / alias / "copy"))
        same = remote.call("file.tree_hash", path=str(folder)) == remote.call(
            "file.tree_hash", path=str(workdir / alias / "copy")
        )
        return {"facts": facts, "echoed": echoed.split("\0")[:-1], "same": same, "label": conn.label}


def test_several_hosts_at_once_in_threads(sshd_server: SSHD, tmp_path: Path) -> None:
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(alias: str) -> None:
        try:
            results[alias] = _smoke(sshd_server, alias, tmp_path)
        except BaseException as exc:  # reported below with the alias
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(alias,)) for alias in sshd_server.aliases[:4]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == sshd_server.aliases[:4]
    for result in results.values():
        assert result["facts"]["os"] == "posix" and result["facts"]["user"] == sshd_server.user
        assert result["echoed"] == NASTY
        assert result["same"] is True and result["label"] == "ssh"


def test_session_home_is_the_empty_directory(sshd_server: SSHD) -> None:
    with SSHConnection(sshd_server.ssh_host("h2")) as conn:
        answer = conn.call([{"op": "process.run", "args": {"argv": ["sh", "-c", 'echo "$HOME"']}}])[0]
    assert answer["value"]["stdout"].strip() == str(sshd_server.home)


def test_batch_of_three_in_one_round_trip_with_a_failure_in_the_middle(
    sshd_server: SSHD, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("data")
    with SSHConnection(sshd_server.ssh_host("h1")) as conn:
        answers = conn.call(
            [
                {"op": "file.read", "args": {"path": str(tmp_path / "f")}},
                {"op": "file.read", "args": {"path": str(tmp_path / "missing")}},
                {"op": "process.run", "args": {"argv": ["echo", "third"]}},
            ]
        )
    assert [a["ok"] for a in answers] == [True, False, True]
    assert base64.b64decode(answers[0]["value"]["content_b64"]) == b"data"
    assert answers[1]["kind"] == "not_found"
    assert answers[2]["value"]["stdout"] == "third\n"


def test_timeout_kills_the_remote_command_and_the_next_call_reconnects(
    sshd_server: SSHD, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    with SSHConnection(sshd_server.ssh_host("h3")) as conn:
        with pytest.raises(TaskTimeout) as info:
            conn.call([_sleeper(pidfile)], timeout=1.5)
        assert info.value.kind == "timeout" and info.value.host == "h3"
        assert gone(int(wait_for_file(pidfile))), "the remote command outlived the timeout"
        assert conn.call([FACTS])[0]["ok"] is True


@pytest.mark.parametrize("victim", ["ssh client", "remote helper"])
def test_dropped_connection_is_connection_failed_then_recovers(
    sshd_server: SSHD, tmp_path: Path, victim: str
) -> None:
    pidfile = tmp_path / "pid"
    with SSHConnection(sshd_server.ssh_host("h4")) as conn:
        conn.call([FACTS])
        target = conn.pid if victim == "ssh client" else conn.helper_pid
        assert target is not None
        killer = threading.Thread(target=lambda: (wait_for_file(pidfile), os.kill(target, signal.SIGKILL)))
        killer.start()
        with pytest.raises(ConnectionFailed, match="connection dropped") as info:
            conn.call([_sleeper(pidfile)])
        killer.join()
        assert info.value.kind == "connection"
        if victim == "ssh client":  # the helper saw its stdin close and killed its command
            assert gone(int(wait_for_file(pidfile)))
        else:
            os.kill(int(wait_for_file(pidfile)), signal.SIGKILL)
        assert conn.call([FACTS])[0]["ok"] is True


def test_wrong_key_is_permission_denied(sshd_server: SSHD) -> None:
    host = sshd_server.direct_host(
        key_file=str(sshd_server.wrong_key), known_hosts_file=str(sshd_server.known_hosts)
    )
    with pytest.raises(ConnectionFailed, match="Permission denied") as info:
        SSHConnection(host).open()
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)


def test_unknown_host_key_is_refused_in_strict_mode(sshd_server: SSHD, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = sshd_server.direct_host(key_file=str(sshd_server.client_key), known_hosts_file=str(empty))
    with pytest.raises(ConnectionFailed, match="Host key verification failed"):
        SSHConnection(host).open()
    assert empty.read_text() == ""


def test_accept_new_learns_the_key_and_off_ignores_it(sshd_server: SSHD, tmp_path: Path) -> None:
    learned = tmp_path / "known_hosts"
    learned.write_text("")
    host = sshd_server.direct_host(
        key_file=str(sshd_server.client_key), known_hosts_file=str(learned), host_key_checking="accept-new"
    )
    with SSHConnection(host) as conn:
        assert conn.call([FACTS])[0]["ok"] is True
    assert sshd_server.host_key.with_suffix(".pub").read_text().split()[1] in learned.read_text()
    off = sshd_server.direct_host(key_file=str(sshd_server.client_key), host_key_checking="off")
    with SSHConnection(off) as conn:
        assert conn.call([FACTS])[0]["ok"] is True


def test_connection_refused_and_missing_python_say_why(sshd_server: SSHD) -> None:
    closed = Host(
        name="closed",
        address="127.0.0.1",
        connection="ssh",
        settings={"port": free_port(), "ssh": {"config_file": "none", "connect_timeout": 5}},
    )
    with pytest.raises(ConnectionFailed, match="Connection refused"):
        SSHConnection(closed).open()
    with pytest.raises(ConnectionFailed, match="ssh.python"):
        SSHConnection(sshd_server.ssh_host("h1", python="/no/such/python3")).open()


def test_login_script_noise_before_the_helper_is_skipped(sshd_server: SSHD) -> None:
    bashrc = sshd_server.home / ".bashrc"
    bashrc.write_text("echo 'Welcome! 42'\n")
    try:
        with SSHConnection(sshd_server.ssh_host("h5")) as conn:
            assert conn.call([FACTS])[0]["ok"] is True
    finally:
        bashrc.unlink()


def test_settings_mistakes_are_user_errors(sshd_server: SSHD) -> None:
    with pytest.raises(UserError, match="password authentication is not supported"):
        SSHConnection(Host(name="p", address="x", connection="ssh", settings={"password": "s3cret"}))
    with pytest.raises(UserError) as info:
        SSHConnection(sshd_server.ssh_host("h1", key_fle="/k"))
    assert "did you mean 'key_file'" in str(info.value) and "s3cret" not in str(info.value)
    with pytest.raises(UserError, match="host_key_checking"):
        SSHConnection(sshd_server.ssh_host("h1", host_key_checking="sometimes"))
    with pytest.raises(UserError, match="options"):
        SSHConnection(sshd_server.ssh_host("h1", options="Compression=yes"))


def test_engine_defaults_come_before_operator_options() -> None:
    host = Host(
        name="x",
        address="db1.example",
        connection="ssh",
        settings={"port": 2222, "user": "ops", "ssh": {"options": ["BatchMode=no"], "key_file": "/k"}},
    )
    argv = SSHSettings.from_host(host).argv()
    assert argv.index("BatchMode=yes") < argv.index("BatchMode=no")
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[-2:-1] == ["db1.example"] and argv[-3] == "--"
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "ops"
