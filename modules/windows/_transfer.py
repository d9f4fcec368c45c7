"""Files moved between hosts in pieces: no call carries, and no side holds, more than one piece.

Why: a backup zip of a Sage CRM install is hundreds of megabytes. Read or written in one
primitive call it is held whole, base64 and all, by the controller and by the PowerShell helper,
whose shell may be capped at MaxMemoryPerShellMB (150 MB on older Windows, 1024 by MS-WSMV's
default); `file.read` on Windows refuses more than 32 MiB per call for that reason. Here a file is
read with `file.read` offset/max_bytes and written with `file.write append` to a temporary file
beside the target, whose sha256 is checked before `file.move overwrite` swaps it in: the target
is either the old file or the whole new one, never a part.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Iterator

from engine.api.module import ModuleFailed
from engine.api.primitives import Remote
from modules._common import call, digest

#: Bytes per piece: about 5.3 MB of base64 in one batch, far below any shell's memory quota.
PIECE = 4 << 20


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
