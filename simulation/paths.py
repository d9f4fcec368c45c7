"""Windows paths of the simulated host, mapped onto real files under the host's state folder.

`C:\\Program Files (x86)\\Sage\\CRM\\CRM\\eware.dll` lives at `<fs>/C/Program Files (x86)/...`
and `\\\\filer\\crmlib\\x` at `<fs>/UNC/filer/crmlib/x`. Lookups ignore case and keep the
case a name was created with, as NTFS does, so a playbook that writes `EWARE.DLL` finds
`eware.dll`. Paths are normalised like Windows' GetFullPathName (`/` accepted, `.`/`..` folded).

MAX_PATH: "the maximum length for a path is MAX_PATH, which is defined as 260 characters" with its
terminating NUL, unless the path has the `\\?\\` prefix (an extended-length path, up to 32,767) or
long paths are enabled (learn.microsoft.com/windows/win32/fileio/maximum-file-path-limitation).
Windows PowerShell 5.1 is not long-path aware, so on .NET Framework a path of 260 characters or
more throws PathTooLongException (learn.microsoft.com/dotnet/api/system.io.pathtoolongexception).
A parsed path remembers its prefix (`extended`); `check_length` is the refusal, with the path and
its length named, as the PowerShell helper says it (powershell/paths.ps1 Assert-CutoverPathLength).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from simulation.errors import SimError

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_BAD_CHARS = re.compile(r'[<>:"|?*\x00-\x1f]')
#: MAX_PATH with its terminating NUL: the longest path without `\\?\` is 259 characters
MAX_PATH = 260
#: .NET Framework's text for PathTooLongException (COR_E_PATHTOOLONG, HRESULT 0x800700CE)
PATH_TOO_LONG = (
    "The specified path, file name, or both are too long. The fully qualified file name must be less "
    "than 260 characters, and the directory name must be less than 248 characters."
)


@dataclass(frozen=True, slots=True)
class WinPath:
    """An absolute Windows path: `root` is `C:` or `\\\\server\\share`, `parts` the names below it."""

    root: str
    parts: tuple[str, ...] = ()
    #: given with the `\\?\` prefix: an extended-length path, which MAX_PATH does not limit
    extended: bool = field(default=False, compare=False)

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
        return WinPath(self.root, self.parts[:-1], self.extended)

    def child(self, *names: str) -> WinPath:
        return WinPath(self.root, self.parts + tuple(names), self.extended)

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
    extended = raw.startswith("\\\\?\\")
    if extended:
        raw = raw[4:]
        if raw[:4].upper() == "UNC\\":  # \\?\UNC\server\share
            raw = "\\" + raw[3:]
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
    return WinPath(root, tuple(parts), extended)


def check_length(path: WinPath, long_paths: bool) -> None:
    """SimError(invalid) naming the path when Windows PowerShell 5.1 could not open it: 260 or more
    characters, no `\\?\\` prefix, and the host not marked `windows: {long_paths: true}`."""
    text = str(path)
    if len(text) >= MAX_PATH and not path.extended and not long_paths:
        raise SimError(
            "invalid",
            f"{text} is {len(text)} characters long, over the {MAX_PATH - 1} characters Windows PowerShell "
            f"5.1 can open (PathTooLongException: {PATH_TOO_LONG})",
        )


class SimFS:
    """The real folder that holds a simulated host's drives."""

    def __init__(self, root: Path):
        self.root = root
        #: drive root (`C:`, `\\\\server\\share`) -> its folder: a pure function of the root, kept
        self._drives: dict[str, Path] = {}

    def drive_dir(self, path: WinPath) -> Path:
        found = self._drives.get(path.root)
        if found is None:
            if len(path.root) == 2:
                found = self.root / path.root[0].upper()
            else:
                server, share = path.root[2:].split("\\", 1)
                found = self.root / "UNC" / server.lower() / share.lower()
            self._drives[path.root] = found
        return found

    def locate(self, path: WinPath) -> Path:
        """The real path of `path`: existing names matched without case, new names kept as given."""
        return self.resolve(path)[1]

    def resolve(self, path: WinPath) -> tuple[WinPath, Path]:
        """(`path` with the case found on the host, its real path) from one walk of the folders."""
        current = self.drive_dir(path)
        for index, part in enumerate(path.parts):
            found = _match_entry(current, part)
            if found is None:
                current = current.joinpath(part, *path.parts[index + 1 :])
                break
            current = current / found
        shown = current.parts[len(current.parts) - len(path.parts) :] if path.parts else ()
        return WinPath(path.root, tuple(shown), path.extended), current

    def display(self, path: WinPath) -> WinPath:
        """`path` with the case of the names that exist on the host."""
        return self.resolve(path)[0]

    def winpath_of(self, real: Path, like: WinPath) -> WinPath:
        """The Windows path of a real file below the drive of `like`."""
        return WinPath(like.root, real.relative_to(self.drive_dir(like)).parts, like.extended)


def _match_entry(folder: Path, name: str) -> str | None:
    """The entry of `folder` named `name` ignoring case, or None."""
    if os.path.lexists(os.path.join(folder, name)):  # the exact name: one lstat, no listing
        return name
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
