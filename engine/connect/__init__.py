"""Connections move bytes to hosts: `local`, `ssh`, `winrm`, `sim`.

Implementations are imported only when a host needs them, so a run against SSH hosts never
imports pywinrm and start-up stays fast.
"""

from __future__ import annotations

import importlib

from engine.connect.base import Connection
from engine.core.errors import UserError
from engine.core.model import Host

_KINDS = {
    "local": ("engine.connect.local", "LocalConnection"),
    "ssh": ("engine.connect.ssh", "SSHConnection"),
    "winrm": ("engine.connect.winrm", "WinRMConnection"),
    "sim": ("engine.connect.sim", "SimConnection"),
}


def connection_for(host: Host, **options: object) -> Connection:
    """A new, not yet opened connection of the host's kind."""
    try:
        module_name, class_name = _KINDS[host.connection]
    except KeyError:
        raise UserError(
            f"host {host.name!r}: unknown connection {host.connection!r}",
            host.location,
            hint=f"one of: {', '.join(_KINDS)}",
        ) from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(host, **options)


__all__ = ["Connection", "connection_for"]
