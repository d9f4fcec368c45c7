"""A file streamed to a Windows host on the helper's raw stdin: one base64, flat memory, resumable.

Why not `file.write`: its content travels base64 in JSON in the base64 batch line in the base64
of WS-Management's stdin stream, (4/3)^3 of the size, held whole in memory on both ends. Here the
helper is told "the next `length` bytes of stdin are `path` from `offset`" (winrm_framing stdin
message 3) and the file's bytes follow as they are; WS-Management's own base64 of the stdin
stream (MS-WSMV 3.1.4.1.31.1 I/O Streams, https://learn.microsoft.com/en-us/openspecs/
windows_protocols/ms-wsmv/2629bd02-7269-4d7a-9c6c-a0e5e8ade2bc) is the only encoding.

- Pieces fill each Send envelope to just under the server's MaxEnvelopeSizekb (500 KB on current
  Windows, 150 on older ones: the first refused envelope lowers it for the connection), so a
  byte costs no more round trips than WS-Management needs.
- The file is read in segments (SEGMENT bytes, the only buffer); the helper answers each segment
  with the size on disk, writes with a running sha256 and gives the digest with the last one, which
  is compared with the sha256 of what was read here. A segment's answer is read only after the
  next segment has been sent, so the client never waits for the host to finish writing (the
  answers queue in the helper's stdout; all that are due are read before a failure is raised).
- A dropped connection (the transport failed mid-segment) loses nothing written: the old helper is
  terminated (so it lets go of the file), a new one is asked the size of the partial file, and
  the transfer continues from there, hashing the part already sent again on both ends (local
  reads; no bytes resent). The same holds across runs when the caller passes `resume`. A range
  of a file sent as two at once (`send_ranges`) continues where its checkpoint on the host says.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from engine.connect.winrm_framing import decode_answers, encode_receive, range_checkpoint
from engine.core.errors import ConnectionFailed, RemoteError

if TYPE_CHECKING:
    from engine.core.model import Host

log = logging.getLogger(__name__)


class Channel(Protocol):
    """What a transfer needs of its WinRM connection (engine/connect/winrm.py `WinRMConnection`):
    named here so this module depends on the connection's face, not the other way round too."""

    host: Host
    lock: threading.Lock
    settings: Any

    @property
    def command_id(self) -> str | None: ...

    def call(self, calls: list[dict[str, Any]], timeout: float | None = None) -> list[dict[str, Any]]: ...

    def interrupt(self) -> None: ...

    def send_segment(self, line: bytes, data: bytes | memoryview, deadline: float | None) -> None: ...

    def segment_answer(self, deadline: float | None) -> bytes: ...

    def end_command(self, command: str | None) -> None: ...

    def sibling(self) -> Channel: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

#: Bytes the controller reads and the helper writes per answered segment: the whole buffer.
SEGMENT = 8 << 20
#: Local reads while re-hashing the part of a file already on the host.
READ_PIECE = 1 << 20
#: Attempts of one transfer across dropped connections (each must make progress).
ATTEMPTS = 4

#: (bytes on the host, bytes in all or None when unknown): called after every segment.
Progress = Callable[[int, "int | None"], None]
#: A fresh reader of the source from its first byte (a file, or a zip stream built again).
Opener = Callable[[], BinaryIO]


def send_stream(
    conn: Channel,
    path: str,
    open_source: Opener,
    *,
    size: int | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    timeout: float | None = None,
    sha256: str | None = None,
    span: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Stream the source into `path` on the host -> {size, sha256} of what is there now.

    `span` (start, total): the source is the range of a `total`-byte file from `start`, written
    at its place in `path`, which other helpers fill at the same time with the other ranges
    (`send_ranges`); the digest is the range's, and a resume starts where the range's
    checkpoint on the host says (`range_checkpoint`). `size` is then the range's length.

    `sha256`: the source's digest when the caller has it already (win_copy compares it with the
    host's file first); the host's digest must then equal it, and the source is not hashed again.

    `resume`: a partial `path` left by an earlier run is continued, not overwritten (the caller
    names it after the content, so a partial file of other content never matches).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    done = -1
    with conn.lock:
        for attempt in range(1, ATTEMPTS + 1):
            offset = _partial_size(conn, path, span) if resume or attempt > 1 else _start(span)
            command = conn.command_id
            try:
                return _attempt(conn, path, open_source, offset, size, progress, deadline, sha256, span)
            except ConnectionFailed as exc:
                reached = _reached(conn, path, span)
                if attempt == ATTEMPTS or reached <= done or reached < 0:
                    raise
                done = reached
                log.info(
                    "%s: transfer of %s cut at %d bytes (%s); resuming", conn.host.name, path, reached, exc
                )
                _release(conn, command)
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(
    conn: Channel,
    path: str,
    open_source: Opener,
    offset: int,
    size: int | None,
    progress: Progress | None,
    deadline: float | None,
    sha256: str | None = None,
    span: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One pass from `offset` to the end; ConnectionFailed when the connection drops."""
    local: Any = hashlib.sha256() if sha256 is None else _Known(sha256)
    start = _start(span)
    end = None if size is None else start + size
    with open_source() as source:
        if _skip(source, offset - start, local) < offset - start:  # a partial file longer than the source
            return (
                _attempt(conn, path, open_source, start, size, progress, deadline, sha256, span)
                if offset > start
                else {}
            )
        written = offset
        pending = 0
        value: dict[str, Any] = {}
        buffer = memoryview(bytearray(SEGMENT))  # one buffer for every segment: no fresh pages each time
        while True:
            data = _fill(source, buffer)
            final = len(data) < SEGMENT or (end is not None and written + len(data) >= end)
            local.update(data)
            line = encode_receive(path, written, len(data), final, span)
            conn.send_segment(line, data, deadline)
            written += len(data)
            pending += 1
            if pending > 1 or final:  # the answers due, but not the one of the segment just sent
                due = pending if final else pending - 1
                value = _answers(conn, path, due, deadline)
                pending -= due
                if progress is not None:
                    progress(int(value["size"]) - start, size)
            if final:
                break
    if int(value["size"]) != written or value.get("sha256") != local.hexdigest():
        raise RemoteError(
            f"{path}: the host has {value.get('size')} bytes with sha256 {value.get('sha256')}, the source "
            f"{written} bytes with sha256 {local.hexdigest()}"
            + ("" if span is None else f" (the range from byte {start})"),
            conn.host.name,
        )
    return {"size": written - start, "sha256": local.hexdigest()}


def _start(span: tuple[int, int] | None) -> int:
    return 0 if span is None else span[0]


def _fill(source: BinaryIO, buffer: memoryview) -> memoryview:
    """The next bytes of the source in `buffer`, as many as fit unless the source ends first."""
    readinto = getattr(source, "readinto", None)
    filled = 0
    while filled < len(buffer):
        if readinto is not None:
            count = readinto(buffer[filled:])
        else:
            piece = source.read(len(buffer) - filled)
            count = len(piece)
            buffer[filled : filled + count] = piece
        if not count:
            break
        filled += count
    return buffer[:filled]


def _answers(conn: Channel, path: str, count: int, deadline: float | None) -> dict[str, Any]:
    """Read the `count` answers due, in order -> the last one's value; the first failure is raised
    once all of them are read, so the helper's stdout holds nothing stale afterwards."""
    failure: RemoteError | None = None
    value: dict[str, Any] = {}
    for _ in range(count):
        frame = conn.segment_answer(deadline)
        answer = decode_answers(frame, 1, conn.host.name)[0]
        if answer.get("ok"):
            value = answer["value"]
        elif failure is None:
            kind = str(answer.get("kind") or "failed")
            failure = RemoteError(f"{path}: {answer.get('error')}", conn.host.name, kind=kind)
    if failure is not None:
        raise failure
    return value


class _Known:
    """Stands for the source's hash when its digest is known: nothing to compute."""

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def update(self, _data: bytes) -> None:
        """Nothing: the digest is known."""

    def hexdigest(self) -> str:
        return self.digest


def _skip(source: BinaryIO, count: int, local: Any) -> int:
    """Read and hash the first `count` bytes of the source (already on the host) -> how many."""
    left = count
    while left > 0 and (piece := source.read(min(left, READ_PIECE))):
        local.update(piece)
        left -= len(piece)
    return count - left


def _partial_size(conn: Channel, path: str, span: tuple[int, int] | None = None) -> int:
    """Where the transfer continues: the size of the partial file on the host (0 when there is
    none), or for a range the end its checkpoint notes (its start when there is none)."""
    size = _reached(conn, path, span)
    if size < 0:
        raise ConnectionFailed(
            f"cannot ask {conn.settings.endpoint} how much of {path} arrived", conn.host.name
        )
    return size


def _reached(conn: Channel, path: str, span: tuple[int, int] | None = None) -> int:
    """Bytes of `path` on the host (0 when absent), or the end of the range `span` reached (its
    checkpoint; its start when there is none); -1 when the host cannot be asked."""
    if span is not None:
        return _checkpoint(conn, path, span)
    try:
        answer = conn.call([{"op": "file.stat", "args": {"path": path}}])[0]
    except (ConnectionFailed, RemoteError) as exc:
        log.info("%s: asking for %s failed: %s", conn.host.name, path, exc)
        return -1
    value = answer.get("value") or {}
    return int(value.get("size") or 0) if answer.get("ok") and value.get("exists") else 0


def _checkpoint(conn: Channel, path: str, span: tuple[int, int]) -> int:
    """The end of the range noted on the host, within the range and the file; -1 when the
    host cannot be asked."""
    start, total = span
    calls = [{"op": "file.stat", "args": {"path": path}},
             {"op": "file.read", "args": {"path": range_checkpoint(path, start), "max_bytes": 64}}]  # fmt: skip
    try:
        stat, note = conn.call(calls)
    except (ConnectionFailed, RemoteError) as exc:
        log.info("%s: asking for the checkpoint of %s failed: %s", conn.host.name, path, exc)
        return -1
    have = int((stat.get("value") or {}).get("size") or 0) if stat.get("ok") else 0
    text = base64.b64decode((note.get("value") or {}).get("content_b64") or "") if note.get("ok") else b""
    end = int(text) if text.strip().isdigit() else start
    return end if start <= end <= min(have, total) else start


def _release(conn: Channel, command: str | None) -> None:
    """Terminate the helper of the cut attempt (it may still hold the file), on the new session."""
    try:
        conn.end_command(command)
    except Exception as exc:  # noqa: BLE001 - gone already: the shell reaps it
        log.debug("%s: terminating the cut helper failed: %s", conn.host.name, type(exc).__name__)


#: Files from this size on go as two ranges at once (`send_ranges`), when the caller allows it.
RANGES_FROM = 4 * SEGMENT


class _Window:
    """Bytes [start, start + length) of a file, read from the start of the window."""

    def __init__(self, path: str, start: int, length: int) -> None:
        self.handle = open(path, "rb")  # noqa: SIM115 - closed by the context manager
        self.handle.seek(start)
        self.left = length

    def read(self, n: int) -> bytes:
        data = self.handle.read(min(n, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        count = self.handle.readinto(buffer[: max(0, min(len(buffer), self.left))]) if self.left > 0 else 0
        self.left -= count
        return count

    def __enter__(self) -> _Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def send_ranges(
    conn: Channel,
    path: str,
    local: str,
    size: int,
    sha256: str,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """A controller file in two ranges at once into `path`, the second through a second shell
    and helper.

    Why: in one stream the client and the server take turns (each Send waits for its answer);
    two streams keep both busy. Each helper writes its range at its place in the one file (no
    second file to append afterwards: that copy was the host's last 100 MB of a 200 MB package,
    with nothing else in flight) and answers the range's sha256, compared with the range read
    here; `sha256` is the caller's digest of the file, which must not change meanwhile (its size
    and modification time are compared before and after). Each range resumes on its own after a
    dropped connection or in a later run (its checkpoint on the host). A second shell the server
    refuses (MaxShellsPerUser) means one stream.
    """
    mid = (size // 2) // SEGMENT * SEGMENT
    before = _stamp(local)
    sibling = conn.sibling()
    try:
        sibling.open()
    except ConnectionFailed as exc:
        log.info("%s: no second shell for a parallel transfer (%s); one stream", conn.host.name, exc)
        sibling.close()
        return send_stream(conn, path, lambda: open(local, "rb"), size=size, resume=resume,
                           progress=progress, timeout=timeout, sha256=sha256)  # fmt: skip
    done = [0, 0]
    outcome: list[BaseException] = []

    def report(index: int) -> Progress:
        def seen(count: int, _total: int | None) -> None:
            done[index] = count
            if progress is not None:
                progress(done[0] + done[1], size)

        return seen

    def run_second() -> None:
        try:
            send_stream(sibling, path, lambda: _Window(local, mid, size - mid), size=size - mid,
                        resume=resume, progress=report(1), timeout=timeout, span=(mid, size))  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
            outcome.append(exc)
            conn.interrupt()  # the first range stops too; this failure is the one reported

    worker = threading.Thread(target=run_second, name=f"transfer-{conn.host.name}", daemon=True)
    worker.start()
    try:
        send_stream(conn, path, lambda: _Window(local, 0, mid), size=mid, resume=resume,
                    progress=report(0), timeout=timeout, span=(0, size))  # fmt: skip
    except BaseException:
        while worker.is_alive():  # Ctrl-C or a failure of the first range stops the second too
            sibling.interrupt()
            worker.join(0.05)
        if outcome:
            raise outcome[0] from None
        raise
    finally:
        worker.join()
        sibling.close()
    if outcome:
        raise outcome[0]
    if _stamp(local) != before:
        raise RemoteError(f"{path}: the source {local} changed while it was sent", conn.host.name)
    return {"size": size, "sha256": sha256}


def _stamp(path: str) -> tuple[int, int]:
    """Size and modification time of a controller file: the same before and after the ranges
    were read means they are the bytes whose sha256 the caller computed before."""
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns
