"""Connections move bytes to hosts: `local`, `ssh`, `winrm`, `sim`.

Implementations are imported only when a host needs them, so a run against SSH hosts never
imports pywinrm and start-up stays fast. What kind of host a connection reaches (Windows or
POSIX, a machine or a simulation) is the connection class's to say: `host_kind` is the one place
the engine asks it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from functools import cache
from typing import NamedTuple

from engine.connect.base import Connection, unknown_settings
from engine.core.errors import Problem, UserError
from engine.core.model import Host

_KINDS = {
    "local": ("engine.connect.local", "LocalConnection"),
    "ssh": ("engine.connect.ssh", "SSHConnection"),
    "winrm": ("engine.connect.winrm", "WinRMConnection"),
    "sim": ("engine.connect.sim", "SimConnection"),
}


#: Each connection's own section of a host's settings -> (module, name) of the keys it reads.
_SETTING_KEYS = {
    "ssh": ("engine.connect.ssh", "SSH_SETTINGS"),
    "winrm": ("engine.connect.winrm_settings", "KNOWN_KEYS"),
    "sim": ("engine.connect.sim", "SIM_SETTINGS"),
}


class HostKind(NamedTuple):
    """What a host is, as its connection class declares it."""

    #: `posix` or `windows`: which paths, commands and modules apply
    platform: str
    #: a model of a host, not a machine (labelled a simulation wherever results appear)
    simulated: bool


def connection_class(host: Host) -> type[Connection]:
    """The class of the host's connection (imported now; nothing is opened)."""
    try:
        module_name, class_name = _KINDS[host.connection]
    except KeyError:
        raise UserError(
            f"host {host.name!r}: unknown connection {host.connection!r}",
            host.location,
            hint=f"one of: {', '.join(_KINDS)}",
        ) from None
    return getattr(importlib.import_module(module_name), class_name)


def host_kind(host: Host) -> HostKind:
    """Windows or POSIX, simulated or not: from the host's connection class, without opening it."""
    if host.connection not in _KINDS:
        connection_class(host)  # the UserError naming the connections there are
    return _kind_of(host.connection)


@cache
def _kind_of(connection: str) -> HostKind:
    module_name, class_name = _KINDS[connection]
    return _kind_of_class(getattr(importlib.import_module(module_name), class_name))


def _kind_of_class(cls: type[Connection]) -> HostKind:
    return HostKind(cls.platform, cls.simulated)


def connection_for(host: Host, state_dir: str | None = None) -> Connection:
    """A new, not yet opened connection of the host's kind; a simulated host keeps its state in `state_dir`."""
    cls = connection_class(host)
    if state_dir is not None and _kind_of_class(cls).simulated:
        return cls(host, state_dir=state_dir)  # type: ignore[call-arg]
    return cls(host)


def check_available(hosts: Iterable[Host]) -> None:
    """Every host's connection can be made from this machine (engine/connect/base.py
    `check_available`); one UserError listing each host whose cannot."""
    problems = []
    for host in hosts:
        try:
            connection_class(host).check_available(host)
        except UserError as err:
            problems.extend(err.problems)
    if problems:
        raise UserError.many(problems)


def foreign_setting_problems(host: Host) -> list[Problem]:
    """Unknown keys in the sections of the other connections (`winrm:` in `defaults:` of an estate
    whose hosts are all SSH, say): never read by this host's connection, still a typo to hear
    about; the host's own section is its connection class's `check_settings` to read."""
    problems = []
    for section, (module_name, name) in _SETTING_KEYS.items():
        values = host.settings.get(section)
        if section == host.connection or not isinstance(values, Mapping):
            continue
        problems += unknown_settings(
            host, section, values, getattr(importlib.import_module(module_name), name)
        )
    return problems


__all__ = [
    "Connection",
    "HostKind",
    "check_available",
    "connection_class",
    "foreign_setting_problems",
    "connection_for",
    "host_kind",
]
