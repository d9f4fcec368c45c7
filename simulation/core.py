"""The state of one simulated Windows host, and the table its operations register in.

`HostState` is what every operation works on: the persisted state dict, the folder of the host's
files, the logical clock and the disks. The operations live beside it, one area per module
(`files`, `archive`, `registry`, `windows`, `programs`); each registers the primitives it answers
with `@op("name")` and receives the host's state as its first argument. `host.SimHost` (the
locked, persisted front door) is a `HostState`, imports the operation modules and dispatches to
`OPS`; nothing here or in the operations imports it back, so the package reads bottom-up:
errors, paths, faults -> core -> operations -> host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from simulation import faults as sim_faults
from simulation.errors import SimError
from simulation.paths import SimFS, WinPath, parse_path

#: File modification times are `EPOCH + clock` (2024-01-01T00:00:00Z plus one second per change).
EPOCH = 1_704_067_200
_LOG_KEEP = 500
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class HostState:
    """One simulated host's state and the bookkeeping every operation shares (no locking here).

    Layout under `<state_dir>/sim/`: `<name>.json` (the state), `<name>.lock`, `<name>/fs/<drive>/`
    (file contents as real files) and `<name>/tmp/` (atomic writes).
    """

    def __init__(self, state_dir: str | Path, name: str):
        if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
            raise UserError(f"simulated host name {name!r} cannot name a state file (letters, digits, . _ -)")
        self.name = name
        base = Path(state_dir) / "sim"
        self.state_file = base / f"{name}.json"
        self.lock_file = base / f"{name}.lock"
        self.fs = SimFS(base / name / "fs")
        self.tmp_dir = base / name / "tmp"
        self.state: dict[str, Any] = {}
        #: cwd/env of the process.run a program handler is serving (None outside handlers)
        self.process: dict[str, Any] | None = None
        #: where the progress frames of the batch being answered go (`{op, line}`), or None
        self.on_progress: Any = None
        #: True once the primitive call being answered has changed the host (set by `changed`)
        self.mutated = False
        #: True when the state must be saved at the end of the current call
        self.dirty = False

    def changed(self, event: str) -> float:
        """Record that the current call changed the host; returns the simulated time (an mtime)."""
        if not self.mutated:
            self.state["clock"] = int(self.state.get("clock", 0)) + 1
            self.mutated = True
        self.dirty = True
        log = self.state.setdefault("log", [])
        log.append({"t": self.state["clock"], "event": event})
        del log[:-_LOG_KEEP]
        return float(EPOCH + self.state["clock"])

    def now(self) -> float:
        """The simulated time: `EPOCH + clock`."""
        return float(EPOCH + int(self.state.get("clock", 0)))

    def require_drive(self, path: WinPath) -> None:
        """SimError(not_found) when the path's drive or share does not exist on this host, and
        SimError(denied) when it is a share this host's session may not open (`access: denied`:
        the second hop, a WinRM logon whose credentials do not travel on to the file server)."""
        disk = self.state.get("disks", {}).get(path.drive)
        if disk is None:
            what = f"drive {path.root}" if len(path.root) == 2 else f"network path {path.root}"
            raise SimError("not_found", f"{what} does not exist on {self.name} (simulation)")
        if disk.get("access") == "denied":
            raise SimError("denied", denied_message(str(path)))

    def drive_dir(self, drive: str) -> Path:
        """The real folder of one drive (`C`) or share (`\\\\server\\share`)."""
        return self.fs.drive_dir(parse_path(drive_root(drive) + "\\"))

    def fs_bytes(self, drive: str) -> int:
        """Bytes of all files on one drive (what the files consume of the disk)."""
        total = 0
        for folder, _dirs, names in os.walk(self.drive_dir(drive)):
            for name in names:
                total += os.lstat(os.path.join(folder, name)).st_size
        return total

    def disk_usage(self, drive: str) -> dict[str, int]:
        """{free, total} of a drive: free is 0 while a `disk_full` fault holds it."""
        disk = self.state["disks"][drive]
        if sim_faults.disk_full(self.state.get("faults", []), drive):
            return {"free": 0, "total": int(disk["total"])}
        free = int(disk["total"]) - int(disk.get("other_used", 0)) - self.fs_bytes(drive)
        return {"free": max(free, 0), "total": int(disk["total"])}

    def ensure_space(self, path: WinPath, needed: int) -> None:
        """SimError(no_space) when writing `needed` more bytes on the path's drive would not fit."""
        if needed <= 0 and not sim_faults.disk_full(self.state.get("faults", []), path.drive):
            return
        free = self.disk_usage(path.drive)["free"]
        if needed > free or free == 0:
            raise SimError(
                "no_space",
                f"There is not enough space on the disk. ({path.root} has {free} bytes free, "
                f"{max(needed, 1)} needed; simulation)",
            )


def denied_message(path: str) -> str:
    """What the PowerShell primitives say for a path Windows refuses (powershell/paths.ps1)."""
    message = f"Access to the path '{path}' is denied."
    if path.startswith("\\\\"):
        message += (
            " Over WinRM a share sees the account only if its credentials travel on (the second hop): use "
            "transport credssp, or Kerberos with delegation to the file server, or give the server's "
            "computer account access to the share."
        )
    return message


def drive_root(drive: str) -> str:
    """`C` -> `C:`; a share key (`\\\\server\\share`) stays as it is."""
    return f"{drive}:" if len(drive) == 1 else drive


# --- the table of primitives -------------------------------------------------------------------
#: `handler(host, args) -> value`; raises SimError for a documented failure.
OpHandler = Callable[[HostState, dict[str, Any]], Any]

OPS: dict[str, OpHandler] = {}


def op(name: str) -> Callable[[OpHandler], OpHandler]:
    """Register the simulated implementation of primitive `name`."""

    def register(func: OpHandler) -> OpHandler:
        if name in OPS:
            raise RuntimeError(f"simulated primitive {name!r} registered twice")
        OPS[name] = func
        return func

    return register


# --- arguments ---------------------------------------------------------------------------------
def arg_bool(args: dict[str, Any], name: str, default: bool) -> bool:
    """A boolean argument; strings like 'yes' are refused so a typo cannot flip a flag silently."""
    value = args.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SimError("invalid", f"argument {name!r} must be true or false, not {value!r}")
    return value


def arg_str(args: dict[str, Any], name: str, default: str | None = None) -> str:
    """A non-empty string argument; NUL is refused (Windows APIs would cut the string there)."""
    value = args.get(name, default)
    if not isinstance(value, str) or not value:
        raise SimError("invalid", f"argument {name!r} must be a non-empty string, not {value!r}")
    if "\0" in value:
        raise SimError("invalid", f"argument {name!r} contains NUL, which Windows would cut short: {value!r}")
    return value


def arg_choice(args: dict[str, Any], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    """A string argument from a fixed set, compared case-insensitively as Windows tools do."""
    value = args.get(name, default)
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise SimError("invalid", f"argument {name!r} must be one of {', '.join(choices)}, not {value!r}")


def find_key(mapping: dict[str, Any], name: str) -> str | None:
    """The key of `mapping` equal to `name` ignoring case (Windows names are case-insensitive)."""
    if name in mapping:
        return name
    folded = name.casefold()
    for key in mapping:
        if key.casefold() == folded:
            return key
    return None
