"""Small checks shared by the posix connection tests: hostile strings, waiting on real processes.

The waits poll with a generous limit and never assert on how long something took: they only
give a real process time to appear or disappear on a loaded machine.
"""

from __future__ import annotations

import time
from pathlib import Path

#: Strings that break anything that pastes values into shell code.
NASTY = [
    "plain",
    "with space",
    "it's",
    'say "hi"',
    "`id`",
    "$(id)",
    "${HOME}",
    "a;b",
    "a && b | c > d",
    "line1\nline2",
    "tab\there",
    "*?[glob]",
    "-n",
    "--flag=x",
    "ünïcødé €",
    "back\\slash",
]

_LIMIT = 20.0


def wait_for_file(path: Path) -> str:
    """The content of `path` once it exists (writers create it with a rename, so it is whole)."""
    deadline = time.monotonic() + _LIMIT
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)
    return path.read_text().strip()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not yet reaped


def gone(pid: int) -> bool:
    """True once process `pid` has ended (False if it is still running after a generous wait)."""
    deadline = time.monotonic() + _LIMIT
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
