"""Connections move bytes to hosts: `local`, `ssh`, `winrm`, `sim`.

Implementations are imported only when a host needs them, so a run against SSH hosts never
imports pywinrm and start-up stays fast.
"""

from __future__ import annotations

import importlib

from engine.connection.base import Connection
from engine.errors import UserError
from engine.model import Host

_KINDS = {
    "local": ("engine.connection.local", "LocalConnection"),
    "ssh": ("engine.connection.ssh", "SSHConnection"),
    "winrm": ("engine.connection.winrm", "WinRMConnection"),
    "sim": ("engine.connection.sim", "SimConnection"),
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
