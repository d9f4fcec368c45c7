"""SQL Server statements for backups, restores, sessions and maintenance (CRM databases).

Two driver facts shape every function here: BACKUP and RESTORE refuse to run inside a
transaction (so the connection must be in autocommit), and the server reports their progress
as a stream of result sets that must be read to the end (`Database.run_drained`), or the
operation is cut short without an error. File paths and logical names are bound parameters
(T-SQL accepts variables there); database names are quoted identifiers.
"""

from __future__ import annotations

import ntpath
import re
from typing import Any

from engine.db.database import Database, Drained
from engine.db.errors import DbError

#: SERVERPROPERTY('EngineEdition'): 2 Standard (also Web), 3 Enterprise/Developer, 8 Managed Instance
_COMPRESSING_ENGINES = (2, 3, 8)
#: editions that never compress even when their engine family does
_NO_COMPRESSION_EDITIONS = ("web", "express")

BACKUP_TYPES = {"full": "D", "diff": "I", "log": "L"}


def _require_autocommit(db: Database, what: str) -> None:
    if not db.autocommit:
        raise DbError(
            f"{what} needs a connection in autocommit mode (SQL Server refuses it in a transaction)"
        )


def compression_supported(db: Database) -> bool:
    """Whether this server's edition can write compressed backups (Express and Web cannot)."""
    row = db.rows(
        "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, "
        "CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition"
    )
    if not row:
        return False
    engine, edition = row[0][0], str(row[0][1] or "")
    return engine in _COMPRESSING_ENGINES and not edition.lower().startswith(_NO_COMPRESSION_EDITIONS)


def backup(
    db: Database, database: str, path: str, kind: str = "full", compress: bool | None = None
) -> Drained:
    """BACKUP DATABASE/LOG to a file WITH CHECKSUM, INIT (COMPRESSION when the edition allows it).

    `compress=None` decides from the edition; True on an edition without compression is refused
    rather than silently ignored.
    """
    _require_autocommit(db, "BACKUP")
    if kind not in BACKUP_TYPES:
        raise DbError(f"unknown backup kind {kind!r} (one of {', '.join(BACKUP_TYPES)})")
    can_compress = compression_supported(db)
    if compress and not can_compress:
        raise DbError("this SQL Server edition cannot write compressed backups")
    q = db.dialect.quote_ident(database, "database name")
    verb = "LOG" if kind == "log" else "DATABASE"
    options = ["CHECKSUM", "INIT"]
    if kind == "diff":
        options.insert(0, "DIFFERENTIAL")
    compressed = can_compress and compress is not False
    if compressed:
        options.append("COMPRESSION")
    return db.run_drained(f"BACKUP {verb} {q} TO DISK = ? WITH {', '.join(options)}", (path,)), compressed


def verify(db: Database, path: str) -> Drained:
    """RESTORE VERIFYONLY ... WITH CHECKSUM: the backup is complete, readable and checksums match."""
    _require_autocommit(db, "RESTORE VERIFYONLY")
    return db.run_drained("RESTORE VERIFYONLY FROM DISK = ? WITH CHECKSUM", (path,))


def file_list(db: Database, path: str) -> list[dict[str, Any]]:
    """The data and log files inside a backup (LogicalName, PhysicalName, Type, ...)."""
    _require_autocommit(db, "RESTORE FILELISTONLY")
    return db.query("RESTORE FILELISTONLY FROM DISK = ?", (path,))


def database_exists(db: Database, database: str) -> bool:
    return db.value("SELECT DB_ID(?)", (database,)) is not None


def restore(db: Database, database: str, path: str, moves: dict[str, str] | None = None) -> Drained:
    """Restore a database over itself, with exclusive access, and give it back to everyone after.

    SINGLE_USER WITH ROLLBACK IMMEDIATE throws the other sessions out; MULTI_USER is set again
    whether the restore worked or not, so a failed restore never leaves the CRM locked to one user.
    """
    _require_autocommit(db, "RESTORE")
    q = db.dialect.quote_ident(database, "database name")
    if database_exists(db, database):
        db.run_drained(f"ALTER DATABASE {q} SET SINGLE_USER WITH ROLLBACK IMMEDIATE")
    params: list[Any] = [path]
    sql = f"RESTORE DATABASE {q} FROM DISK = ? WITH REPLACE"
    for logical, physical in (moves or {}).items():
        sql += ", MOVE ? TO ?"
        params += [logical, physical]
    try:
        out = db.run_drained(sql, params)
    except DbError as failed:
        try:
            _multi_user(db, q, database)
        except DbError as again:
            raise DbError(
                f"{failed}; setting MULTI_USER again also failed: {again}", failed.sqlstate
            ) from failed
        raise
    _multi_user(db, q, database)
    return out


def _multi_user(db: Database, quoted: str, database: str) -> None:
    if database_exists(db, database):
        db.run_drained(f"ALTER DATABASE {quoted} SET MULTI_USER")


def scratch_moves(files: list[dict[str, Any]], scratch: str) -> dict[str, str]:
    """New physical names next to the originals, so a test restore never touches the live files."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", scratch)
    moves = {}
    for i, f in enumerate(files):
        physical = str(f.get("PhysicalName") or "")
        _, ext = ntpath.splitext(physical)
        moves[str(f["LogicalName"])] = ntpath.join(ntpath.dirname(physical), f"{safe}_{i}{ext or '.dat'}")
    return moves


def restore_scratch(db: Database, path: str, scratch: str) -> Drained:
    """Restore the backup into a scratch database under new file names, then drop it."""
    _require_autocommit(db, "RESTORE")
    q = db.dialect.quote_ident(scratch, "scratch database name")
    moves = scratch_moves(file_list(db, path), scratch)
    params: list[Any] = [path]
    sql = f"RESTORE DATABASE {q} FROM DISK = ? WITH RECOVERY"
    for logical, physical in moves.items():
        sql += ", MOVE ? TO ?"
        params += [logical, physical]
    try:
        return db.run_drained(sql, params)
    finally:
        if database_exists(db, scratch):
            db.run_drained(f"DROP DATABASE {q}")


def sessions(db: Database, database: str) -> dict[str, int]:
    """User sessions in a database, counted per client host (this connection left out)."""
    rows = db.rows(
        "SELECT COALESCE(s.host_name, N'') AS host_name, COUNT(*) AS sessions "
        "FROM sys.dm_exec_sessions AS s "
        "WHERE s.database_id = DB_ID(?) AND s.session_id <> @@SPID AND s.is_user_process = 1 "
        "GROUP BY s.host_name",
        (database,),
    )
    return {str(r[0]): int(r[1]) for r in rows}


def backup_history(db: Database, database: str, kind: str = "full") -> dict[str, Any] | None:
    """The newest backup of a database recorded in msdb (what a maintenance plan wrote)."""
    rows = db.query(
        "SELECT TOP (1) b.backup_finish_date AS finished, m.physical_device_name AS location, "
        "b.type AS type, b.has_backup_checksums AS has_checksums, b.is_damaged AS is_damaged, "
        "b.backup_size AS size, DATEDIFF(second, b.backup_finish_date, GETDATE()) AS age_seconds "
        "FROM msdb.dbo.backupset AS b "
        "JOIN msdb.dbo.backupmediafamily AS m ON m.media_set_id = b.media_set_id "
        "WHERE b.database_name = ? AND b.type = ? ORDER BY b.backup_finish_date DESC",
        (database, BACKUP_TYPES[kind]),
    )
    return rows[0] if rows else None


def recovery_model(db: Database, database: str) -> str | None:
    """FULL, BULK_LOGGED or SIMPLE (a log backup needs FULL or BULK_LOGGED)."""
    return db.value("SELECT recovery_model_desc FROM sys.databases WHERE name = ?", (database,))


# --- maintenance (a CRM vendor's maintenance plan) --------------------------------------------------


def checkdb(db: Database, database: str) -> Drained:
    """DBCC CHECKDB: consistency check; any corruption is raised as an error by the server."""
    q = db.dialect.quote_ident(database, "database name")
    return db.run_drained(f"DBCC CHECKDB ({q}) WITH NO_INFOMSGS, ALL_ERRORMSGS")


def index_maintenance(db: Database, tables: list[tuple[str, str]], action: str) -> int:
    """ALTER INDEX ALL ... REORGANIZE or REBUILD on each user table; the number of tables done."""
    if action not in ("REORGANIZE", "REBUILD"):
        raise DbError(f"unknown index action {action!r}")
    for schema, table in tables:
        db.run_drained(f"ALTER INDEX ALL ON {db.dialect.qualified(schema, table)} {action}")
    return len(tables)


def update_statistics(db: Database) -> Drained:
    """sp_updatestats in the connected database (only statistics that need it)."""
    return db.run_drained("EXEC sp_updatestats")


def shrink(db: Database, database: str) -> Drained:
    """DBCC SHRINKDATABASE (the guide discourages it: it fragments indexes)."""
    q = db.dialect.quote_ident(database, "database name")
    return db.run_drained(f"DBCC SHRINKDATABASE ({q})")


def delete_history(db: Database, oldest: Any) -> Drained:
    """Forget backup history in msdb older than a date (the files are removed separately)."""
    return db.run_drained("EXEC msdb.dbo.sp_delete_backuphistory @oldest_date = ?", (oldest,))
