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
from collections.abc import Callable
from typing import Any

from engine.db.database import Database, Drained
from engine.db.errors import DbError

#: SERVERPROPERTY('EngineEdition'): 2 Standard (also Web), 3 Enterprise/Developer, 8 Managed Instance
_COMPRESSING_ENGINES = (2, 3, 8)
#: editions that never compress even when their engine family does
_NO_COMPRESSION_EDITIONS = ("web", "express")

BACKUP_TYPES = {"full": "D", "diff": "I", "log": "L"}

#: `WITH STATS = 10`: "Displays a message each time another percentage completes, and is used to
#: gauge progress" ("BACKUP (Transact-SQL)", Monitoring options, and "RESTORE Statements - Arguments",
#: https://learn.microsoft.com/sql/t-sql/statements/backup-transact-sql); the percentage shown is
#: approximate (with STATS=10 at 40 percent done "the option might display 43 percent").
STATS = 10
#: The text of those messages, SQL Server's message 3211 "%d percent processed.", as the ODBC
#: driver hands it to pyodbc's `cursor.messages`: `('[01000] (3211)', '[Microsoft][ODBC Driver 18
#: for SQL Server][SQL Server]10 percent processed.')`, the messages of each result set read in turn
#: through `nextset()` (pyodbc's behaviour, https://github.com/microsoft/mssql-python/issues/612).
_PERCENT = re.compile(r"(?:^|\])\s*(\d{1,3}) percent processed\.\s*$")


def percent_processed(message: str) -> int | None:
    """The percentage of a STATS message ("40 percent processed."), None for any other message."""
    found = _PERCENT.search(str(message))
    return int(found.group(1)) if found and int(found.group(1)) <= 100 else None


def _percent_watcher(progress: Callable[[int], None] | None) -> Callable[[str], None] | None:
    """The `on_message` of run_drained that passes each STATS percentage on, in order."""
    if progress is None:
        return None

    def watch(message: str) -> None:
        percent = percent_processed(message)
        if percent is not None:
            progress(percent)

    return watch


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
    return _compresses(row[0][0], row[0][1])


def _compresses(engine: Any, edition: Any) -> bool:
    return engine in _COMPRESSING_ENGINES and not str(edition or "").lower().startswith(_NO_COMPRESSION_EDITIONS)


#: SERVERPROPERTY names as documented ("SERVERPROPERTY (Transact-SQL)",
#: learn.microsoft.com/sql/t-sql/functions/serverproperty-transact-sql); InstanceDefaultBackupPath
#: exists from SQL Server 2019 on (NULL before).
SERVER_FACTS = (
    "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS version, "
    "CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)) AS level, "
    "CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, "
    "CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, "
    "@@MAX_CONNECTIONS AS max_connections, "
    "CAST(SERVERPROPERTY('InstanceDefaultBackupPath') AS nvarchar(4000)) AS backup_directory"
)
#: The accounts the instance's services run as (sys.dm_server_services: servicename, service_account).
SERVICE_ACCOUNTS = "SELECT servicename, service_account FROM sys.dm_server_services"


def server_facts(db: Database) -> dict[str, Any]:
    """What `cutover probe` reports of a SQL Server: version, edition, compression, connections,
    the default backup directory and the account of the database engine's service (read only)."""
    row = db.query(SERVER_FACTS)[0]
    facts = {**row, "compression": _compresses(row.get("engine_edition"), row.get("edition"))}
    facts["service_account"] = engine_service_account(db)
    return facts


def engine_service_account(db: Database) -> str | None:
    """The account SQL Server's database engine runs as (it is the one that writes backup files)."""
    try:
        rows = db.query(SERVICE_ACCOUNTS)
    except DbError:  # VIEW SERVER STATE is needed; without it the account stays unknown
        return None
    for row in rows:
        if str(row.get("servicename") or "").startswith("SQL Server ("):
            return str(row.get("service_account"))
    return None


#: SQL Server's error when it cannot open a backup file (BACKUP/RESTORE, "Cannot open backup
#: device ... Operating system error 5(Access is denied.)"): the service account's rights.
_DEVICE_DENIED = re.compile(r"\b3201\b|Cannot open backup device", re.I)
_OS_ACCESS_DENIED = re.compile(r"Operating system error 5\b", re.I)


def backup(
    db: Database,
    database: str,
    path: str,
    kind: str = "full",
    compress: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> Drained:
    """BACKUP DATABASE/LOG to a file WITH CHECKSUM, INIT, STATS (COMPRESSION when the edition allows it).

    `compress=None` decides from the edition; True on an edition without compression is refused
    rather than silently ignored. `progress` gets each STATS percentage while the backup runs.
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
    options.append(f"STATS = {STATS}")
    sql = f"BACKUP {verb} {q} TO DISK = ? WITH {', '.join(options)}"
    try:
        return db.run_drained(sql, (path,), on_message=_percent_watcher(progress)), compressed
    except DbError as failed:
        raise _explained(db, failed, path) from failed


def _explained(db: Database, failed: DbError, path: str) -> DbError:
    """A backup file SQL Server may not write, said as what it is: its service account's rights."""
    text = str(failed)
    if not (_DEVICE_DENIED.search(text) and _OS_ACCESS_DENIED.search(text)):
        return failed
    account = engine_service_account(db) or "the SQL Server service account"
    folder = ntpath.dirname(path) or path
    return DbError(
        f"SQL Server cannot write {path}: {account} (the account the database engine runs as, which "
        f"writes the backup file) has no write access to {folder} (error 3201, operating system error 5, "
        "access denied); grant it Modify on that folder, or back up to the instance's backup directory",
        failed.sqlstate,
    )


def verify(db: Database, path: str) -> Drained:
    """RESTORE VERIFYONLY ... WITH CHECKSUM: the backup is complete, readable and checksums match."""
    _require_autocommit(db, "RESTORE VERIFYONLY")
    return db.run_drained("RESTORE VERIFYONLY FROM DISK = ? WITH CHECKSUM", (path,))


def file_list(db: Database, path: str) -> list[dict[str, Any]]:
    """The data and log files inside a backup (LogicalName, PhysicalName, Type, ...)."""
    _require_autocommit(db, "RESTORE FILELISTONLY")
    return db.query("RESTORE FILELISTONLY FROM DISK = ?", (path,))


def header(db: Database, path: str) -> list[dict[str, Any]]:
    """The backup sets of a file (DatabaseName, BackupType, BackupFinishDate, HasBackupChecksums,
    Compressed, ...): what a restore checks it is about to use (RESTORE HEADERONLY)."""
    _require_autocommit(db, "RESTORE HEADERONLY")
    return db.query("RESTORE HEADERONLY FROM DISK = ?", (path,))


def database_exists(db: Database, database: str) -> bool:
    return db.value("SELECT DB_ID(?)", (database,)) is not None


def restore(
    db: Database,
    database: str,
    path: str,
    moves: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Drained:
    """Restore a database over itself, with exclusive access, and give it back to everyone after.

    SINGLE_USER WITH ROLLBACK IMMEDIATE throws the other sessions out; MULTI_USER is set again
    whether the restore worked or not, so a failed restore never leaves the CRM locked to one user.
    `progress` gets each STATS percentage while the restore runs.
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
    sql += f", STATS = {STATS}"
    try:
        out = db.run_drained(sql, params, on_message=_percent_watcher(progress))
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
