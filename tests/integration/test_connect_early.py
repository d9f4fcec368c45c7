"""`HelperConnection.start()`: a connection begun early and finished by `open()` or the first call.

Over the real OpenSSH client against the tests' sshd and over a local helper process: a started
connection answers like one opened at once, starting twice starts one child, and a started
connection that is never used leaves no process behind when it is closed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from engine.connect.local import LocalConnection
from engine.connect.ssh import SSHConnection
from engine.core.model import Host
from tests.support.sshd import SSHD, sshd_server  # noqa: F401 - fixture


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture(params=["ssh", "local"])
def connection(request: pytest.FixtureRequest) -> Iterator[SSHConnection | LocalConnection]:
    if request.param == "ssh":
        server: SSHD = request.getfixturevalue("sshd_server")
        conn: SSHConnection | LocalConnection = SSHConnection(server.ssh_host("h1"))
    else:
        conn = LocalConnection(Host(name="local", address="localhost", connection="local"))
    yield conn
    conn.close()


def test_a_started_connection_answers_once_opened(connection: SSHConnection | LocalConnection) -> None:
    connection.start()
    child = connection.pid
    assert child is not None and connection.helper_pid is None  # started, no hello read yet
    connection.start()
    assert connection.pid == child  # one child, however often it is started

    connection.open()

    assert connection.pid == child and connection.helper_pid is not None
    assert connection.python_executable and os.path.isabs(connection.python_executable)
    answer = connection.call([{"op": "host.facts", "args": {}}])
    assert answer[0]["ok"] is True and answer[0]["value"]["os"] == "posix"


def test_the_first_call_finishes_a_started_connection(connection: SSHConnection | LocalConnection) -> None:
    connection.start()
    child = connection.pid

    answer = connection.call([{"op": "host.facts", "args": {}}])

    assert answer[0]["ok"] is True and connection.pid == child


def test_a_started_connection_never_used_leaves_nothing_behind(
    connection: SSHConnection | LocalConnection,
) -> None:
    connection.start()
    child = connection.pid
    assert child is not None and _alive(child)

    connection.close()

    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child) and connection.pid is None
