"""Backups copied off the servers after they are taken, and brought back when the server lost its own.

Why: a backup kept only on the server being upgraded goes with that server (a failed disk, a
botched install that removes the folder, ransomware): the Sage CRM guide wants the manual backups
"stocké[s] de façon complètement indépendante de l'environnement de mise à jour". `copy_off`
copies a verified backup to its destination, a UNC share reached from the server (the server
copies it there itself, or, for a file on the controller, it is written there through the
server's connection in pieces) or a folder on the controller (read from the server through the
run's connection, in pieces: never a second connection per file), hashes the copy where it
landed and records it with the artifact (engine/db/copies.py). `bring_back` is the restore's
side: the server's own copy is used when it is there with the recorded sha256; otherwise the
off-server copy, checked first, is put back at the recorded place and checked again there,
before the restore changes anything.
"""

from __future__ import annotations

import dataclasses
import ntpath
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.api.module import Artifact, ModuleFailed, TaskContext
from engine.api.primitives import Remote
from engine.db.copies import copy_record, off_server_copy
from engine.db.errors import DbError
from engine.db.files import LocalFiles, RemoteFiles
from modules._common import call
from modules.windows._transfer import PIECE, read_pieces, write_pieces

#: what `bring_back` answers: which copy the restore reads
LOCAL, BROUGHT_BACK = "server copy", "off-server copy"


@dataclass(frozen=True)
class Destination:
    """Where this run's backups are copied: `unc` (a folder on a share) or `controller` (a folder here)."""

    kind: str
    folder: str

    def path_for(self, name: str) -> str:
        return ntpath.join(self.folder, name) if self.kind == "unc" else os.path.join(self.folder, name)


def copy_off(ctx: TaskContext, artifact: Artifact, dest: Destination) -> Artifact:
    """`artifact` with its off-server copy recorded, once the copy's sha256 (computed where it
    landed) is the one recorded when the backup was verified; ModuleFailed otherwise."""
    name = _basename(artifact)
    target = dest.path_for(name)
    if dest.kind == "unc":
        server = ctx.require_remote()
        call(server, "file.mkdir", path=dest.folder, parents=True)
        if artifact.host == server.host_name:  # the server copies its own file to the share
            call(server, "file.copy", src=artifact.location, dest=target, overwrite=True)
            landed = _hash(server, target)
        elif artifact.host is None:  # a file of the controller, written to the share through the server
            landed = write_pieces(server, target, _local_pieces(artifact.location), artifact.sha256)
        else:
            source = _remote_of(ctx, artifact.host)
            landed = write_pieces(server, target, read_pieces(source, artifact.location), artifact.sha256)
        via: str | None = server.host_name
    else:
        pieces = (
            _local_pieces(artifact.location)
            if artifact.host is None
            else read_pieces(_remote_of(ctx, artifact.host), artifact.location)
        )
        landed = _write_local(target, pieces)
        via = None
    if landed != artifact.sha256:
        raise ModuleFailed(
            f"the off-server copy {target} of {artifact.location} has sha256 {str(landed)[:12]}..., "
            f"recorded {str(artifact.sha256)[:12]}...: not recorded as a copy"
        )
    record = copy_record(dest.kind, target, via, landed, int(artifact.size or 0))
    return dataclasses.replace(artifact, meta={**artifact.meta, "copy": record})


def bring_back(ctx: TaskContext, artifact: Artifact) -> str:
    """Make the artifact's file whole at its recorded place; which copy the restore then reads.

    The server's copy wins when it has the recorded sha256. Otherwise the off-server copy must
    have it (else ModuleFailed naming both, before anything changed); it is copied back and the
    server's copy hashed again. An artifact without an off-server copy is left to the caller's
    own check (its refusal says what is wrong with the only copy there is).
    """
    local = _problem(ctx, artifact)
    copy = off_server_copy(artifact)
    if local is None or copy is None:
        return LOCAL
    remote_problem = _problem(ctx, copy)
    if remote_problem is not None:
        raise ModuleFailed(
            f"refusing to restore from {_where(artifact)}: it is {local}, and its off-server copy "
            f"{_where(copy)} is {remote_problem}; nothing was changed"
        )
    if ctx.check_mode:
        return BROUGHT_BACK
    _copy_back(ctx, copy, artifact)
    again = _problem(ctx, artifact)
    if again is not None:
        raise ModuleFailed(
            f"{_where(artifact)} brought back from {copy.location} is {again}; nothing was changed"
        )
    ctx.progress(f"{artifact.location} was {local}: brought back from {copy.location} (sha256 matched)")
    return BROUGHT_BACK


# --- where files are and how they move -------------------------------------------------------------
def _copy_back(ctx: TaskContext, copy: Artifact, artifact: Artifact) -> None:
    if artifact.host is None:
        source = (
            _local_pieces(copy.location)
            if copy.host is None
            else read_pieces(_remote_of(ctx, copy.host), copy.location)
        )
        _write_local(artifact.location, source)
        return
    server = _remote_of(ctx, artifact.host)
    call(server, "file.mkdir", path=ntpath.dirname(artifact.location), parents=True)
    if copy.host == artifact.host:  # the share, read by the server that writes its own copy
        call(server, "file.copy", src=copy.location, dest=artifact.location, overwrite=True)
        return
    pieces = (
        _local_pieces(copy.location)
        if copy.host is None
        else read_pieces(_remote_of(ctx, copy.host), copy.location)
    )
    write_pieces(server, artifact.location, pieces, artifact.sha256)


def _problem(ctx: TaskContext, artifact: Artifact) -> str | None:
    """None when the file has the recorded sha256; else what is wrong with it, in a few words."""
    try:
        files = LocalFiles() if artifact.host is None else RemoteFiles(_remote_of(ctx, artifact.host))
        if not files.stat(artifact.location).get("exists"):
            return "missing"
        found, _size = files.hash(artifact.location)
    except DbError as err:
        return f"unreadable ({err})"
    if found.lower() != str(artifact.sha256 or "").lower():
        return f"changed (sha256 {found[:12]}..., recorded {str(artifact.sha256)[:12]}...)"
    return None


def _remote_of(ctx: TaskContext, host: str) -> Remote:
    """The connection to `host`: the task's own when it is that host, else the run's pool's."""
    if ctx.remote is not None and ctx.remote.host_name == host:
        return ctx.remote
    inventory = ctx.run.inventory
    if inventory is None or host not in inventory.hosts:
        raise ModuleFailed(f"the backup was recorded on {host}, which this inventory does not name")
    return ctx.remote_for(inventory.hosts[host])


def _hash(remote: Remote, path: str) -> str:
    return str(call(remote, "file.hash", path=path)["digest"]).lower()


def _where(artifact: Artifact) -> str:
    return f"{artifact.host}:{artifact.location}" if artifact.host else artifact.location


def _basename(artifact: Artifact) -> str:
    return ntpath.basename(artifact.location) if artifact.host else os.path.basename(artifact.location)


def _local_pieces(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            while data := handle.read(PIECE):
                yield data
    except OSError as err:
        raise ModuleFailed(f"cannot read {path} on the controller: {err.strerror}") from None


def _write_local(path: str, pieces: Iterable[bytes]) -> str:
    """Write a controller file through a temporary file beside it (never a half file); its sha256
    as read back from the disk."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temp = f"{path}.part"
    try:
        with open(temp, "wb") as handle:
            for data in pieces:
                handle.write(data)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    try:  # hashed again where it landed, read back from the disk
        return LocalFiles().hash(path)[0]
    except DbError as err:
        raise ModuleFailed(str(err)) from None
