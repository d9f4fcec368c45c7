"""The PowerShell primitives of Windows hosts: one file per thing they touch, shipped as ONE script.

Why several files: the primitives (about forty, see engine/connect/remote/spec.py) are easier to
read and review grouped by what they touch (files, archives, processes, services, registry, IIS,
DLLs, disk, HTTP, network, host facts), one PowerShell function per primitive.

Why one script: the helper on the host receives the primitives as the first line of its stdin and
dot-sources them once (engine/connect/winrm_framing.py); one script means one Send, one parse on
the host and no file left behind there. `script()` joins the parts in the fixed order of `PARTS`:
the shared helpers first, the entry point (`Invoke-CutoverBatch` in dispatch.ps1) last, so a
part's top-level statements (Add-Type, tables) run before anything calls them.

The joined text is built once per process and cached; `locate()` maps a line of it back to its
part, so a test (or an operator reading a parse error) can name the file to open.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import lru_cache

#: The parts, in the order they are joined; every .ps1 file of this folder is listed once.
PARTS: tuple[str, ...] = (
    "core.ps1",
    "native.ps1",
    "paths.ps1",
    "files.ps1",
    "archives.ps1",
    "processes.ps1",
    "services.ps1",
    "registry.ps1",
    "iis.ps1",
    "dll.ps1",
    "disk.ps1",
    "http.ps1",
    "net.ps1",
    "host.ps1",
    "lock.ps1",
    "dispatch.ps1",
)


@dataclass(frozen=True, slots=True)
class Part:
    """One file of the script and the line (1-based) of the joined script where it begins."""

    name: str
    first_line: int
    text: str

    @property
    def line_count(self) -> int:
        return self.text.count("\n")


@lru_cache(maxsize=1)
def parts() -> tuple[Part, ...]:
    """The parts as shipped: BOM removed, each ending with one newline; OSError when one is missing."""
    folder = importlib.resources.files(__name__)
    found: list[Part] = []
    line = 1
    for name in PARTS:
        text = (folder / name).read_text("utf-8").lstrip("\ufeff")
        text = text.rstrip("\n") + "\n"
        found.append(Part(name, line, text))
        line += text.count("\n")
    return tuple(found)


@lru_cache(maxsize=1)
def script() -> str:
    """The one script the helper dot-sources: every part, in the order of `PARTS`."""
    return "".join(part.text for part in parts())


def locate(line: int) -> tuple[str, int]:
    """(part name, line in that part) of a 1-based line of `script()`."""
    for part in parts():
        if part.first_line <= line < part.first_line + part.line_count:
            return part.name, line - part.first_line + 1
    raise ValueError(f"line {line} is outside the primitives script")
