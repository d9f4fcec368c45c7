"""Drop the auto-generated `_dta_index*` indexes and `_dta_stat_*` statistics before the upgrade.

The guide (chapter 7): indexes and statistics the Database Tuning Advisor created on CRM columns
can break the upgrade scripts; drop them, and run a tuning pass after the upgrade. Before
anything is dropped, the CREATE statement of every object is written to a JSON artifact on the
controller (`dta_objects`, resource `schema:<database>:dta`), so they can be recreated: `undo`
recreates every object the task dropped that is still missing. Objects that back a primary key
or unique constraint are never dropped. SQLite (the simulated estates) has no statistics
objects: only `_dta_index*` indexes exist there.

Idempotent: a second run finds nothing to drop and is `ok`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Finding, Module, Result, TaskContext
from engine.db.schema_objects import SchemaObject, drop_statement, find, supported_kinds
from modules._common import object_schema
from modules.sagecrm import _sagecrm as crm
from modules.windows._windows import recorded_output

PATTERNS = (("indexes", "_dta_index*"), ("statistics", "_dta_stat_*"))
_KIND = {"indexes": "index", "statistics": "statistic"}


def dta_objects(db: Any) -> list[SchemaObject]:
    """Every auto-generated index and statistic the dialect can list, droppable ones only."""
    found: list[SchemaObject] = []
    for kind, pattern in PATTERNS:
        if kind in supported_kinds(db.dialect.name):
            found.extend(o for o in find(db, kind, pattern) if not o.detail.get("constraint"))
    return found


class CrmDtaCleanup(Module):
    """Record the CREATE statements, then drop the `_dta_*` objects; undo recreates them."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Drop the auto-generated _dta_index*/_dta_stat_* objects of the CRM database (definitions journaled).",
        {},
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        with crm.crm_db(ctx, est) as db:
            objects = dta_objects(db)
            listed = [o.to_dict() for o in objects]
            if not objects:
                return Result(
                    changed=False, msg="no _dta_* object in the CRM database", output={"dropped": []}
                )
            if ctx.check_mode:
                return Result(
                    changed=True,
                    msg=f"would drop {len(objects)} _dta_* object(s)",
                    output={"would_drop": [o.name for o in objects]},
                )
            artifact = crm.controller_artifact(
                ctx,
                "dta_objects",
                f"schema:{est.database}:dta",
                f"dta-{est.database}.json",
                {"database": est.database, "items": listed},
            )
            statements = [drop_statement(db, o) for o in objects]
            with crm.db_failures(), db.transaction():
                for statement in statements:
                    db.execute(statement)
        findings = [
            Finding(
                "dta_object",
                f"dropped {_KIND[o.kind]} {o.name} on {o.table} (CREATE statement journaled)",
                "info",
                host=ctx.host.name,
                detail={"definition": o.definition, "table": o.table},
            )
            for o in objects
        ]
        findings.append(
            Finding(
                "dta_object",
                "run a tuning pass (e.g. the Database Engine Tuning Advisor or an "
                "update of statistics) once the upgrade is done",
                "info",
                host=ctx.host.name,
            )
        )
        return Result(
            changed=True,
            msg=f"dropped {len(objects)} _dta_* object(s)",
            output={"dropped": listed, "artifact": artifact.location},
            artifacts=[artifact],
            findings=findings,
        )

    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        dropped = recorded_output(recorded).get("dropped") or []
        est = crm.estate(ctx)
        with crm.crm_db(ctx, est) as db:
            present = {o.name for o in dta_objects(db)}
            todo = [o for o in dropped if o.get("name") not in present and o.get("definition")]
            if not todo or ctx.check_mode:
                return Result(
                    changed=bool(todo), msg=f"{'would recreate' if todo else 'nothing to recreate'}"
                )
            with crm.db_failures(), db.transaction():
                for item in todo:
                    db.execute(str(item["definition"]))
        return Result(
            changed=True,
            msg=f"recreated {len(todo)} _dta_* object(s)",
            output={"recreated": [o["name"] for o in todo]},
        )
