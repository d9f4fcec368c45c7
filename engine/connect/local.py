"""The controller machine itself as a host: the posix helper runs as a local subprocess.

Same helper, same frames and same semantics as over SSH (engine/connect/ssh.py), so a
module tested against `LocalConnection` behaves the same on a remote Linux host.
"""

from __future__ import annotations

import sys
from typing import Any

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
