"""Indexes, statistics, views and tables by name pattern, with their definitions; and dropping them.

A CRM upgrade guide asks for two things here: before an upgrade, find the auto-generated
`_dta_index*` indexes and `_dta_stat_*` statistics, record and drop them; and keep a copy of
every customised view's definition, because the upgrade may replace it. Names are matched with
LIKE on a bound pattern; dropping pastes only quoted identifiers read from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.db.database import Database
from engine.db.dialects import LIKE_ESCAPE, is_mysql_family, like_from_glob
from engine.db.errors import DbError, Unsupported

KINDS = ("indexes", "statistics", "views", "tables")
_ESC = f" ESCAPE '{LIKE_ESCAPE}'"


@dataclass(slots=True)
class SchemaObject:
    """One object; `table` is the table an index or statistic belongs to."""

    kind: str
    name: str
    schema: str | None = None
    table: str | None = None
    definition: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def supported_kinds(dialect: str) -> tuple[str, ...]:
    return KINDS if dialect == "mssql" else ("indexes", "views", "tables")


def find(db: Database, kind: str, pattern: str = "*") -> list[SchemaObject]:
    """Objects of one kind whose name matches a glob (`_dta_index*`), with definitions."""
    if kind not in supported_kinds(db.dialect.name):
        raise Unsupported(f"listing {kind}", db.dialect.name)
    like = like_from_glob(pattern)
    finder = _FINDERS[(_family(db), kind)]
    return finder(db, like)


def _family(db: Database) -> str:
    return "mysql" if is_mysql_family(db.dialect) else db.dialect.name


# --- SQL Server ------------------------------------------------------------------------------------


def _mssql_indexes(db: Database, like: str) -> list[SchemaObject]:
    rows = db.query(
        "SELECT s.name AS schema_name, t.name AS table_name, i.name AS name, i.type_desc AS type_desc, "
        "i.is_unique AS is_unique, i.is_primary_key AS is_primary_key, "
        "i.is_unique_constraint AS is_unique_constraint, i.filter_definition AS filter_definition, "
        "i.index_id AS index_id, t.object_id AS object_id "
        "FROM sys.indexes AS i JOIN sys.tables AS t ON t.object_id = i.object_id "
        "JOIN sys.schemas AS s ON s.schema_id = t.schema_id "
        f"WHERE t.is_ms_shipped = 0 AND i.name IS NOT NULL AND i.name LIKE ?{_ESC} "
        "ORDER BY s.name, t.name, i.name",
        (like,),
    )
    out = []
    for r in rows:
        cols = db.query(
            "SELECT c.name AS name, ic.is_descending_key AS descending, ic.is_included_column AS included "
            "FROM sys.index_columns AS ic JOIN sys.columns AS c "
            "ON c.object_id = ic.object_id AND c.column_id = ic.column_id "
            "WHERE ic.object_id = ? AND ic.index_id = ? ORDER BY ic.key_ordinal, ic.index_column_id",
            (r["object_id"], r["index_id"]),
        )
        q = db.dialect.quote_ident
        keys = ", ".join(
            f"{q(c['name'])} {'DESC' if c['descending'] else 'ASC'}" for c in cols if not c["included"]
        )
        included = ", ".join(q(c["name"]) for c in cols if c["included"])
        definition = (
            f"CREATE {'UNIQUE ' if r['is_unique'] else ''}{r['type_desc']} INDEX {q(r['name'])} "
            f"ON {db.dialect.qualified(r['schema_name'], r['table_name'])} ({keys})"
            + (f" INCLUDE ({included})" if included else "")
            + (f" WHERE {r['filter_definition']}" if r["filter_definition"] else "")
        )
        constraint = bool(r["is_primary_key"] or r["is_unique_constraint"])
        out.append(
            SchemaObject(
                "indexes",
                r["name"],
                r["schema_name"],
                r["table_name"],
                definition,
                {"constraint": constraint},
            )
        )
    return out


def _mssql_statistics(db: Database, like: str) -> list[SchemaObject]:
    rows = db.query(
        "SELECT sc.name AS schema_name, t.name AS table_name, st.name AS name, st.auto_created AS auto_created, "
        "st.user_created AS user_created, st.filter_definition AS filter_definition, "
        "st.stats_id AS stats_id, t.object_id AS object_id "
        "FROM sys.stats AS st JOIN sys.tables AS t ON t.object_id = st.object_id "
        "JOIN sys.schemas AS sc ON sc.schema_id = t.schema_id "
        f"WHERE t.is_ms_shipped = 0 AND st.name LIKE ?{_ESC} "
        "AND NOT EXISTS (SELECT 1 FROM sys.indexes AS i WHERE i.object_id = st.object_id AND i.name = st.name) "
        "ORDER BY sc.name, t.name, st.name",
        (like,),
    )
    out = []
    for r in rows:
        cols = db.query(
            "SELECT c.name AS name FROM sys.stats_columns AS sc JOIN sys.columns AS c "
            "ON c.object_id = sc.object_id AND c.column_id = sc.column_id "
            "WHERE sc.object_id = ? AND sc.stats_id = ? ORDER BY sc.stats_column_id",
            (r["object_id"], r["stats_id"]),
        )
        q = db.dialect.quote_ident
        definition = (
            f"CREATE STATISTICS {q(r['name'])} ON {db.dialect.qualified(r['schema_name'], r['table_name'])} "
            f"({', '.join(q(c['name']) for c in cols)})"
            + (f" WHERE {r['filter_definition']}" if r["filter_definition"] else "")
        )
        detail = {"auto_created": bool(r["auto_created"]), "user_created": bool(r["user_created"])}
        out.append(
            SchemaObject("statistics", r["name"], r["schema_name"], r["table_name"], definition, detail)
        )
    return out


def _mssql_views(db: Database, like: str) -> list[SchemaObject]:
    rows = db.rows(
        "SELECT s.name, v.name, m.definition FROM sys.views AS v "
        "JOIN sys.schemas AS s ON s.schema_id = v.schema_id "
        "LEFT JOIN sys.sql_modules AS m ON m.object_id = v.object_id "
        f"WHERE v.is_ms_shipped = 0 AND v.name LIKE ?{_ESC} ORDER BY s.name, v.name",
        (like,),
    )
    return [SchemaObject("views", r[1], r[0], None, r[2]) for r in rows]


# --- MariaDB / MySQL -------------------------------------------------------------------------------


def _mysql_indexes(db: Database, like: str) -> list[SchemaObject]:
    rows = db.rows(
        "SELECT table_name, index_name, non_unique, column_name FROM information_schema.statistics "
        f"WHERE table_schema = DATABASE() AND index_name LIKE ?{_ESC} "
        "ORDER BY table_name, index_name, seq_in_index",
        (like,),
    )
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for table, name, non_unique, column in rows:
        entry = grouped.setdefault((table, name), {"unique": not int(non_unique), "columns": []})
        entry["columns"].append(column)
    out = []
    q = db.dialect.quote_ident
    for (table, name), entry in grouped.items():
        cols = ", ".join(q(c) for c in entry["columns"])
        definition = f"CREATE {'UNIQUE ' if entry['unique'] else ''}INDEX {q(name)} ON {q(table)} ({cols})"
        out.append(SchemaObject("indexes", name, None, table, definition, {"constraint": name == "PRIMARY"}))
    return out


def _mysql_views(db: Database, like: str) -> list[SchemaObject]:
    rows = db.rows(
        "SELECT table_name, view_definition FROM information_schema.views "
        f"WHERE table_schema = DATABASE() AND table_name LIKE ?{_ESC} ORDER BY table_name",
        (like,),
    )
    return [SchemaObject("views", r[0], None, None, r[1]) for r in rows]


# --- PostgreSQL ------------------------------------------------------------------------------------

_PG_USER = "NOT IN ('pg_catalog', 'information_schema')"


def _pg_indexes(db: Database, like: str) -> list[SchemaObject]:
    rows = db.rows(
        "SELECT i.schemaname, i.tablename, i.indexname, i.indexdef, "
        # an integer, not a boolean: psqlODBC hands booleans over as the strings '0'/'1'
        "CASE WHEN EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = "
        "(quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass) THEN 1 ELSE 0 END "
        f"FROM pg_indexes AS i WHERE i.schemaname {_PG_USER} AND i.indexname LIKE ?{_ESC} "
        "ORDER BY 1, 2, 3",
        (like,),
    )
    return [SchemaObject("indexes", r[2], r[0], r[1], r[3], {"constraint": bool(r[4])}) for r in rows]


def _pg_views(db: Database, like: str) -> list[SchemaObject]:
    rows = db.rows(
        f"SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname {_PG_USER} "
        f"AND viewname LIKE ?{_ESC} ORDER BY 1, 2",
        (like,),
    )
    return [SchemaObject("views", r[1], r[0], None, r[2]) for r in rows]


# --- SQLite ----------------------------------------------------------------------------------------


def _sqlite_objects(kind: str, sqlite_type: str) -> Callable[[Database, str], list[SchemaObject]]:
    def finder(db: Database, like: str) -> list[SchemaObject]:
        rows = db.rows(
            "SELECT name, tbl_name, sql FROM sqlite_master "
            f"WHERE type = ? AND name LIKE ?{_ESC} AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name",
            (sqlite_type, like),
        )
        if kind != "indexes":
            return [SchemaObject(kind, r[0], None, None, r[2]) for r in rows]
        # automatic indexes (primary key / UNIQUE) have no SQL of their own and cannot be dropped
        return [SchemaObject(kind, r[0], None, r[1], r[2], {"constraint": r[2] is None}) for r in rows]

    return finder


# --- tables (every dialect but SQLite through information_schema) ----------------------------------


def _info_schema_tables(db: Database, like: str) -> list[SchemaObject]:
    if is_mysql_family(db.dialect):
        scope = "t.table_schema = DATABASE()"
    else:
        current = "DB_NAME()" if db.dialect.name == "mssql" else "current_database()"
        scope = (
            f"t.table_catalog = {current} "
            "AND t.table_schema NOT IN ('sys', 'INFORMATION_SCHEMA', 'pg_catalog', 'information_schema')"
        )
    rows = db.rows(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable "
        "FROM information_schema.columns AS c JOIN information_schema.tables AS t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        f"WHERE {scope} AND t.table_type = 'BASE TABLE' AND c.table_name LIKE ?{_ESC} "
        "ORDER BY c.table_schema, c.table_name, c.ordinal_position",
        (like,),
    )
    grouped: dict[tuple[str | None, str], list[tuple[str, str, str]]] = {}
    for schema, table, column, data_type, nullable in rows:
        key = (None if is_mysql_family(db.dialect) else schema, table)
        grouped.setdefault(key, []).append((column, data_type, nullable))
    q = db.dialect.quote_ident
    out = []
    for (schema, table), columns in grouped.items():
        body = ", ".join(f"{q(c)} {t}{'' if n == 'YES' else ' NOT NULL'}" for c, t, n in columns)
        columns_detail = [{"name": c, "type": t, "nullable": n == "YES"} for c, t, n in columns]
        definition = f"CREATE TABLE {db.dialect.qualified(schema, table)} ({body})"
        out.append(SchemaObject("tables", table, schema, None, definition, {"columns": columns_detail}))
    return out


_FINDERS: dict[tuple[str, str], Callable[[Database, str], list[SchemaObject]]] = {
    ("mssql", "indexes"): _mssql_indexes,
    ("mssql", "statistics"): _mssql_statistics,
    ("mssql", "views"): _mssql_views,
    ("mssql", "tables"): _info_schema_tables,
    ("mysql", "indexes"): _mysql_indexes,
    ("mysql", "views"): _mysql_views,
    ("mysql", "tables"): _info_schema_tables,
    ("postgresql", "indexes"): _pg_indexes,
    ("postgresql", "views"): _pg_views,
    ("postgresql", "tables"): _info_schema_tables,
    ("sqlite", "indexes"): _sqlite_objects("indexes", "index"),
    ("sqlite", "views"): _sqlite_objects("views", "view"),
    ("sqlite", "tables"): _sqlite_objects("tables", "table"),
}


def drop_statement(db: Database, obj: SchemaObject) -> str:
    """The DROP for an index, statistic or view; tables and constraint indexes are refused."""
    q = db.dialect.quote_ident
    if obj.kind == "tables":
        raise DbError(f"refusing to drop table {obj.name}: db_schema_objects never drops tables")
    if obj.detail.get("constraint"):
        raise DbError(f"refusing to drop {obj.name}: it backs a primary key or unique constraint")
    if obj.kind == "views":
        return f"DROP VIEW {db.dialect.qualified(obj.schema, obj.name)}"
    if obj.kind == "statistics":
        return f"DROP STATISTICS {db.dialect.qualified(obj.schema, obj.table, obj.name)}"
    if db.dialect.name == "mssql" or is_mysql_family(db.dialect):
        return f"DROP INDEX {q(obj.name)} ON {db.dialect.qualified(obj.schema, obj.table)}"
    return f"DROP INDEX {db.dialect.qualified(obj.schema, obj.name)}"
