"""db_exec: run changing SQL (UPDATE, DDL, a procedure) against a database target.

All statements run in one transaction, committed at the end and rolled back on the first error
(`autocommit: true` for statements that refuse a transaction, such as VACUUM). In check mode
nothing runs: the engine cannot know what arbitrary SQL would change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api.module import Module, Result, TaskContext
from engine.db.database import connect
from engine.db.tasks import PARAMS, SQL_ONLY, args_schema, db_failures, target_of


class DbExec(Module):
    """Execute statements with bound parameters; `changed` when any statement touched a row."""

    platforms = SQL_ONLY
    supports_check = False
    schema = args_schema(
        {
            "sql": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                ]
            },
            "params": PARAMS,
            "autocommit": {"type": "boolean", "default": False},
        },
        ("sql",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        statements = [args["sql"]] if isinstance(args["sql"], str) else list(args["sql"])
        if ctx.check_mode:
            return Result(skipped=True, msg=f"check mode: {len(statements)} statement(s) not run")
        params = args.get("params") or ()
        if params and len(statements) > 1:
            return Result(failed=True, msg="params can only be used with a single statement")
        target = target_of(ctx, args["db"])
        counts = []
        with db_failures(), connect(target, autocommit=bool(args.get("autocommit"))) as db:
            if db.autocommit:
                counts = [db.execute(sql, params) for sql in statements]
            else:
                with db.transaction():
                    counts = [db.execute(sql, params) for sql in statements]
        # -1: the driver cannot tell (DDL, procedures); count it as a change rather than hide one.
        changed = any(c != 0 for c in counts)
        touched = sum(c for c in counts if c > 0)
        return Result(
            changed=changed,
            output={"rowcounts": counts, "rowcount": touched, "statements": len(statements)},
            msg=f"{len(statements)} statement(s), {touched} row(s)",
        )
