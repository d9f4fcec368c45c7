"""The WinRM test endpoint's side of a file transfer on raw stdin (files.ps1 `Receive-CutoverStream`).

Test support, not product. A transfer segment (engine/connect/winrm_framing.py, stdin message 3)
is answered here as the helper's PowerShell answers it, on a real folder: the bytes are read
from the process's stdin in pieces and written at `offset` of the file while a running sha256
follows them, so neither end holds more than a piece. What the PowerShell does is mirrored:
- the open file and its hash stay with the helper process between segments; a segment whose
  offset is not where the helper's open file stands (a new helper after a dropped connection)
  truncates the file on disk to `offset` and hashes what is left of it once;
- the file is opened with FileShare.None: a helper of an earlier attempt that still holds it
  makes the next one wait until it has ended (terminated by the client) and fail after 10 s
  with Windows' sharing-violation text;
- the segment's bytes are always read to the end, also after a failure, so the next stdin line
  is found where the client put it; the failure is then the segment's answer;
- `start` (one of several ranges of a file at once, each by its own helper): the file is shared
  (FileShare.ReadWrite: no waiting for the other helpers), cut to `total` when longer, written at
  `offset` without truncating, hashed from `start`; after each segment the range's end is noted
  in the checkpoint file `path`.r`start` (removed with the final segment).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tests.support.winrm_shells import Process

#: Windows path -> the real file behind it.
Locate = Callable[[str], Path]
PIECE = 1 << 20
#: How long a second opener waits for the first to let go (files.ps1: 50 tries, 200 ms apart).
SHARE_WAIT = 10.0


@dataclass
class _Open:
    """One file a helper process is receiving: its handle, the hash so far, its size."""

    process: Process
    handle: BinaryIO
    sha: Any
    size: int


class DiskReceiver:
    """`receive(args, process)` for `winrm_shells.start_process`: segments written below `locate`."""

    def __init__(self, locate: Locate) -> None:
        self.locate = locate
        #: (file, range start or None) -> the open file of the helper receiving it
        self._open: dict[tuple[Path, int | None], _Open] = {}
        self._lock = threading.Condition()
        #: bytes written by every segment (what a test compares with the file's size)
        self.written = 0
        #: the host files any segment was written to (what a test checks)
        self.opened: set[Path] = set()

    def __call__(self, args: dict[str, Any], process: Process) -> dict[str, Any]:
        length, offset = int(args["length"]), int(args["offset"])
        start = None if args.get("start") is None else int(args["start"])
        failure: Exception | None = None
        state: _Open | None = None
        key: tuple[Path, int | None] | None = None
        try:
            real = self.locate(str(args["path"]))
            key = (real, start)
            self.opened.add(real)
            if start is None:
                state = self._take(real, offset, process)
            else:
                state = self._take_range(real, start, offset, int(args.get("total") or 0), process)
        except (OSError, ValueError) as exc:
            failure = exc
        left = length
        while left > 0:
            data = process.read(min(left, PIECE))
            if not data:
                if state is not None and key is not None:
                    self._close(key)
                raise RuntimeError(f"stdin ended {left} bytes before the end of the segment")
            if failure is None and state is not None:
                try:
                    state.handle.write(data)
                    state.sha.update(data)
                    self.written += len(data)
                except OSError as exc:
                    failure = exc
            left -= len(data)
        if failure is None and state is not None and start is not None:
            failure = self._checkpoint(real, start, state.size + length, bool(args.get("final")), state)
        if failure is not None or state is None or key is None:
            if state is not None and key is not None:
                self._close(key)
            kind = "not_found" if isinstance(failure, FileNotFoundError) else "failed"
            return {"ok": False, "error": str(failure), "kind": kind}
        state.size += length
        value: dict[str, Any] = {"size": state.size}
        if args.get("final"):
            value["sha256"] = state.sha.hexdigest()
            self._close(key)
        return {"ok": True, "value": value}

    @staticmethod
    def _checkpoint(real: Path, start: int, end: int, final: bool, state: _Open) -> OSError | None:
        """Note the range's end in path.r<start> (files.ps1 does it after each segment)."""
        checkpoint = real.with_name(f"{real.name}.r{start}")
        try:
            state.handle.flush()
            if final:
                checkpoint.unlink(missing_ok=True)
            else:
                checkpoint.write_text(str(end), encoding="ascii")
        except OSError as exc:
            return exc
        return None

    def _take_range(self, real: Path, start: int, offset: int, total: int, process: Process) -> _Open:
        """The process's open range of a shared file at `offset`, opened (its part before `offset`
        hashed from `start`) when it is not: Open-CutoverRange."""
        key = (real, start)
        with self._lock:
            state = self._open.get(key)
            if state is not None and state.process is process and state.size == offset:
                return state
            if state is not None:
                self._close(key)
            if not real.parent.is_dir():
                raise FileNotFoundError(f"Could not find a part of the path: {real.parent} does not exist")
            handle = open(real, "r+b" if real.exists() else "w+b")  # noqa: SIM115 - kept open across segments
            have = handle.seek(0, 2)
            if offset > start and have < offset:  # the range's first part must be there
                handle.close()
                raise ValueError(
                    f"the partial file {real.name} has {have} bytes, fewer than the offset {offset}"
                )
            if have > total:
                handle.truncate(total)
            sha = hashlib.sha256()
            handle.seek(start)
            left = offset - start
            while left > 0 and (piece := handle.read(min(PIECE, left))):
                sha.update(piece)
                left -= len(piece)
            handle.seek(offset)
            state = self._open[key] = _Open(process, handle, sha, offset)
            return state

    def _take(self, real: Path, offset: int, process: Process) -> _Open:
        """The process's open file at `offset`, opened (and its prefix hashed) when it is not."""
        with self._lock:
            state = self._open.get((real, None))
            if state is not None and state.process is process and state.size == offset:
                return state
            if state is not None and state.process is process:
                self._close((real, None))
            deadline = time.monotonic() + SHARE_WAIT
            while (held := self._open.get((real, None))) is not None and not held.process.ended:
                self._lock.wait(timeout=0.1)
                if time.monotonic() >= deadline:
                    raise OSError(
                        f"The process cannot access the file '{real.name}' because it is being used by "
                        "another process."
                    )
            if held is not None:  # its helper has ended: Windows closed its handles
                self._close((real, None))
            if not real.parent.is_dir():
                raise FileNotFoundError(f"Could not find a part of the path: {real.parent} does not exist")
            handle = open(real, "r+b" if real.exists() else "w+b")  # noqa: SIM115 - kept open across segments
            handle.seek(0, 2)
            if handle.tell() < offset:
                have = handle.tell()
                handle.close()
                raise ValueError(
                    f"the partial file {real.name} has {have} bytes, fewer than the offset {offset}"
                )
            handle.truncate(offset)
            sha = hashlib.sha256()
            handle.seek(0)
            while offset - handle.tell() > 0 and (piece := handle.read(min(PIECE, offset - handle.tell()))):
                sha.update(piece)
            handle.seek(offset)
            state = self._open[(real, None)] = _Open(process, handle, sha, offset)
            return state

    def _close(self, key: tuple[Path, int | None]) -> None:
        with self._lock:
            state = self._open.pop(key, None)
            if state is not None:
                state.handle.close()
            self._lock.notify_all()
