"""Backup, verify, restore and session counts for every dialect, behind one set of functions.

Modules call these and never branch on the dialect themselves. The order inside each function
is the safety argument: a backup is hashed where it lies and only called verified after the
dialect's own check passed (RESTORE VERIFYONLY, the dump's completion marker or a full read,
PRAGMA integrity_check) and, when asked, after a test restore into a scratch database that is
dropped again.
"""

from __future__ import annotations

import datetime as _dt
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.api.module import utcnow
from engine.db import dumps, mssql, serverops, sqlite_ops
from engine.db.catalog import list_tables
from engine.db.database import Database, connect
from engine.db.dialects import dialect_for, is_mysql_family
from engine.db.errors import BackupInvalid, DbError, Unsupported
from engine.db.files import HostFiles, join
from engine.db.target import Target

VERIFY_METHODS = ("default", "restore")
RESTORE_CLEAN = ("database", "objects")

_EXTENSIONS = {
    "mssql": ".bak",
    "mariadb": ".sql",
    "mysql": ".sql",
    "postgresql": ".dump",
    "sqlite": ".sqlite",
}


@dataclass(slots=True)
class BackupRecord:
    """A verified backup file: what an Artifact of kind `db_backup` records."""

    location: str
    host: str | None
    dialect: str
    database: str
    kind: str = "full"
    size: int = 0
    sha256: str = ""
    verified: bool = False
    verify_method: str = ""
    taken_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def artifact_meta(self) -> dict[str, Any]:
        """Artifact.meta: dialect, database, verify method, kind, plus what a restore re-uses."""
        return {
            "dialect": self.dialect,
            "database": self.database,
            "verify": self.verify_method,
            "kind": self.kind,
            **self.meta,
        }


def utc_stamp() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def database_of(target: Target) -> str:
    """The database a target is about (the file name for SQLite)."""
    if target.dialect == "sqlite":
        return (target.path or "").replace("\\", "/").rsplit("/", 1)[-1]
    target.require("database")
    return str(target.database)


def backup_prefix(target: Target) -> str:
    """The start of every backup file name this engine writes for the target (clean-up matches it)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", database_of(target))[:80] + "-"


def backup_filename(target: Target, kind: str = "full") -> str:
    """`<database>-<kind>-<UTC stamp>-<random>.<ext>`: sortable, never overwriting another backup."""
    ext = ".trn" if kind == "log" else _EXTENSIONS[target.dialect]
    return f"{backup_prefix(target)}{kind}-{utc_stamp()}-{secrets.token_hex(3)}{ext}"


def scratch_name(target: Target) -> str:
    """A throw-away database name for a test restore, within the dialect's length limit."""
    suffix = f"_verify_{secrets.token_hex(4)}"
    limit = dialect_for(target.dialect).max_identifier - len(suffix)
    return re.sub(r"[^A-Za-z0-9_]", "_", database_of(target))[:limit] + suffix


def admin_connection(target: Target) -> Database:
    """An autocommit connection that does not sit in the target database (master, postgres, none)."""
    return connect(target, database=dialect_for(target.dialect).admin_database, autocommit=True)


# --- backup ----------------------------------------------------------------------------------------


def percent_line(
    target: Target, done: str, progress: Callable[[str], None] | None
) -> Callable[[int], None] | None:
    """SQL Server's STATS percentages as the step's live line: `db:<target> 40 % backed up`."""
    if progress is None:
        return None
    return lambda percent: progress(f"db:{target.name} {percent} % {done}")


def take_backup(
    target: Target,
    files: HostFiles,
    directory: str | None = None,
    *,
    filename: str | None = None,
    kind: str = "full",
    verify: str = "default",
    compress: bool | None = None,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> BackupRecord:
    """Back up the target into `directory` (default: its backup_dir), hash and verify the file.

    `progress` gets a line as SQL Server reports how far it is (`db:crm 40 % backed up`)."""
    if verify not in VERIFY_METHODS:
        raise DbError(f"verify must be one of {', '.join(VERIFY_METHODS)}, not {verify!r}")
    if kind != "full" and target.dialect != "mssql":
        raise Unsupported(f"a {kind} backup", target.dialect)
    directory = directory or target.backup_dir
    if not directory:
        raise DbError(f"database target {target.name!r} has no backup_dir; give `dest:`")
    database = database_of(target)
    files.mkdir(directory)
    path = join(files, directory, filename or backup_filename(target, kind))
    record = BackupRecord(path, files.host, target.dialect, database, kind, taken_at=utcnow())
    if target.dialect == "mssql":
        with admin_connection(target) as db:
            shown = percent_line(target, "backed up", progress)
            _, record.meta["compressed"] = mssql.backup(db, database, path, kind, compress, progress=shown)
    elif target.dialect == "sqlite":
        record.meta["tables"] = sqlite_ops.tables(str(target.path))
        sqlite_ops.backup(str(target.path), path)
    else:
        with connect(target, autocommit=True) as db:
            record.meta["properties"] = serverops.database_properties(db, database)
            record.meta["tables"] = [t.display for t in list_tables(db)]
        dumps.dump(files, target, database, path, timeout=timeout)
    record.sha256, record.size = files.hash(path)
    record.verify_method = verify_backup(target, files, path, method=verify, meta=record.meta, kind=kind)
    record.verified = True
    return record


# --- verification ----------------------------------------------------------------------------------


def verify_backup(
    target: Target,
    files: HostFiles,
    path: str,
    *,
    method: str = "default",
    meta: dict[str, Any] | None = None,
    kind: str = "full",
    timeout: float | None = None,
) -> str:
    """Check a backup file; the method(s) used, or BackupInvalid saying what is wrong."""
    if method == "restore" and kind != "full":
        raise DbError(f"a test restore needs a full backup, not a {kind} backup")
    if target.dialect == "mssql":
        return _verify_mssql(target, path, method == "restore")
    if target.dialect == "sqlite":
        done = sqlite_ops.integrity_check(path)
        if method == "restore":
            _test_restore_sqlite(path, meta)
            done += " + test restore"
        return done
    done = dumps.check_dump(files, target, path, timeout=timeout)
    if method == "restore":
        _test_restore_dump(target, files, path, meta, timeout)
        done += " + test restore"
    return done


def _verify_mssql(target: Target, path: str, test_restore: bool) -> str:
    with admin_connection(target) as db:
        try:
            mssql.verify(db, path)
        except DbError as exc:
            raise BackupInvalid(f"RESTORE VERIFYONLY failed for {path}: {exc}") from None
        if not test_restore:
            return "RESTORE VERIFYONLY"
        try:
            mssql.restore_scratch(db, path, scratch_name(target))
        except DbError as exc:
            raise BackupInvalid(f"test restore of {path} failed: {exc}") from None
    return "RESTORE VERIFYONLY + test restore"


def _compare_tables(path: str, restored: list[str], meta: dict[str, Any] | None) -> None:
    expected = (meta or {}).get("tables")
    if expected is not None and sorted(restored) != sorted(expected):
        missing = sorted(set(expected) - set(restored))
        raise BackupInvalid(f"test restore of {path} lacks tables: {', '.join(missing) or '(differs)'}")


def _test_restore_dump(
    target: Target, files: HostFiles, path: str, meta: dict[str, Any] | None, timeout: float | None
) -> None:
    scratch = scratch_name(target)
    props = dict((meta or {}).get("properties") or {})
    props.pop("owner", None)  # the scratch copy belongs to whoever verifies
    with admin_connection(target) as admin:
        serverops.create_database(admin, scratch, props)
        try:
            try:
                dumps.load_dump(files, target, scratch, path, clean=False, timeout=timeout)
            except DbError as exc:
                raise BackupInvalid(f"test restore of {path} failed: {exc}") from None
            with connect(target, database=scratch) as db:
                restored = [t.display for t in list_tables(db)]
        finally:
            serverops.drop_database(admin, scratch)
    _compare_tables(path, restored, meta)


def _test_restore_sqlite(path: str, meta: dict[str, Any] | None) -> None:
    with tempfile.TemporaryDirectory(prefix="cutover-verify-") as tmp:
        scratch = f"{tmp}/scratch.sqlite"
        try:
            sqlite_ops.restore(path, scratch)
        except DbError as exc:
            raise BackupInvalid(f"test restore of {path} failed: {exc}") from None
        sqlite_ops.integrity_check(scratch)
        _compare_tables(path, sqlite_ops.tables(scratch), meta)


# --- restore ---------------------------------------------------------------------------------------


def restore_backup(
    target: Target,
    files: HostFiles,
    location: str,
    *,
    clean: str = "database",
    meta: dict[str, Any] | None = None,
    moves: dict[str, str] | None = None,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Replace the target database with a backup, taking exclusive access first.

    `clean="database"` drops and re-creates a MariaDB/PostgreSQL database so that objects made
    after the backup disappear too; `"objects"` only replaces what the dump contains (for logins
    that may not create databases). Callers check the file's recorded checksum first.
    """
    if clean not in RESTORE_CLEAN:
        raise DbError(f"clean must be one of {', '.join(RESTORE_CLEAN)}, not {clean!r}")
    database = database_of(target)
    if target.dialect == "sqlite":
        sqlite_ops.restore(location, str(target.path))
        return {"database": database}
    if target.dialect == "mssql":
        with admin_connection(target) as db:
            out = mssql.restore(
                db, database, location, moves, progress=percent_line(target, "restored", progress)
            )
        return {"database": database, "messages": out.messages[-20:]}
    with admin_connection(target) as admin:
        props = dict((meta or {}).get("properties") or serverops.database_properties(admin, database))
        ended = serverops.terminate_sessions(admin, database)
        if clean == "database":
            serverops.drop_database(admin, database)
            serverops.create_database(admin, database, props)
    dumps.load_dump(files, target, database, location, clean=True, timeout=timeout)
    return {"database": database, "sessions_ended": ended, "clean": clean}


# --- clean-up ---------------------------------------------------------------------------------------


def cleanup_backups(
    target: Target,
    files: HostFiles,
    directory: str,
    older_than: float,
    keep: set[str],
    pattern: str | None = None,
) -> list[str]:
    """Delete backup files older than `older_than` seconds, except the `keep` locations.

    Only names this engine writes for the target match by default (`<database>-*`), so files of
    other databases or other tools in the same directory are never touched.
    """
    cutoff = _dt.datetime.now(_dt.UTC).timestamp() - older_than
    removed = []
    for entry in files.list(directory, pattern or backup_prefix(target) + "*"):
        path = join(files, directory, str(entry["path"]))
        if path in keep or float(entry.get("mtime") or 0) >= cutoff:
            continue
        if files.remove(path):
            removed.append(path)
    if target.dialect == "mssql":
        with admin_connection(target) as db:
            mssql.delete_history(db, _dt.datetime.fromtimestamp(cutoff, _dt.UTC).replace(tzinfo=None))
    return removed


# --- sessions --------------------------------------------------------------------------------------


def count_sessions(target: Target) -> dict[str, int]:
    """Other sessions in the target database per client host (this connection is not counted)."""
    database = database_of(target)
    if target.dialect == "mssql":
        with admin_connection(target) as db:
            return mssql.sessions(db, database)
    if not is_mysql_family(target.dialect) and target.dialect != "postgresql":
        raise Unsupported("counting sessions", target.dialect)
    with connect(target, autocommit=True) as db:
        return serverops.sessions(db, database)
