"""`HelperConnection.start()`: a connection begun early and finished by `open()` or the first call.

Over the real OpenSSH client against the tests' sshd and over a local helper process: a started
connection answers like one opened at once, starting twice starts one child, and a started
connection that is never used leaves no process behind when it is closed. And a real run starts
every host's connection once the inventory is read, before the playbook is loaded (its estate
markers go on every host), a check run those its plays name before it has made its plan; the run
uses the child it started and leaves none behind however it ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.connect.helper_channel import HelperConnection
from engine.connect.local import LocalConnection
from engine.connect.ssh import SSHConnection
from engine.core.errors import RefusedError
from engine.core.model import Host
from engine.execute.lock import EstateLock
from engine.load import playbook as playbook_loader
from engine.pipeline import flows
from engine.pipeline.stages import RunSettings, Sources
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


# --- a run connects while it plans (engine/pipeline/flows.py `plan_connecting`) ------------------

ESTATE = "estate: early\ndefaults: {connection: local}\nhosts:\n  used: {}\n  unused: {}\n"
PLAYBOOK = '- hosts: used\n  tasks:\n    - name: t\n      command: "true"\n'


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int | None]]:
    """The run's real connection and planning functions, each noting (what, host, child pid) as it
    is called, in order: a record of what happened when, not a replacement of any of them."""
    events: list[tuple[str, str, int | None]] = []
    start, open_, make_plan = HelperConnection.start, HelperConnection.open, flows.make_plan
    load_playbook = playbook_loader.load_playbook

    def noting_start(self: HelperConnection) -> None:
        start(self)
        events.append(("start", self.host.name, self.pid))

    def noting_open(self: HelperConnection) -> None:
        events.append(("open", self.host.name, self.pid))
        open_(self)

    def noting_plan(loaded: Any) -> Any:
        planned = make_plan(loaded)
        events.append(("planned", "", None))
        return planned

    def noting_playbook(*args: Any, **kwargs: Any) -> Any:
        events.append(("playbook", "", None))
        return load_playbook(*args, **kwargs)

    monkeypatch.setattr(HelperConnection, "start", noting_start)
    monkeypatch.setattr(HelperConnection, "open", noting_open)
    monkeypatch.setattr(flows, "make_plan", noting_plan)
    monkeypatch.setattr(playbook_loader, "load_playbook", noting_playbook)
    (tmp_path / "inventory.yml").write_text(ESTATE)
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    return events


def _sources(folder: Path) -> Sources:
    return Sources(str(folder / "playbook.yml"), str(folder / "inventory.yml"))


def test_a_check_run_starts_the_connection_of_the_host_it_uses_before_its_plan_is_made(
    tmp_path: Path, recorded: list[tuple[str, str, int | None]]
) -> None:
    settings = RunSettings(state_dir=str(tmp_path / "state"), write_report=False, check_mode=True)

    summary = flows.run(_sources(tmp_path), settings)

    assert summary.status == "succeeded"
    assert [what for what, _host, _pid in recorded[:3]] == ["playbook", "start", "planned"]
    child = recorded[1][2]
    assert [(what, host) for what, host, _pid in recorded if what == "start"] == [("start", "used")]
    assert {(host, pid) for what, host, pid in recorded if what == "open"} == {("used", child)}  # that child
    assert child is not None and not _alive(child)  # released at the end


def test_a_run_starts_every_host_it_takes_the_estate_marker_on_before_its_plan_is_made(
    tmp_path: Path, recorded: list[tuple[str, str, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUTOVER_LOCK_DIR", str(tmp_path / "locks"))

    summary = flows.run(
        _sources(tmp_path), RunSettings(state_dir=str(tmp_path / "state"), write_report=False)
    )

    assert summary.status == "succeeded"
    assert [(what, host) for what, host, _pid in recorded[:4]] == [
        ("start", "used"),
        ("start", "unused"),  # the markers go on every host: all start once the inventory is read
        ("playbook", ""),
        ("planned", ""),
    ]
    started = {host: pid for what, host, pid in recorded if what == "start"}
    assert {(host, pid) for what, host, pid in recorded if what == "open"} == set(started.items())
    assert not list((tmp_path / "locks").iterdir())  # the markers were taken and released
    assert not any(_alive(pid) for pid in started.values() if pid is not None)


def test_a_started_connection_the_run_never_uses_is_closed_when_the_run_is_refused(
    tmp_path: Path, recorded: list[tuple[str, str, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("CUTOVER_LOCK_DIR", str(tmp_path / "locks"))
    holder = EstateLock(state, "early")
    holder.acquire("20261204-000000-abcdef", "someone else")
    try:
        with pytest.raises(RefusedError):
            flows.run(_sources(tmp_path), RunSettings(state_dir=str(state), write_report=False))
    finally:
        holder.release()

    assert [what for what, _host, _pid in recorded] == [
        "start",
        "start",
        "playbook",
        "planned",
    ]  # never opened
    children = [pid for what, _host, pid in recorded if what == "start"]
    assert None not in children and not any(_alive(pid) for pid in children if pid is not None)


def test_an_ssh_run_uses_the_connections_it_started_before_its_plan_was_made(
    tmp_path: Path, recorded: list[tuple[str, str, int | None]], request: pytest.FixtureRequest
) -> None:
    # hosts with an `ssh:` section of plain values (the usual inventory) start early too
    server: SSHD = request.getfixturevalue("sshd_server")
    (tmp_path / "inventory.yml").write_text(
        "estate: early\ndefaults:\n  connection: ssh\n"
        f"  ssh: {{config_file: '{server.config_path}'}}\n"
        "hosts:\n  used: {address: h1}\n  unused: {address: h2}\n"
    )

    summary = flows.run(
        _sources(tmp_path), RunSettings(state_dir=str(tmp_path / "state"), write_report=False)
    )

    assert summary.status == "succeeded"
    assert [(what, host) for what, host, _pid in recorded[:4]] == [
        ("start", "used"),
        ("start", "unused"),
        ("playbook", ""),
        ("planned", ""),
    ]
    started = {host: pid for what, host, pid in recorded if what == "start"}
    assert {(host, pid) for what, host, pid in recorded if what == "open"} == set(started.items())
