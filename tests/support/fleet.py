"""The real parts of a fleet for the tests: a Redis broker, the PostgreSQL journal, Celery workers.

- `redis_broker`: the Debian `redis-server` binary on a free port of 127.0.0.1, no persistence
  (`--save "" --appendonly no`), its files in a temp dir; `restart()` stops it (its messages are
  gone, as with a crashed broker) and starts it again on the same port.
- `fleet_journal_url(postgres_server)`: a fresh database on the session's own PostgreSQL
  (tests/support/dbservers.py) as a `postgresql://` URL for CUTOVER_JOURNAL_URL.
- `Workers`: `python -m engine worker` processes, each in its own session (process group), so
  `kill(name)` can SIGKILL a worker with everything it started, as if its machine died.

Never the machine's own services: every server here is started by the test and dies with it
(PR_SET_PDEATHSIG). With CI=true or CUTOVER_REQUIRE_SERVERS=1 a server that cannot start fails
the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.dbservers import APP_PASSWORD, APP_USER, DbServer, _die_with_parent, free_port

REDIS_SERVER = "/usr/bin/redis-server"
REPO = Path(__file__).resolve().parents[2]


def servers_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("CUTOVER_REQUIRE_SERVERS") == "1"


def unavailable(reason: str) -> None:
    """Skip, or fail where the servers must be there (CI)."""
    if servers_required():
        pytest.fail(f"{reason} (CI=true / CUTOVER_REQUIRE_SERVERS=1: a missing server is a failure)")
    pytest.skip(reason)


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class RedisBroker:
    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the server keeps writing to it
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--protected-mode", "yes", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        wait_until(self.ping, 20, "redis-server to answer")

    def ping(self) -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping())

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def redis_broker() -> Iterator[RedisBroker]:
    if not Path(REDIS_SERVER).exists():
        unavailable(f"{REDIS_SERVER} is not installed (Debian package redis-server)")
    try:
        import celery  # noqa: F401
        import psycopg  # noqa: F401
        import redis  # noqa: F401
    except ImportError as err:
        unavailable(f"the fleet extra is not installed ({err.name}): pip install -e '.[test]'")
    directory = Path(tempfile.mkdtemp(prefix="cutover-redis-"))
    try:
        broker = RedisBroker(directory)
    except AssertionError as err:
        unavailable(f"redis-server did not start: {err}")
    yield broker
    broker.stop()
    shutil.rmtree(directory, ignore_errors=True)


def fleet_journal_url(server: DbServer) -> str:
    """A new empty database of the session's PostgreSQL, as the fleet's journal URL."""
    database = server.create_database()
    return f"postgresql://{APP_USER}:{quote(APP_PASSWORD, safe='')}@127.0.0.1:{server.port}/{database}"


def cli_env(journal_url: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1", **extra)
    if journal_url:
        env["CUTOVER_JOURNAL_URL"] = journal_url
    return env


def cutover(args: list[str], cwd: Path, journal_url: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`cutover ARGS` as a process of its own (an operator's terminal)."""
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=cli_env(journal_url), text=True,
                          capture_output=True, timeout=timeout)


def _own_group() -> None:
    """In a worker's child: a process group of its own, and SIGTERM if the test process dies."""
    os.setsid()
    _die_with_parent()


class Workers:
    """`cutover worker` processes of one test module, each in its own process group."""

    def __init__(self, broker: RedisBroker, journal_url: str, work: Path, tick_seconds: float = 1.0):
        self.broker, self.journal_url, self.work = broker, journal_url, work
        self.tick_seconds = tick_seconds
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, concurrency: int = 1) -> None:
        state = self.work / f"state-{name}"
        state.mkdir(parents=True, exist_ok=True)
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - the worker keeps writing to it
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--broker", self.broker.url, "--journal", self.journal_url,
             "-c", str(concurrency), "-n", f"{name}@test", "--state-dir", str(state),
             "--tick-seconds", str(self.tick_seconds), "--loglevel", "INFO"],
            cwd=self.work, env=cli_env(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=_own_group,
        )
        wait_until(lambda: "ready." in self.log(name), 60, f"worker {name} to be ready")

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL the worker and everything it started (its machine dies)."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


#: the estates' playbook of the campaign tests: each step leaves a line in a log (what really ran)
ESTATE_PLAYBOOK = """\
- name: upgrade
  hosts: all
  tasks:
    - name: stop the service
      command: "sh -c 'echo {{ estate }} stop >> {{ log }}'"
    - name: long upgrade step
      command: "sleep {{ nap }}"
    - name: client sign-off
      gate: {id: signoff, prompt: "the client has tested the upgraded CRM"}
      when: with_gate | default(false)
    - name: fail if asked
      command: "sh -c 'echo upgrade of {{ estate }} broke >&2; exit 4'"
      when: broken | default(false)
    - name: start the service
      command: "sh -c 'echo {{ estate }} start >> {{ log }}'"
"""


def open_window(hours: float = 2.0) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    return {"start": (now - dt.timedelta(hours=1)).isoformat(), "end": (now + dt.timedelta(hours=hours)).isoformat()}


def write_campaign(work: Path, name: str, estates: dict[str, dict[str, Any]], concurrency: int,
                   window: dict[str, str] | None = None, backend: dict[str, Any] | None = None,
                   **top: Any) -> Path:
    """`<name>.campaign.yml` in `work`: local-connection estates whose steps log to `<name>.log`.

    `estates` maps an estate name to its extra vars (`nap`, `with_gate`, `broken`), plus an
    optional `window` of its own.
    """
    (work / "upgrade.yml").write_text(ESTATE_PLAYBOOK)
    entries = []
    for estate, extra in estates.items():
        extra = dict(extra)
        (work / f"{estate}.yml").write_text(
            f"estate: {estate}\ntimezone: Europe/Paris\nhosts:\n  app1: {{connection: local}}\n")
        entry: dict[str, Any] = {"inventory": f"{estate}.yml"}
        if "window" in extra:
            entry["window"] = extra.pop("window")
        entry["run"] = {"extra_vars": {"log": str(work / f"{name}.log"), "nap": 0, **extra}}
        entries.append(entry)
    doc: dict[str, Any] = {"campaign": name, "playbook": "upgrade.yml", "concurrency": concurrency,
                           "operator": "olivia", "window": window or open_window(), **top, "estates": entries}
    if backend:
        doc["backend"] = backend
    path = work / f"{name}.campaign.yml"
    path.write_text(json.dumps(doc, indent=1))  # JSON is YAML
    return path
