"""One run at a time per estate: a lock file that names its holder.

The lock is an `flock` on `.cutover/locks/<estate>.lock`, so it is released by the kernel when
the holding process dies, and the file records who held it (run id, operator, controller, pid,
since). A second run is refused with the holder named (exit 3). A lock whose holder is gone is
reported as stale; `cutover unlock ESTATE` removes the record (and refuses while a live process
still holds it).

This lock sees only the runs of one state directory. The lock that sees every run of the estate,
wherever it is started from, is the marker on each of its hosts (engine/execute/estate_markers.py);
a run holds both.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from engine.api.module import utcnow
from engine.core.errors import RefusedError


def lock_path(state_dir: str | Path, estate: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", estate) or "estate"
    return Path(state_dir) / "locks" / f"{safe}.lock"


def describe(holder: dict[str, Any]) -> str:
    return (
        f"run {holder.get('run_id')} by {holder.get('operator')} on {holder.get('controller')} "
        f"(pid {holder.get('pid')}) since {holder.get('since')}"
    )


class EstateLock:
    """Held for the whole run; `release()` (or the process ending) frees it."""

    def __init__(self, state_dir: str | Path, estate: str):
        self.path = lock_path(state_dir, estate)
        self.estate = estate
        self.fd: int | None = None
        self.previous: dict[str, Any] | None = None

    def acquire(self, run_id: str, operator: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_of(fd)
            os.close(fd)
            raise RefusedError(
                f"estate {self.estate!r} is locked by {describe(holder) if holder else 'another run'}; "
                "wait for it to finish (or stop it) and try again"
            ) from None
        self.previous = _read(fd) or None
        holder = {
            "run_id": run_id,
            "operator": operator,
            "controller": socket.gethostname(),
            "pid": os.getpid(),
            "since": utcnow(),
            "estate": self.estate,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None


#: how long a refused start waits for the holder's record: the holder writes it just after it
#: takes the lock, so two runs started at the same instant would otherwise say only "another run"
HOLDER_WAIT = 2.0


def _holder_of(fd: int) -> dict[str, Any]:
    """The record of the process holding the lock, waited for briefly when it is not written yet."""
    deadline = time.monotonic() + HOLDER_WAIT
    holder = _read(fd)
    while not holder and time.monotonic() < deadline:
        time.sleep(0.02)
        holder = _read(fd)
    return holder


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 65536, 0)
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}


def inspect_lock(state_dir: str | Path, estate: str) -> tuple[str, dict[str, Any]]:
    """('free' | 'held' | 'stale', holder record)."""
    path = lock_path(state_dir, estate)
    if not path.exists():
        return "free", {}
    fd = os.open(path, os.O_RDWR)
    try:
        holder = _read(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held", holder
        fcntl.flock(fd, fcntl.LOCK_UN)
        return ("stale" if holder else "free"), holder
    finally:
        os.close(fd)


def break_lock(state_dir: str | Path, estate: str) -> dict[str, Any]:
    """Remove a stale lock record; RefusedError while a live process holds it."""
    status, holder = inspect_lock(state_dir, estate)
    if status == "held":
        raise RefusedError(f"estate {estate!r} is held by a live process: {describe(holder)}")
    lock_path(state_dir, estate).unlink(missing_ok=True)
    return holder
