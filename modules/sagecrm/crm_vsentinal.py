"""Remove vSentinal from the views of a restored test database (the guide's chapter 8 checklist).

The checklist of chapter 12: "Supprimer vSentinal des vues de la base de données Sage CRM
restaurée", between restoring the live database into the test environment and restoring the
program files. This module does it on a test estate only (`sagecrm.mirror_of`; a live database is
never touched): the view named `vSentinal` is dropped, its definition written first to a JSON
artifact on the controller (`vsentinal_view`, resource `schema:<database>:vsentinal`), so `undo`
can create it again. Another view whose definition still uses vSentinal is not rewritten (the
guide does not say with what): it is listed, and the `no_vsentinal` checklist item that follows
in `test-upgrade.yml` stops the flow until a person has edited it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.db.schema_objects import drop_statement, find
from modules._common import object_schema
from modules.sagecrm import _sagecrm as crm
from modules.windows._windows import recorded_output

VIEW = "vSentinal"


class CrmVsentinal(Module):
    """Drop the vSentinal view of a restored test database (definition journaled; undo recreates it)."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Remove the vSentinal view from a restored test database (test estates only).", {}
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        if not est.setting("mirror_of"):
            raise ModuleFailed(
                "vSentinal is removed from a restored TEST database only (sagecrm.mirror_of is not set)"
            )
        with crm.crm_db(ctx, est) as db:
            views = [v for v in find(db, "views", "*") if v.name.casefold() == VIEW.casefold()]
            users = sorted(
                v.name
                for v in find(db, "views", "*")
                if v.name.casefold() != VIEW.casefold() and VIEW.casefold() in (v.definition or "").casefold()
            )
            output: dict[str, Any] = {"dropped": [], "still_using": users}
            if not views:
                return Result(changed=False, msg=f"no {VIEW} view", output=output)
            if ctx.check_mode:
                return Result(changed=True, msg=f"would drop {VIEW}", output=output)
            artifact = crm.controller_artifact(
                ctx,
                "vsentinal_view",
                f"schema:{est.database}:vsentinal",
                f"vsentinal-{est.database}.json",
                {"database": est.database, "items": [v.to_dict() for v in views]},
            )
            with crm.db_failures(), db.transaction():
                for view in views:
                    db.execute(drop_statement(db, view))
        output["dropped"] = [v.to_dict() for v in views]
        note = f"; still used by {', '.join(users)} (edit them)" if users else ""
        return Result(changed=True, msg=f"dropped {VIEW}{note}", output=output, artifacts=[artifact])

    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        dropped = recorded_output(recorded).get("dropped") or []
        est = crm.estate(ctx)
        with crm.crm_db(ctx, est) as db:
            present = {v.name.casefold() for v in find(db, "views", "*")}
            todo = [
                v for v in dropped if str(v.get("name", "")).casefold() not in present and v.get("definition")
            ]
            if not todo or ctx.check_mode:
                return Result(changed=bool(todo), msg="would recreate" if todo else "nothing to recreate")
            with crm.db_failures(), db.transaction():
                for view in todo:
                    db.execute(str(view["definition"]))
        return Result(changed=True, msg=f"recreated {VIEW}", output={"recreated": [v["name"] for v in todo]})
