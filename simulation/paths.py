"""Windows paths of the simulated host, mapped onto real files under the host's state folder.

`C:\\Program Files (x86)\\Sage\\CRM\\CRM\\eware.dll` lives at `<fs>/C/Program Files (x86)/...`
and `\\\\filer\\crmlib\\x` at `<fs>/UNC/filer/crmlib/x`. Lookups ignore case and keep the
case a name was created with, as NTFS does, so a playbook that writes `EWARE.DLL` finds
`eware.dll`. Paths are normalised like Windows' GetFullPathName (`/` accepted, `.`/`..` folded).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from simulation.errors import SimError

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_BAD_CHARS = re.compile(r'[<>:"|?*\x00-\x1f]')


@dataclass(frozen=True, slots=True)
class WinPath:
    """An absolute Windows path: `root` is `C:` or `\\\\server\\share`, `parts` the names below it."""

    root: str
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.root + "\\" + "\\".join(self.parts)

    @property
    def drive(self) -> str:
        """The key of the disk this path is on: `C` or `\\\\server\\share` (lower case)."""
        return self.root[0].upper() if len(self.root) == 2 else self.root.lower()

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    @property
    def parent(self) -> WinPath:
        return WinPath(self.root, self.parts[:-1])

    def child(self, *names: str) -> WinPath:
        return WinPath(self.root, self.parts + tuple(names))

    def is_within(self, other: WinPath) -> bool:
        """True when self is `other` or below it (compared without case)."""
        mine = [self.root.casefold(), *(p.casefold() for p in self.parts)]
        theirs = [other.root.casefold(), *(p.casefold() for p in other.parts)]
        return mine[: len(theirs)] == theirs

    def relative_to(self, other: WinPath) -> tuple[str, ...]:
        if not self.is_within(other):
            raise ValueError(f"{self} is not below {other}")
        return self.parts[len(other.parts) :]


def parse_path(text: object) -> WinPath:
    """Parse an absolute Windows path; SimError(invalid) for relative or malformed ones."""
    if not isinstance(text, str) or not text.strip():
        raise SimError("invalid", f"path must be a non-empty string, not {text!r}")
    raw = text.strip().replace("/", "\\")
    if raw.startswith("\\\\?\\"):
        raw = raw[4:]
    match = _DRIVE.match(raw)
    if match:
        root, rest = f"{match.group(1).upper()}:", raw[2:]
    elif raw.startswith("\\\\"):
        pieces = raw[2:].split("\\")
        if len(pieces) < 2 or not pieces[0] or not pieces[1]:
            raise SimError("invalid", f"UNC path needs a server and a share: {text!r}")
        root, rest = f"\\\\{pieces[0]}\\{pieces[1]}", "\\".join(pieces[2:])
    else:
        raise SimError("invalid", f"path must be absolute (C:\\... or \\\\server\\share\\...): {text!r}")
    parts: list[str] = []
    for piece in rest.split("\\"):
        piece = piece.rstrip(" .") if piece not in (".", "..") else piece
        if piece in ("", "."):
            continue
        if piece == "..":
            if parts:
                parts.pop()
            continue
        if _BAD_CHARS.search(piece):
            raise SimError("invalid", f"invalid character in path component {piece!r} of {text!r}")
        parts.append(piece)
    return WinPath(root, tuple(parts))


class SimFS:
    """The real folder that holds a simulated host's drives."""

    def __init__(self, root: Path):
        self.root = root

    def drive_dir(self, path: WinPath) -> Path:
        if len(path.root) == 2:
            return self.root / path.root[0].upper()
        server, share = path.root[2:].split("\\", 1)
        return self.root / "UNC" / server.lower() / share.lower()

    def locate(self, path: WinPath) -> Path:
        """The real path of `path`: existing names matched without case, new names kept as given."""
        current = self.drive_dir(path)
        for index, part in enumerate(path.parts):
            found = _match_entry(current, part)
            if found is None:
                return current.joinpath(part, *path.parts[index + 1 :])
            current = current / found
        return current

    def display(self, path: WinPath) -> WinPath:
        """`path` with the case of the names that exist on the host."""
        real = self.locate(path)
        base = self.drive_dir(path)
        return WinPath(path.root, real.relative_to(base).parts)

    def winpath_of(self, real: Path, like: WinPath) -> WinPath:
        """The Windows path of a real file below the drive of `like`."""
        return WinPath(like.root, real.relative_to(self.drive_dir(like)).parts)


def _match_entry(folder: Path, name: str) -> str | None:
    """The entry of `folder` named `name` ignoring case, or None."""
    entries = _listdir(folder)
    if name in entries:
        return name
    folded = name.casefold()
    for entry in entries:
        if entry.casefold() == folded:
            return entry
    return None


def _listdir(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
