"""What a database holds: its tables and their columns, read from each engine's catalog.

Checksums, data-loss estimates and schema listings all start from "which user tables exist and
which columns do they have"; answering it here keeps the per-dialect catalog SQL in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.db.database import Database
from engine.db.dialects import is_mysql_family


@dataclass(frozen=True, slots=True, order=True)
class TableRef:
    """A user table; `schema` is None where the dialect has no schemas in use (MariaDB, SQLite)."""

    schema: str | None
    name: str

    @property
    def display(self) -> str:
        """`schema.table` as operators read it (unquoted)."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def sql(self, db: Database) -> str:
        """The quoted, qualified name to paste into SQL."""
        return db.dialect.qualified(self.schema, self.name)


def list_tables(db: Database) -> list[TableRef]:
    """User base tables of the connected database, sorted."""
    dialect = db.dialect.name
    if dialect == "sqlite":
        rows = db.rows(
            "SELECT NULL, name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
        )
    elif is_mysql_family(dialect):
        rows = db.rows(
            "SELECT NULL, table_name FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        )
    elif dialect == "mssql":
        rows = db.rows(
            "SELECT s.name, t.name FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id "
            "WHERE t.is_ms_shipped = 0"
        )
    else:
        rows = db.rows(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
    return sorted(TableRef(r[0], r[1]) for r in rows)


def list_columns(db: Database, table: TableRef) -> list[str]:
    """Column names of a table in their defined order."""
    dialect = db.dialect.name
    if dialect == "sqlite":
        return [r[1] for r in db.rows("SELECT * FROM pragma_table_info(?)", (table.name,))]
    if is_mysql_family(dialect):
        rows = db.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            (table.name,),
        )
    else:
        rows = db.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            (table.schema, table.name),
        )
    return [r[0] for r in rows]


def all_columns(db: Database) -> dict[TableRef, list[str]]:
    """Every user table with its columns (one catalog query per table: fine for CRM-sized schemas)."""
    return {t: list_columns(db, t) for t in list_tables(db)}


def current_database(db: Database) -> str | None:
    """The database the connection is in (the file path for SQLite)."""
    dialect = db.dialect.name
    if dialect == "sqlite":
        return db.target.path
    if is_mysql_family(dialect):
        return db.value("SELECT DATABASE()")
    if dialect == "mssql":
        return db.value("SELECT DB_NAME()")
    return db.value("SELECT current_database()")
