"""The database layer: targets, dialects, connections (pyodbc; sqlite3 for SQLite) and operations.

Entry points:
- `target_from(name, mapping)` -> `Target` (an inventory `databases:` entry with defaults),
- `connect(target)` -> `Database` (query/rows/value/execute/run_drained, values always bound),
- `dialect_for(name).quote_ident(name)` for the identifiers that must be pasted into SQL,
- `operations.take_backup / verify_backup / restore_backup / count_sessions`,
- `table_checksums(db)` -> {table: digest} to prove a restore brought back the same data.
"""

from engine.db.checksums import table_checksums
from engine.db.database import Database, Drained, connect
from engine.db.dialects import Dialect, dialect_for
from engine.db.errors import BackupInvalid, DbError, InvalidIdentifier, Unsupported
from engine.db.target import DIALECTS, Target, connection_string, target_from

__all__ = [
    "DIALECTS",
    "BackupInvalid",
    "Database",
    "DbError",
    "Dialect",
    "Drained",
    "InvalidIdentifier",
    "Target",
    "Unsupported",
    "connect",
    "connection_string",
    "dialect_for",
    "table_checksums",
    "target_from",
]
