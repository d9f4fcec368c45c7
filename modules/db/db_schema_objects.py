"""db_schema_objects: list indexes, statistics, views and tables by name pattern, with definitions.

With `drop: true` the matching indexes, statistics and views are dropped after their
definitions are recorded in the result (the Sage CRM pre-upgrade clean-up of `_dta_index*` and
`_dta_stat_*`). Tables and indexes behind a primary key or unique constraint are never dropped.
Running it twice reports `changed` once, then `ok` (nothing matches any more).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api.module import Finding, Module, Result, TaskContext
from engine.db.database import connect
from engine.db.schema_objects import KINDS, drop_statement, find, supported_kinds
from engine.db.tasks import SQL_ONLY, args_schema, db_failures, target_of


class DbSchemaObjects(Module):
    """Find schema objects by glob pattern (`_dta_index*`); optionally drop them."""

    platforms = SQL_ONLY
    schema = args_schema(
        {
            "kinds": {
                "type": "array",
                "items": {"enum": list(KINDS)},
                "minItems": 1,
                "uniqueItems": True,
                "description": "Default: every kind the dialect has (statistics: SQL Server only).",
            },
            "pattern": {"type": "string", "minLength": 1, "default": "*", "description": "Glob on the name."},
            "drop": {
                "type": "boolean",
                "default": False,
                "description": "Drop matching indexes/statistics/views.",
            },
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        kinds = args.get("kinds") or list(supported_kinds(target.dialect))
        pattern = args.get("pattern", "*")
        with db_failures(), connect(target) as db:
            found = {kind: find(db, kind, pattern) for kind in kinds}
            objects = {kind: [o.to_dict() for o in items] for kind, items in found.items()}
            output: dict[str, Any] = {"objects": objects, "count": sum(len(v) for v in objects.values())}
            if not args.get("drop") or not output["count"]:
                return Result(output=output, msg=f"{output['count']} object(s) match {pattern!r}")
            statements = [(o, drop_statement(db, o)) for items in found.values() for o in items]
            if ctx.check_mode:
                output["would_drop"] = [o.name for o, _ in statements]
                return Result(changed=True, output=output, msg=f"would drop {len(statements)} object(s)")
            with db.transaction():
                for _, sql in statements:
                    db.execute(sql)
        findings = [
            Finding(
                "dta_object" if o.name.lower().startswith("_dta_") else "schema_object",
                f"dropped {o.kind[:-1] if o.kind != 'statistics' else 'statistic'} {o.name}"
                + (f" on {o.table}" if o.table else ""),
                "info",
                detail={"definition": o.definition},
            )
            for o, _ in statements
        ]
        output["dropped"] = [o.name for o, _ in statements]
        return Result(
            changed=True, output=output, findings=findings, msg=f"dropped {len(statements)} object(s)"
        )
