"""The database layer: targets, dialects, connections (pyodbc; sqlite3 for SQLite) and operations.

Entry points:
- `target_from(name, mapping)` -> `Target` (an inventory `databases:` entry with defaults),
- `connect(target)` -> `Database` (query/rows/value/execute/run_drained, values always bound),
- `dialect_for(name).quote_ident(name)` for the identifiers that must be pasted into SQL,
- `operations.take_backup / verify_backup / restore_backup / count_sessions`,
- `table_checksums(db)` -> {table: digest} to prove a restore brought back the same data.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.db.checksums import table_checksums
    from engine.db.database import Database, Drained, connect
    from engine.db.dialects import Dialect, dialect_for
    from engine.db.errors import BackupInvalid, DbError, InvalidIdentifier, Unsupported
    from engine.db.target import DIALECTS, Target, connection_string, target_from

#: name -> the submodule that defines it. Imported on first use (PEP 562): every run reads its
#: inventory's `databases:` through `target_from`, few need connections or checksums, and those
#: modules cost ~10 ms of start-up together.
_WHERE = {
    "table_checksums": "checksums",
    "Database": "database",
    "Drained": "database",
    "connect": "database",
    "Dialect": "dialects",
    "dialect_for": "dialects",
    "BackupInvalid": "errors",
    "DbError": "errors",
    "InvalidIdentifier": "errors",
    "Unsupported": "errors",
    "DIALECTS": "target",
    "Target": "target",
    "connection_string": "target",
    "target_from": "target",
}

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


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'engine.db' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.db.{where}"), name)
    globals()[name] = value
    return value
