"""One connection per host for the whole run, opened on first use and reused by every node."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.connect import connection_for
from engine.connect.base import Connection
from engine.core.errors import ConnectionFailed
from engine.core.model import Host

LOCALHOST = Host(name="localhost", address="localhost", connection="local")


class HostConnections:
    """Opens connections lazily (in the worker that first needs one) and closes them all at the end."""

    def __init__(self, hosts: dict[str, Host], state_dir: str = ".cutover",
                 resolve: Callable[[Host], Host] | None = None):
        self.hosts = hosts
        self.state_dir = state_dir
        #: turns templated or vault-encrypted connection settings into plain values, in memory only
        self.resolve = resolve or (lambda host: host)
        self._conns: dict[str, Connection] = {}
        self._failed: dict[str, str] = {}
        #: host -> the authentication failure of its first open, raised again instead of a new try
        self._refused: dict[str, ConnectionFailed] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def host(self, name: str) -> Host:
        if name in self.hosts:
            return self.hosts[name]
        if name in ("localhost", "127.0.0.1"):
            return LOCALHOST
        raise ConnectionFailed(f"no host {name!r} in the inventory", host=name)

    def get(self, name: str) -> Connection:
        conn = self._conns.get(name)
        if conn is not None:
            return conn
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            conn = self._conns.get(name)
            if conn is not None:
                return conn
            refused = self._refused.get(name)
            if refused is not None:  # the credentials were refused: another try would only lock the account
                raise refused
            host = self.resolve(self.host(name))
            kwargs: dict[str, Any] = {"state_dir": self.state_dir} if host.connection == "sim" else {}
            conn = connection_for(host, **kwargs)
            try:
                conn.open()
            except ConnectionFailed as failed:
                if failed.kind == "auth":
                    self._refused[name] = failed
                raise
            self._conns[name] = conn
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
