"""The typed face of the primitives that modules use: `remote.call("file.stat", path=...)`.

Modules never build shell strings; they call primitives with data arguments, and this class
checks each call against `spec` before it leaves the controller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engine.connect.base import Connection
from engine.connect.remote.spec import check_call
from engine.core.errors import RemoteError


class PrimitiveFailed(RemoteError):
    """A primitive answered `ok: false`; `kind` is one of spec.ERROR_KINDS."""

    def __init__(self, op: str, message: str, host: str | None, kind: str = "failed"):
        self.op = op
        super().__init__(f"{op}: {message}", host=host, kind=kind)


class Remote:
    """Primitive calls against one host's connection, serialised by the connection's lock."""

    def __init__(
        self,
        connection: Connection,
        timeout: float | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.connection = connection
        #: where the progress frames of this Remote's calls go (the step's live line), unless a
        #: module watches the connection itself for the moment (`connection.on_progress` set)
        self.progress = progress
        #: the task's own time limit: every call gets what is left of it
        self.deadline = None if timeout is None else time.monotonic() + float(timeout)

    @property
    def timeout(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.001, self.deadline - time.monotonic())

    @property
    def platform(self) -> str:
        return self.connection.platform

    @property
    def simulated(self) -> bool:
        """True when the connection is to a simulated host (it answers as its platform does)."""
        return self.connection.simulated

    @property
    def host_name(self) -> str:
        return self.connection.host.name

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Send several calls in one round trip; return the raw answers in order."""
        wire = []
        for op, args in calls:
            problem = check_call(op, args)
            if problem:
                raise PrimitiveFailed(op, problem, self.host_name, kind="invalid")
            wire.append({"op": op, "args": args})
        with self.connection.lock:
            conn = self.connection
            if self.progress is None or conn.on_progress is not None:
                return conn.call(wire, timeout=self.timeout)
            conn.on_progress = self.progress  # under the lock: only this step's calls are watched
            try:
                return conn.call(wire, timeout=self.timeout)
            finally:
                conn.on_progress = None

    def call(self, op: str, **args: Any) -> Any:
        """One call; its value, or PrimitiveFailed with the host's reason."""
        answer = self.batch([(op, args)])[0]
        return unwrap(op, answer, self.host_name)

    def try_call(self, op: str, **args: Any) -> tuple[Any, dict[str, Any] | None]:
        """One call that may fail: (value, None) or (None, answer with error and kind)."""
        answer = self.batch([(op, args)])[0]
        if answer.get("ok"):
            return answer.get("value"), None
        return None, answer


def unwrap(op: str, answer: dict[str, Any], host: str | None) -> Any:
    """The value of an answer, or PrimitiveFailed when the call failed."""
    if answer.get("ok"):
        return answer.get("value")
    raise PrimitiveFailed(op, str(answer.get("error", "failed")), host, kind=str(answer.get("kind", "failed")))


def controller_remote(timeout: float | None = None) -> Remote:
    """Primitive calls answered by the controller itself (engine/connect/local.py
    `ControllerConnection`): for a module's reads from where the operator sits."""
    from engine.connect.local import ControllerConnection

    return Remote(ControllerConnection(), timeout)
