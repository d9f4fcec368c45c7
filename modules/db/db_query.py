"""db_query: read rows from a database target into `register:`. Never changes anything.

The session is made read-only where the engine can (MariaDB/MySQL and PostgreSQL read-only
transactions, SQLite `query_only`), and the transaction is rolled back at the end in every
case, so even SQL Server (which has no read-only session) keeps nothing a query did.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api.module import Module, Result, TaskContext
from engine.db.database import Database, connect
from engine.db.dialects import is_mysql_family
from engine.db.tasks import PARAMS, SQL_ONLY, args_schema, db_failures, jsonable, target_of

#: statements that make the session refuse writes, per dialect
READ_ONLY = {
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    # first statement of the transaction psqlODBC opens (a SET SESSION would be rolled back with it)
    "postgresql": "SET TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
}


def read_only(db: Database) -> None:
    statement = READ_ONLY.get(db.dialect.name)
    if statement:
        db.execute(statement)
    if is_mysql_family(db.dialect):
        db.rollback()  # the SET applies from the next transaction on


class DbQuery(Module):
    """Run one SELECT with bound parameters; rows as dicts (read-only, runs in check mode)."""

    platforms = SQL_ONLY
    schema = args_schema(
        {
            "sql": {"type": "string", "minLength": 1},
            "params": PARAMS,
            "max_rows": {"type": "integer", "minimum": 1, "default": 1000},
        },
        ("sql",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        limit = int(args.get("max_rows", 1000))
        with db_failures(), connect(target) as db:
            read_only(db)
            try:
                rows = db.query(args["sql"], args.get("params") or (), max_rows=limit + 1)
            finally:
                db.rollback()
        truncated = len(rows) > limit
        rows = [{k: jsonable(v) for k, v in r.items()} for r in rows[:limit]]
        output = {
            "rows": rows,
            "rowcount": len(rows),
            "columns": list(rows[0]) if rows else [],
            "truncated": truncated,
        }
        return Result(output=output, msg=f"{len(rows)} row(s){' (truncated)' if truncated else ''}")
