"""One connection per host for the whole run, opened on first use and reused by every node.

The pool is the only place the executor (and, through `TaskContext.remote_for`, a module that
must reach another host, even one of another inventory) opens a connection: each is opened once,
under its host's lock, with its settings resolved (templates, vault values) and its password
registered with the run's masker, and all are closed when the run ends. A run may hand it
connections it started while it planned (`StartedConnections`): the pool opens the started one
instead of a new one, and closes those no step used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from engine.connect import connection_for
from engine.connect.base import Connection
from engine.core.errors import ConnectionFailed
from engine.core.model import Host

LOCALHOST = Host(name="localhost", address="localhost", connection="local")


class StartedConnections:
    """Connections begun before the run needs them (`HelperConnection.start()`: the child process
    and the helper's bootstrap under way while the run plans), by host name, for the pool to take.

    A started connection is used only for the very host it was started for: when the pool's host,
    its settings resolved, differs from it, the started one is closed and a new one made.
    """

    def __init__(self) -> None:
        self._conns: dict[str, Connection] = {}
        self._guard = threading.Lock()

    def add(self, name: str, conn: Connection) -> None:
        with self._guard:
            self._conns[name] = conn

    def take(self, name: str, host: Host) -> Connection | None:
        """The connection started for `host` (now the caller's to open and close), else None."""
        with self._guard:
            conn = self._conns.pop(name, None)
        if conn is None or conn.host == host:  # the same host, settings and all
            return conn
        _close(conn)
        return None

    def drain(self) -> list[Connection]:
        """The connections no one took, handed over (to be closed): none is left here."""
        with self._guard:
            conns, self._conns = list(self._conns.values()), {}
        return conns

    def close_all(self) -> None:
        """Release the connections no step took (a started child is stopped and reaped)."""
        _close_together(self.drain())


class HostConnections:
    """Opens connections lazily (in the worker that first needs one) and closes them all at the end."""

    def __init__(self, hosts: dict[str, Host], state_dir: str = ".cutover",
                 resolve: Callable[[Host], Host] | None = None,
                 add_secret: Callable[[str], None] | None = None,
                 started: StartedConnections | None = None):
        self.hosts = hosts
        self.state_dir = state_dir
        #: turns templated or vault-encrypted connection settings into plain values, in memory only
        self.resolve = resolve or (lambda host: host)
        #: told every login password, so no output shows it
        self.add_secret = add_secret or (lambda value: None)
        self._conns: dict[str, Connection] = {}
        #: host -> the authentication failure of its first open, raised again instead of a new try
        self._refused: dict[str, ConnectionFailed] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: connections the run started while it planned, taken by the first `get` of their host
        self.started = started

    def host(self, name: str) -> Host:
        if name in self.hosts:
            return self.hosts[name]
        if name in ("localhost", "127.0.0.1"):
            return LOCALHOST
        raise ConnectionFailed(f"no host {name!r} in the inventory", host=name)

    def get(self, name: str) -> Connection:
        """The connection of a host of the inventory (or localhost), opened on first use."""
        return self._pooled(name, lambda: self.host(name))

    def connection(self, host: Host) -> Connection:
        """The connection of any host: one of this inventory's by its name, another inventory's
        (a live estate a test estate mirrors) by its file and name."""
        if self.hosts.get(host.name) is host:
            return self.get(host.name)
        where = host.location.file if host.location is not None else ""
        return self._pooled(f"{where}#{host.name}", lambda: host)

    def _pooled(self, key: str, which: Callable[[], Host]) -> Connection:
        conn = self._conns.get(key)
        if conn is not None:
            return conn
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            conn = self._conns.get(key)
            if conn is not None:
                return conn
            refused = self._refused.get(key)
            if refused is not None:  # the credentials were refused: another try would only lock the account
                raise refused
            host = self.resolve(which())
            password = host.settings.get("password")
            if isinstance(password, str) and password:
                self.add_secret(password)
            conn = self.started.take(key, host) if self.started is not None else None
            if conn is None:
                conn = connection_for(host, state_dir=self.state_dir)
            try:
                conn.open()
            except ConnectionFailed as failed:
                if failed.kind == "auth":
                    self._refused[key] = failed
                raise
            self._conns[key] = conn
            return conn

    def interrupt_all(self) -> None:
        for conn in list(self._conns.values()):
            try:
                conn.interrupt()
            except Exception:  # noqa: BLE001 - stopping is best effort
                pass

    def close_all(self) -> None:
        """Close every connection at once: a close mostly waits (a helper exits, an SSH session or a
        WinRM shell is torn down), so a hundred hosts take the time of the slowest, not the sum."""
        conns = list(self._conns.values())
        self._conns.clear()
        if self.started is not None:  # started while planning, never used: released with the rest
            conns += self.started.drain()
        _close_together(conns)


def _close_together(conns: list[Connection]) -> None:
    """Close them in parallel (each close mostly waits for a process or a session to end)."""
    if len(conns) <= 1:
        for conn in conns:
            _close(conn)
        return
    with ThreadPoolExecutor(max_workers=min(len(conns), 64), thread_name_prefix="close") as pool:
        pool.map(_close, conns)


def _close(conn: Connection) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass
