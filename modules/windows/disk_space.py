"""Fail early, with numbers, when a backup will not fit on the drive it is meant for.

The Sage CRM guide asks for a backup location "with enough free space"; finding out when the
zip of the program files or the database backup stops half-written is too late. This task reads
the free space of the drive holding `path` (`disk.free`) and compares it with what is needed:
`min_free` (bytes, or a size such as `10GB`), and/or the size of `for_path` (a folder or file
about to be backed up, summed on the host) times `margin` (default 1.1: a zip of CRM program
files is rarely bigger than the files, but the estate keeps growing while you wait). When both
are given the larger need wins.

Units: `KB`, `MB`, `GB`, `TB` count in 1024s, as Windows Explorer shows sizes (`KiB`... are
accepted too); a plain number is bytes. Read-only: never `changed`; it runs in check mode too, so
a rehearsal learns early that the backup drive is too small.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import PATH_SCHEMA, call, call_optional, object_schema, prop, stat

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([KkMmGgTt][Ii]?[Bb]|[Bb])?\s*$"


def parse_size(value: int | str) -> int:
    """Bytes from `1073741824`, `'10GB'`, `'1.5 GiB'`, `'500mb'`."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ModuleFailed(f"cannot read the size {value!r} (write e.g. 10GB, 500MB or a number of bytes)")
    unit = (match.group(2) or "").upper()[:1]
    return int(float(match.group(1)) * _FACTORS[unit])


def human(size: int | float) -> str:
    """1234567890 -> '1.1 GB' (1024s, as Windows shows it)."""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(amount) < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"


def size_of(ctx: TaskContext, path: str) -> int:
    """Bytes of a file, or of every file below a folder (summed on the host's listing)."""
    remote = ctx.require_remote()
    st = stat(remote, path)
    if st is None:
        raise ModuleFailed(f"for_path {path} does not exist on {ctx.host.name}")
    if st.get("type") != "directory":
        return int(st.get("size") or 0)
    listing = call_optional(remote, "file.list", path=path, recursive=True) or {}
    return sum(int(e.get("size") or 0) for e in listing.get("entries", []) if e.get("type") == "file")


class DiskSpace(Module):
    """disk.free(path) >= max(min_free, size(for_path) * margin), or a failure that says by how much."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Check that a drive has the free space a backup needs; fail early with the numbers.",
        {
            "path": prop(PATH_SCHEMA, "A folder on the drive to check (e.g. the backup folder or 'D:\\')."),
            "min_free": {
                "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": SIZE_PATTERN}],
                "description": "Free space needed: bytes, or a size like '10GB' (units in 1024s).",
            },
            "for_path": prop(
                PATH_SCHEMA, "A folder or file to be backed up to `path`: its size x margin is needed."
            ),
            "margin": {
                "type": "number",
                "minimum": 0,
                "default": 1.1,
                "description": "Factor applied to the size of for_path.",
            },
        },
        ("path",),
        anyOf=[{"required": ["min_free"]}, {"required": ["for_path"]}],
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        remote = ctx.require_remote()
        path = str(args["path"])
        free = call(remote, "disk.free", path=path)
        needs: list[tuple[int, str]] = []
        if args.get("min_free") is not None:
            needs.append((parse_size(args["min_free"]), f"min_free {args['min_free']}"))
        for_size = None
        if args.get("for_path"):
            for_size = size_of(ctx, str(args["for_path"]))
            margin = float(args.get("margin", 1.1))
            needs.append(
                (int(for_size * margin), f"{args['for_path']} is {human(for_size)}, x{margin:g} margin")
            )
        needed, why = max(needs)
        output = {
            "path": path,
            "free": int(free["free"]),
            "total": int(free.get("total") or 0),
            "needed": needed,
            "for_size": for_size,
        }
        if int(free["free"]) < needed:
            raise ModuleFailed(
                f"not enough space on the drive of {path}: {human(free['free'])} free, {human(needed)} needed "
                f"({why}); short by {human(needed - int(free['free']))}",
                output=output,
            )
        return Result(
            changed=False,
            msg=f"{human(free['free'])} free on the drive of {path}, {human(needed)} needed",
            output=output,
        )
