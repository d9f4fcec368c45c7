"""SQLite backups through the online backup API (the embedded demo's database, on the controller).

`sqlite3.Connection.backup` copies pages consistently while other connections keep working,
unlike a file copy that can catch a half-written transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator

from engine.db.errors import BackupInvalid, DbError


def _uri(path: str, mode: str) -> str:
    return "file:" + urllib.parse.quote(os.path.abspath(path)) + f"?mode={mode}"


@contextlib.contextmanager
def _open(path: str, mode: str, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(_uri(path, mode), uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise DbError(f"cannot open sqlite database {path}: {exc}") from None
    try:
        yield conn
    finally:
        conn.close()


def backup(source: str, dest: str) -> None:
    """Copy the database at `source` to a new file `dest`."""
    if not os.path.isfile(source):
        raise DbError(f"sqlite database {source} does not exist")
    try:
        with _open(source, "ro") as src, _open(dest, "rwc") as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        with contextlib.suppress(OSError):
            os.remove(dest)
        raise DbError(f"sqlite backup of {source} failed: {exc}") from None


def integrity_check(path: str) -> str:
    """PRAGMA integrity_check on a backup file; its method name, or BackupInvalid."""
    if not os.path.isfile(path):
        raise BackupInvalid(f"backup {path} does not exist")
    try:
        with _open(path, "ro") as conn:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        raise BackupInvalid(f"backup {path} is not a readable sqlite database: {exc}") from None
    if rows != ["ok"]:
        raise BackupInvalid(f"backup {path} failed integrity_check: {'; '.join(map(str, rows[:5]))}")
    return "integrity_check"


def tables(path: str) -> list[str]:
    """User table names in a database file (to compare a test restore with the source)."""
    with _open(path, "ro") as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
        ).fetchall()
    return sorted(r[0] for r in rows)


def restore(backup_path: str, dest: str, timeout: float = 30.0) -> None:
    """Overwrite the database at `dest` with the backup (waits up to `timeout` for other writers)."""
    try:
        with _open(backup_path, "ro") as src, _open(dest, "rwc", timeout) as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        raise DbError(f"sqlite restore of {dest} from {backup_path} failed: {exc}") from None
