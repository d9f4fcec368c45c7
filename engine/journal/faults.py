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
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.core.errors import CutoverError, RefusedError, UserError

CHECK = "cutover journal check"


def _check_hint(path: Path) -> str:
    return f"`{CHECK} --state-dir {path.parent}` says what is damaged"


#: (words of SQLite's message, what it means, what to do): `{path}` and `{folder}` filled in
_SQLITE_ANSWERS = (
    (("disk is full",), "journal {path}: the disk is full; nothing more can be recorded, so the run stopped",
     "free space on the file system of {folder}, then `cutover resume RUN`"),
    (("readonly", "read-only"), "journal {path} cannot be written (a read-only file or file system)",
     "make {folder} writable by this user, or point --state-dir elsewhere"),
    (("not a database",), "{path} is not a cutover journal (not an SQLite database)",
     "point --state-dir at the right folder, or move the file aside; {check}"),
    (("malformed", "corrupt"), "journal {path} is damaged (database disk image is malformed)",
     "{check}; keep the file and its -wal beside it, then "
     "`sqlite3 {path} .recover | sqlite3 {folder}/recovered.db`"),
)  # fmt: skip


def answer(err: BaseException, path: Path) -> CutoverError | None:
    """The operator's answer to `err` met while using the journal at `path`, or None (not a journal fault)."""
    folder = path.parent
    if isinstance(err, sqlite3.Error):
        text = str(err).lower()
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
            return UserError(
                f"journal {path}: no space left on the device",
                hint=f"free space on the file system of {folder}, then run again",
            )
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return UserError(
                f"the state directory {folder} cannot be written ({err.strerror})",
                hint="make it writable by this user, or point --state-dir elsewhere",
            )
        if err.errno in (errno.ENOTDIR, errno.EEXIST):
            return _unusable_folder(path)
    return None


def _unusable_folder(path: Path) -> UserError:
    for folder in (path.parent, *path.parent.parents):
        if folder.exists() and not folder.is_dir():
            return UserError(
                f"the state directory {path.parent} cannot be made: {folder} is a file, not a folder",
                hint="move the file aside, or point --state-dir elsewhere",
            )
        if folder.exists():
            break
    if path.is_dir():
        return UserError(
            f"journal {path} is a folder, not a file", hint="move it aside, or point --state-dir elsewhere"
        )
    return UserError(
        f"journal {path} cannot be opened or created",
        hint=f"check that {path.parent} exists and this user may write there",
    )


@contextmanager
def translated(path: str | Path) -> Iterator[None]:
    """Inside: a journal fault leaves as the operator's answer (UserError, RefusedError), not a traceback."""
    try:
        yield
    except (sqlite3.Error, OSError) as err:
        found = answer(err, Path(path))
        if found is None:
            raise
        raise found from None
