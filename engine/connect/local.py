"""The controller machine itself as a host: the posix helper runs as a local subprocess.

Same helper, same frames and same semantics as over SSH (engine/connect/ssh.py), so a
module tested against `LocalConnection` behaves the same on a remote Linux host.
"""

from __future__ import annotations

import sys
from typing import Any

from engine.connect.base import Connection
from engine.connect.helper_channel import HelperConnection, python_command
from engine.core.model import Host


class LocalConnection(HelperConnection):
    """Runs the helper with the controller's own interpreter (or `settings.python` when given)."""

    label = "local"

    def __init__(self, host: Host, **_options: Any):
        super().__init__(host)
        self.python = str(host.settings.get("python") or sys.executable or "python3")

    def command(self) -> list[str]:
        return python_command(self.python)


class ControllerConnection(Connection):
    """The controller answering a primitive itself, in this process, with the POSIX helper's own
    dispatcher: for the few reads a module makes from where the operator sits (an HTTP check
    `from: controller`, seen as the users' browsers see the site). No subprocess is started,
    so a check from the controller costs no more than the request itself; and the behaviour is
    the helper's (redirects, TLS checks, timeouts, body decoding), the same as on a host."""

    label = "controller"

    def __init__(self) -> None:
        super().__init__(Host(name="controller", address="localhost", connection="local"))

    def open(self) -> None:
        """Nothing to open: the dispatcher is this process's own."""

    def call(self, calls: list[dict[str, Any]], timeout: float | None = None) -> list[dict[str, Any]]:
        from engine.connect.remote import posix_helper

        return [posix_helper.dispatch(call) for call in calls]

    def close(self) -> None:
        """Nothing to close."""
