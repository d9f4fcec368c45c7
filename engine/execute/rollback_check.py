"""Before a rollback changes anything: every backup it will restore from is there, whole, readable.

A run with `--from-run RUN` restores from RUN's verified artifacts. Each restore step checks its
own artifact again, but only when it comes: by then the servers were taken off the database and
IIS stopped, so one tampered backup left the estate down. This looks at all of them first, from
where each will be restored (the artifact's host through the primitives, or the controller for
one without a host): it exists, it is a file of the recorded size, and its sha256 is the
recorded one (reading it whole proves it readable). A backup also copied off the servers
(`sagecrm.backup_copy`) passes when either place holds it intact: the restore step brings the
copy back. Any other mismatch refuses the whole rollback with the list, before the first step:
the estate is untouched.

Checked: the verified artifacts of RUN with a recorded sha256 (files a restore reads; an old
setting such as an IIS physical path is a recorded value, not a file), recorded for a host of
this plan or for no host (the database dumps and definitions kept on the controller).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine.api.module import Artifact
from engine.api.primitives import PrimitiveFailed, Remote
from engine.core.errors import CutoverError, RefusedError
from engine.db.copies import off_server_copy

#: at most this many problems are listed one by one (the rest are counted)
LISTED = 20


def _local_problem(art: Artifact) -> str | None:
    path = Path(art.location)
    if not path.exists():
        return "missing"
    if not path.is_file():
        return "not a file"
    size = path.stat().st_size
    if art.size is not None and size != art.size:
        return f"size {size}, recorded {art.size}"
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        return f"unreadable: {err.strerror}"
    return _digest_problem(art, digest.hexdigest())


def _digest_problem(art: Artifact, found: str) -> str | None:
    if art.sha256 and found.lower() != art.sha256.lower():
        return f"sha256 {found[:12]}..., recorded {art.sha256[:12]}..."
    return None


def _remote_problem(art: Artifact, remote: Remote) -> str | None:
    try:
        stat = remote.call("file.stat", path=art.location)
    except PrimitiveFailed as err:
        return f"cannot be read: {err}"
    if not stat.get("exists"):
        return "missing"
    if stat.get("type") != "file":
        return f"not a file ({stat.get('type')})"
    if art.size is not None and stat.get("size") != art.size:
        return f"size {stat.get('size')}, recorded {art.size}"
    try:
        hashed = remote.call("file.hash", path=art.location)
    except PrimitiveFailed as err:
        return f"unreadable: {err}"
    return _digest_problem(art, str(hashed.get("digest", "")))


def _problem(art: Artifact, remote_for: Callable[[str], Remote]) -> str | None:
    try:
        return _remote_problem(art, remote_for(art.host)) if art.host else _local_problem(art)
    except CutoverError as err:  # the host cannot be reached: it cannot restore from there
        return f"its host cannot be reached: {err}"


def _where(art: Artifact) -> str:
    return f"{art.host}:{art.location}" if art.host else art.location


def artifact_problems(artifacts: Iterable[Artifact], remote_for: Callable[[str], Remote]) -> list[str]:
    """One line per artifact that is not as recorded: `host:location (resource): what is wrong`.

    A backup with an off-server copy (engine/db/copies.py) is a problem only when neither the
    server's file nor the copy is as recorded: the restore brings an intact copy back itself.
    """
    problems = []
    for art in artifacts:
        problem = _problem(art, remote_for)
        copy = off_server_copy(art) if problem else None
        if copy is not None:
            copy_problem = _problem(copy, remote_for)
            if copy_problem is None:
                continue
            problem += f"; its off-server copy {_where(copy)}: {copy_problem}"
        if problem:
            problems.append(f"{_where(art)} ({art.resource}): {problem}")
    return problems


def refuse_unless_whole(from_run: str, artifacts: list[Artifact], hosts: set[str],
                        remote_for: Callable[[str], Any]) -> int:
    """RefusedError listing every backup of `from_run` not as recorded; else how many were checked."""
    wanted = [a for a in artifacts if a.verified and a.sha256 and (a.host is None or a.host in hosts)]
    problems = artifact_problems(wanted, remote_for)
    if problems:
        listed = "\n  ".join(problems[:LISTED])
        more = f"\n  ... and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
        raise RefusedError(
            f"rollback from run {from_run} refused before any step, the estate untouched: "
            f"{len(problems)} of its {len(wanted)} backup(s) are not as recorded:\n  {listed}{more}\n"
            "Restore the files named from a copy (or find the good ones) and run the rollback again."
        )
    return len(wanted)
