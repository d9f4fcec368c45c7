"""What goes wrong with a journal file, told as an answer: one line naming the file and what to do.

SQLite and the operating system report a full disk, a read-only or missing state directory, a
state path that is a file, a file that is not a database, a damaged one, or a journal another
process holds, as `sqlite3.Error`s and `OSError`s whose text means little to an operator and
which used to escape as tracebacks. `translated(path)` turns each into a `UserError` (exit 2:
the operator fixes the cause) or a `RefusedError` (exit 3: another process holds it), so
nothing runs unjournaled: a journal that cannot be opened stops the command before any step,
one that cannot be written stops the run where it stands (what was committed stays).
The texts are SQLite's result codes' messages (https://www.sqlite.org/rescode.html):
SQLITE_FULL "database or disk is full", SQLITE_READONLY "attempt to write a readonly
database", SQLITE_CANTOPEN "unable to open database file", SQLITE_NOTADB "file is not a
database", SQLITE_CORRUPT "database disk image is malformed", SQLITE_BUSY "database is locked".
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.core.errors import CutoverError, RefusedError, UserError

CHECK = "cutover journal check"


def _check_hint(path: Path) -> str:
    return f"`{CHECK} --state-dir {path.parent}` says what is damaged"


#: below this many free bytes, SQLite's "disk I/O error" (SQLITE_IOERR_WRITE, _SHMSIZE: a -wal or
#: -shm file that cannot grow) is a full disk: what the operator must fix is the free space
_NEARLY_FULL = 64 * 1024


def _full(path: Path, run_id: str | None) -> UserError:
    """The disk of the journal is full: the run stopped where it stands (or none was started)."""
    if run_id is None:
        return UserError(
            f"journal {path}: the disk is full; nothing was run",
            hint=f"free space on the file system of {path.parent}, then run again",
        )
    return UserError(
        f"journal {path}: the disk is full; nothing more can be recorded, so run {run_id} stopped",
        hint=f"free space on the file system of {path.parent}, then `cutover resume {run_id}`",
    )


def _nearly_full(folder: Path) -> bool:
    try:
        found = os.statvfs(folder)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < _NEARLY_FULL


#: (words of SQLite's message, what it means, what to do): `{path}` and `{folder}` filled in
_SQLITE_ANSWERS = (
    (("readonly", "read-only"), "journal {path} cannot be written (a read-only file or file system)",
     "make {folder} writable by this user, or point --state-dir elsewhere"),
    (("not a database",), "{path} is not a cutover journal (not an SQLite database)",
     "point --state-dir at the right folder, or move the file aside; {check}"),
    (("malformed", "corrupt"), "journal {path} is damaged (database disk image is malformed)",
     "{check}; keep the file and its -wal beside it, then "
     "`sqlite3 {path} .recover | sqlite3 {folder}/recovered.db`"),
)  # fmt: skip


def answer(err: BaseException, path: Path, run_id: str | None = None) -> CutoverError | None:
    """The operator's answer to `err` met while using the journal at `path` (during run `run_id`,
    when one is recorded: the hint names the resume command), or None (not a journal fault)."""
    folder = path.parent
    if isinstance(err, sqlite3.Error):
        text = str(err).lower()
        if "disk is full" in text or ("disk i/o error" in text and _nearly_full(folder)):
            return _full(path, run_id)
        fill = {"path": path, "folder": folder, "check": _check_hint(path)}
        for words, message, hint in _SQLITE_ANSWERS:
            if any(word in text for word in words):
                return UserError(message.format(**fill), hint=hint.format(**fill))
        if "locked" in text or "busy" in text:
            return RefusedError(
                f"journal {path} is locked by another cutover process (a run starting or "
                "running from this state directory); try again once it has started, "
                f"or see who with `cutover runs --state-dir {folder}`"
            )
        if "unable to open" in text:
            return _unusable_folder(path)
        return UserError(f"journal {path}: {err}", hint=_check_hint(path))
    if isinstance(err, OSError):
        if err.errno == errno.ENOSPC:
            return _full(path, run_id)
        if err.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.EROFS, errno.EACCES, errno.EPERM):
            return _unusable_folder(path, err.strerror)
    return None


def _unusable_folder(path: Path, why: str | None = None) -> UserError:
    """The state directory (or a folder above it) that stops the journal, named with the reason."""
    state = path.parent
    existing = next((f for f in (state, *state.parents) if f.exists()), None)
    if existing is not None and not existing.is_dir():
        return UserError(
            f"the state directory {state} cannot be made: {existing} is a file, not a folder",
            hint="move the file aside, or point --state-dir elsewhere",
        )
    if path.is_dir():
        return UserError(
            f"journal {path} is a folder, not a file", hint="move it aside, or point --state-dir elsewhere"
        )
    hint = "make it writable by this user, or point --state-dir elsewhere"
    if existing is not None and existing != state:  # missing, and cannot be made where it would go
        return UserError(
            f"the state directory {state} is missing and cannot be made in {existing} "
            f"({why or _why_not_writable(existing)})",
            hint=f"create {state} yourself, or point --state-dir at a folder this user may write",
        )
    return UserError(
        f"the state directory {state} cannot be written ({why or _why_not_writable(state)})", hint=hint
    )


def _why_not_writable(folder: Path) -> str:
    """Why SQLite could not open or create a file in `folder`, in the words of the operating system."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    except OSError as err:
        return err.strerror or str(err)
    if not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return "SQLite: unable to open database file"


@contextmanager
def translated(path: str | Path, run_id: str | None = None) -> Iterator[None]:
    """Inside: a journal fault leaves as the operator's answer (UserError, RefusedError), not a traceback."""
    try:
        yield
    except (sqlite3.Error, OSError) as err:
        found = answer(err, Path(path), run_id)
        if found is None:
            raise
        raise found from None
