"""What a product's probe receives: one host, a Remote that can only read, the estate's databases.

`cutover probe` (engine/pipeline/probe.py) is the first contact with a real estate and must change
nothing anywhere, so a probe never gets a Remote that can write: `ReadOnlyRemote` refuses every
primitive outside `READ_ONLY` before it leaves the controller (the test of the command also
checks, on the WinRM endpoint, that no other primitive arrived). A product plug-in names its probe
functions in `Plugin.probes`; each returns a mapping that the report shows under the product's name,
with `findings` (a list of {severity: info|warning|error, message}) where reality and the
inventory disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.api.primitives import PrimitiveFailed, Remote
from engine.core.model import Host, Inventory

#: The primitives that only read: nothing else goes to a host during a probe.
READ_ONLY = frozenset(
    {
        "host.facts", "file.stat", "file.hash", "file.read", "file.list", "file.tree_hash",
        "archive.verify", "archive.list", "service.get", "registry.get", "iis.state", "iis.get_path",
        "dll.registered", "disk.free", "file.acl", "http.get", "net.port",
    }
)  # fmt: skip


#: The programs a probe may run (`process.run`), each with exactly these arguments and nothing else
#: (no shell, stdin, environment or working folder): each only prints what it is. `crontab -l -u`
#: takes one more word, the user whose crontab is listed.
READ_ONLY_COMMANDS = frozenset({("php", "-v"), ("nginx", "-v"), ("apache2", "-v"), ("httpd", "-v"),
                                ("crontab", "-l"),
                                ("winrm.cmd", "get", "winrm/config/winrs", "-format:xml")})  # fmt: skip


#: A POSIX user name (useradd's rule), the one free word of `crontab -l -u <user>`.
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def read_only_command(args: Mapping[str, Any]) -> bool:
    """Whether a `process.run` is one of READ_ONLY_COMMANDS (a version, a crontab listed)."""
    argv = args.get("argv")
    if (
        set(args) - {"argv", "timeout"}
        or not isinstance(argv, list)
        or not all(isinstance(a, str) for a in argv)
    ):
        return False
    words = tuple(argv)
    if len(words) == 4 and words[:3] == ("crontab", "-l", "-u") and _USER.fullmatch(words[3]):
        return True
    return words in READ_ONLY_COMMANDS


class ReadOnlyRemote(Remote):
    """A Remote that sends only the primitives of `READ_ONLY` (and the programs of
    READ_ONLY_COMMANDS) and refuses the others (kind `refused`)."""

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        for op, args in calls:
            if op == "process.run" and read_only_command(args):
                continue
            if op not in READ_ONLY:
                raise PrimitiveFailed(
                    op, "refused: a probe reads and never writes", self.host_name, "refused"
                )
        return super().batch(calls)


@dataclass
class ProbeContext:
    """One host of the estate being probed."""

    inventory: Inventory
    host: Host
    #: None when the host could not be reached (its facts then say why)
    remote: ReadOnlyRemote | None
    #: the inventory's database targets, templates rendered and vault values decrypted (in memory)
    databases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: what the engine itself found on the host (`host.facts`, disks), for the product to reuse
    facts: Mapping[str, Any] = field(default_factory=dict)


def finding(severity: str, message: str) -> dict[str, str]:
    """One line of a probe where the inventory and the host disagree (or something needs a look)."""
    return {"severity": severity, "message": message}
