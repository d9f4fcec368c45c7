"""A CRM vendor's database maintenance plan, per dialect where the engine has an equivalent.

checkdb, reorganize/rebuild indexes, update statistics, shrink. Backups and clean-up of old
backup files live in `operations` and the module. A task without an equivalent on a dialect is
refused up front with "<task> is unsupported on <dialect>" instead of doing something else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.db import mssql
from engine.db.catalog import list_tables
from engine.db.database import Database
from engine.db.errors import DbError, Unsupported

TASKS = (
    "checkdb",
    "reorganize_indexes",
    "rebuild_indexes",
    "update_statistics",
    "backup_full",
    "backup_diff",
    "backup_log",
    "cleanup",
    "shrink",
)
_EVERYWHERE = {"backup_full", "cleanup"}
SUPPORTED: dict[str, set[str]] = {
    "mssql": set(TASKS),
    "mariadb": _EVERYWHERE | {"checkdb", "rebuild_indexes", "update_statistics"},
    "mysql": _EVERYWHERE | {"checkdb", "rebuild_indexes", "update_statistics"},
    "postgresql": _EVERYWHERE | {"rebuild_indexes", "update_statistics", "shrink"},
    "sqlite": _EVERYWHERE | {"checkdb", "rebuild_indexes", "update_statistics", "shrink"},
}
#: tasks this module runs as SQL on a connection to the target database
SQL_TASKS = ("checkdb", "reorganize_indexes", "rebuild_indexes", "update_statistics", "shrink")


def check_supported(dialect: str, tasks: list[str]) -> None:
    """Refuse the whole list before anything runs when one task has no equivalent here."""
    for task in tasks:
        if task not in SUPPORTED.get(dialect, set()):
            raise Unsupported(task, dialect)


def _mysql_table_command(db: Database, command: str) -> dict[str, Any]:
    """CHECK/OPTIMIZE/ANALYZE TABLE on every table; errors in their result rows raise."""
    tables = list_tables(db)
    problems = []
    for table in tables:
        for row in db.rows(f"{command} TABLE {table.sql(db)}"):
            msg_type, text = str(row[2]).lower(), str(row[3])
            if msg_type == "error" or (
                msg_type == "status" and text.upper() not in ("OK", "TABLE IS ALREADY UP TO DATE")
            ):
                problems.append(f"{table.display}: {text}")
    if problems:
        raise DbError(f"{command} TABLE reported: {'; '.join(problems[:10])}")
    return {"tables": len(tables)}


def _checkdb(db: Database) -> dict[str, Any]:
    name = db.dialect.name
    if name == "mssql":
        mssql.checkdb(db, str(db.target.database))
        return {"result": "ok"}
    if name == "sqlite":
        rows = [r[0] for r in db.rows("PRAGMA integrity_check")]
        if rows != ["ok"]:
            raise DbError(f"integrity_check reported: {'; '.join(map(str, rows[:10]))}")
        return {"result": "ok"}
    return _mysql_table_command(db, "CHECK")


def _index_action(action: str) -> Callable[[Database], dict[str, Any]]:
    def run(db: Database) -> dict[str, Any]:
        name = db.dialect.name
        tables = list_tables(db)
        if name == "mssql":
            return {
                "tables": mssql.index_maintenance(db, [(t.schema or "dbo", t.name) for t in tables], action)
            }
        if name == "sqlite":
            db.execute("REINDEX")
            return {"tables": len(tables)}
        if name == "postgresql":
            for table in tables:
                db.execute(f"REINDEX TABLE {table.sql(db)}")
            return {"tables": len(tables)}
        # InnoDB rebuilds a table and its indexes with ALTER TABLE ... FORCE (what OPTIMIZE does for
        # it); OPTIMIZE itself is avoided: MariaDB Connector/ODBC 3.1 loses its result and crashes.
        for table in tables:
            db.execute(f"ALTER TABLE {table.sql(db)} FORCE")
        return _mysql_table_command(db, "ANALYZE")

    return run


def _update_statistics(db: Database) -> dict[str, Any]:
    name = db.dialect.name
    if name == "mssql":
        mssql.update_statistics(db)
        return {"result": "ok"}
    if name in ("sqlite", "postgresql"):
        db.execute("ANALYZE")
        return {"result": "ok"}
    return _mysql_table_command(db, "ANALYZE")


def _shrink(db: Database) -> dict[str, Any]:
    name = db.dialect.name
    if name == "mssql":
        mssql.shrink(db, str(db.target.database))
    elif name == "postgresql":
        db.execute("VACUUM FULL")
    else:
        db.execute("VACUUM")
    return {"result": "ok"}


_SQL_RUNNERS: dict[str, Callable[[Database], dict[str, Any]]] = {
    "checkdb": _checkdb,
    "reorganize_indexes": _index_action("REORGANIZE"),
    "rebuild_indexes": _index_action("REBUILD"),
    "update_statistics": _update_statistics,
    "shrink": _shrink,
}


def run_sql_task(db: Database, task: str) -> dict[str, Any]:
    """Run one SQL maintenance task on an autocommit connection to the target database."""
    check_supported(db.dialect.name, [task])
    return _SQL_RUNNERS[task](db)
