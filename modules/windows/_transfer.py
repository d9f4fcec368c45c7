"""Files moved to and between hosts in pieces: no call carries, and no side holds, more than one piece.

Why: a backup zip of a Sage CRM install is hundreds of megabytes. Read or written in one
primitive call it is held whole, base64 and all, by the controller and by the PowerShell helper,
whose shell may be capped at MaxMemoryPerShellMB (150 MB on older Windows, 1024 by MS-WSMV's
default); `file.read` on Windows refuses more than 32 MiB per call for that reason. Here a file is
read with `file.read` offset/max_bytes and written with `file.write append` to a temporary file
beside the target, whose sha256 is checked before `file.move overwrite` swaps it in: the target
is either the old file or the whole new one, never a part.

From the controller (`upload_file`, `upload_tree`), a WinRM connection streams the bytes on the
helper's raw stdin (`send_file`: base64 once, Sends as full as MaxEnvelopeSize allows, resumed
after a dropped connection); the temporary file is named after the content's sha256, so a run
cut short is continued by the next one. A folder travels as ONE zip stream built while it is sent
(deflate level 1, the install trees being mostly text; a file whose first bytes do not deflate
is stored) and is unpacked by `archive.extract`, which
checks every member before it writes; 10,000 small files cost one transfer, not 10,000 calls.
Other connections get the same pieces through `file.write append`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from engine.api.module import ModuleFailed
from engine.api.primitives import Remote
from modules._common import call, digest

#: Bytes per piece: about 5.3 MB of base64 in one batch, far below any shell's memory quota.
PIECE = 4 << 20
#: Seconds between two progress lines of one transfer.
PROGRESS_EVERY = 1.0

#: A progress line for the console (`ctx.progress`).
Say = Callable[[str], None]


def read_pieces(remote: Remote, path: str, piece: int = PIECE) -> Iterator[bytes]:
    """The file's bytes, piece by piece, from the start."""
    offset = 0
    while True:
        value = call(remote, "file.read", path=path, offset=offset, max_bytes=piece)
        data = base64.b64decode(value["content_b64"])
        if data:
            yield data
        offset += len(data)
        if not value.get("truncated") or not data:
            return


def write_pieces(remote: Remote, path: str, pieces: Iterable[bytes], sha256: str | None = None) -> str:
    """Write `pieces` to `path` through a temporary file beside it; the file's sha256.

    When `sha256` is given the temporary file must have it before it replaces `path`; a failure
    removes the temporary file and leaves `path` as it was.
    """
    folder, _sep, _name = path.rpartition("\\")
    temp = f"{folder}\\~ct-{uuid.uuid4().hex[:8]}.part"
    hasher = hashlib.sha256()
    try:
        first = True
        for data in pieces:
            hasher.update(data)
            call(remote, "file.write", path=temp, content_b64=base64.b64encode(data).decode("ascii"),
                 append=None if first else True)  # fmt: skip
            first = False
        if first:  # an empty file
            call(remote, "file.write", path=temp, content_b64="")
        written = digest(remote, temp)
        if written != hasher.hexdigest() or (sha256 is not None and written != sha256):
            raise ModuleFailed(
                f"{path}: the copy written has sha256 {written}, expected {sha256 or hasher.hexdigest()}"
            )
        call(remote, "file.move", src=temp, dest=path, overwrite=True)
        return written
    except BaseException:
        call_quietly(remote, temp)
        raise


def copy_between(source: Remote, src: str, target: Remote, dest: str, sha256: str | None = None) -> str:
    """A file of one host copied to another, piece by piece; its sha256 on the target."""
    return write_pieces(target, dest, read_pieces(source, src), sha256)


def call_quietly(remote: Remote, temp: str) -> None:
    """Remove a temporary file, if there is one; a failure here must not hide the first one."""
    try:
        remote.try_call("file.remove", path=temp)
    except Exception:  # noqa: BLE001 - the connection may be the thing that failed
        pass


def upload_file(
    remote: Remote, local: Path, dest: str, sha256: str | None = None, progress: Say | None = None
) -> str:
    """A controller file written to `dest` (through a temporary file beside it) -> its sha256."""
    size = local.stat().st_size
    expected = sha256 or file_sha256(local)
    folder = dest.rpartition("\\")[0]
    temp = f"{folder}\\~ct-{expected[:16]}.part"
    meter = Meter(f"copying {local.name}", size, progress)
    send = getattr(remote.connection, "send_file", None)
    if send is None:
        return write_pieces(remote, dest, _file_pieces(local, meter), expected)
    written = send(temp, lambda: open(local, "rb"), size=size, resume=True, progress=meter,
                   timeout=remote.timeout, sha256=expected, local=str(local))  # fmt: skip
    if written["sha256"] != expected:
        call_quietly(remote, temp)
        raise ModuleFailed(f"{dest}: the copy written has sha256 {written['sha256']}, expected {expected}")
    call(remote, "file.move", src=temp, dest=dest, overwrite=True)
    return expected


def upload_tree(remote: Remote, local: Path, dest: str, progress: Say | None = None) -> dict[str, Any]:
    """A controller folder unpacked into `dest` (created) from one zip stream -> {files, bytes, sha256}."""
    files = sorted(p for p in local.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    folder = dest.rstrip("\\").rpartition("\\")[0]
    temp = f"{folder}\\~ct-{uuid.uuid4().hex[:8]}.zip"
    meter = Meter(f"copying {local.name}", total, progress, files=len(files))
    send = getattr(remote.connection, "send_file", None)
    try:
        if send is None:
            sha = write_pieces(remote, temp, _stream_pieces(ZipStream(local, files).open()))
            sent = {"sha256": sha}
        else:
            sent = send(temp, ZipStream(local, files, meter).open, resume=False, timeout=remote.timeout)
        unpacked = call(remote, "archive.extract", src=temp, dest=dest, overwrite=True)
    finally:
        call_quietly(remote, temp)
    meter.done()
    return {"files": int(unpacked.get("files") or len(files)), "bytes": total, "sha256": sent["sha256"]}


def file_sha256(path: Path) -> str:
    """sha256 of a controller file, read in pieces."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            hasher.update(piece)
    return hasher.hexdigest()


def _file_pieces(path: Path, meter: Meter) -> Iterator[bytes]:
    done = 0
    with open(path, "rb") as handle:
        while piece := handle.read(PIECE):
            done += len(piece)
            meter(done)
            yield piece


def _stream_pieces(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while piece := stream.read(PIECE):
            yield piece


class ZipStream:
    """A folder as a zip built while it is read (a pipe fed by a thread): nothing held whole.

    `open()` builds it again from the first byte (a resumed transfer hashes the part already
    sent); member times come from the files, so every build has the same bytes.
    """

    def __init__(self, root: Path, files: list[Path], meter: Meter | None = None) -> None:
        self.root, self.files, self.meter = root, files, meter

    def open(self) -> BinaryIO:
        read, write = os.pipe()
        threading.Thread(target=self._build, args=(write,), daemon=True, name="zip-stream").start()
        return os.fdopen(read, "rb", buffering=1 << 20)

    def _build(self, fd: int) -> None:
        done = 0
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:  # fmt: skip
                for count, path in enumerate(self.files, 1):
                    done += _add_member(archive, path, path.relative_to(self.root).as_posix())
                    if self.meter is not None:  # the pipe is small: what is zipped is about what is sent
                        self.meter(done, None, files=count)
        except (BrokenPipeError, ValueError, OSError):
            pass  # the reader went away (a cut transfer): the next open() builds it again


#: Bytes of a file deflated to decide how to store it, and the ratio above which it is stored.
SAMPLE, STORE_ABOVE = 4096, 0.9
#: Bytes per read while a member is added.
MEMBER_READ = 1 << 20


def _add_member(archive: zipfile.ZipFile, path: Path, name: str) -> int:
    """Add one file -> its size. Stored as it is when its first SAMPLE bytes do not deflate (a zip,
    a compressed DLL section, media: deflate would only cost the controller's CPU), else
    deflated; the choice depends on the content only, so every build has the same bytes."""
    info = zipfile.ZipInfo.from_file(path, name)
    with open(path, "rb") as source:
        head = source.read(SAMPLE)
        packed = len(zlib.compress(head, 1)) if head else 0
        info.compress_type = zipfile.ZIP_STORED if packed > STORE_ABOVE * len(head) else zipfile.ZIP_DEFLATED
        info._compresslevel = 1  # noqa: SLF001 - ZipFile.write's compresslevel; ZipInfo has no public one before 3.13
        with archive.open(info, "w") as member:
            member.write(head)
            while piece := source.read(MEMBER_READ):
                member.write(piece)
    return info.file_size


class Meter:
    """Turns "so many bytes (and files) are done" into console lines: MB, MB/s, files/s and the
    time left, at most once every PROGRESS_EVERY seconds."""

    def __init__(self, what: str, total: int, say: Say | None, files: int = 0) -> None:
        self.what, self.total, self.say, self.files = what, total, say, files
        self.started = time.monotonic()
        self.shown = 0.0
        self.bytes = 0
        self.files_done = 0

    def __call__(self, done: int, _total: int | None = None, files: int | None = None) -> None:
        """`done` bytes of `total` are through; `files` of a folder (counted by the zip builder)."""
        self.bytes = done
        if files is not None:
            self.files_done = files
        now = time.monotonic()
        if self.say is not None and now - self.shown >= PROGRESS_EVERY:
            self.shown = now
            self.say(self.line(now))

    def done(self) -> None:
        """The last line: everything is there."""
        if self.say is not None:
            self.bytes, self.files_done = self.total, self.files
            self.say(self.line(time.monotonic()))

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = self.bytes / elapsed
        text = f"{self.what}: {self.bytes / 1e6:,.0f} of {self.total / 1e6:,.0f} MB, {rate / 1e6:,.1f} MB/s"
        if self.files:
            text += (
                f", {self.files_done:,d} of {self.files:,d} files, {self.files_done / elapsed:,.0f} files/s"
            )
        if rate > 0 and self.total > self.bytes:
            text += f", about {int((self.total - self.bytes) / rate) + 1:,d} s left"
        return text
