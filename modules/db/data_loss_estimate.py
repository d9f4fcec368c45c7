"""data_loss_estimate: how many rows a restore to a given moment would lose.

Rows changed since `since` are counted in every table that has a modification-date column
(configurable globs: 1CRM/SugarCRM `date_modified`, Sage CRM `*_UpdatedDate`, ...). `since:
backup` uses the time of the backup a db_restore would pick. The count is shown as output and
as a Finding so the operator decides about a rollback knowing its price.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.api.module import Finding, Module, ModuleFailed, Result, TaskContext
from engine.db.catalog import all_columns
from engine.db.database import connect
from engine.db.tasks import (
    SQL_ONLY,
    args_schema,
    db_failures,
    parse_timestamp,
    pick_backup,
    target_of,
)

DEFAULT_COLUMNS = [
    "date_modified",
    "*_UpdatedDate",
    "updated_at",
    "modified_at",
    "last_modified",
    "date_updated",
]


class DataLossEstimate(Module):
    """Rows changed per table since a moment (read-only; runs in check mode)."""

    platforms = SQL_ONLY
    schema = args_schema(
        {
            "since": {
                "type": ["string", "number"],
                "default": "backup",
                "description": "ISO-8601 date/time, epoch seconds, or `backup` (the backup a restore would use).",
            },
            "columns": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "description": "Globs of modification-date column names, case-insensitive, first match per table.",
            },
            "timezone": {
                "type": "string",
                "description": "Time zone of the stored dates (default: the estate's).",
            },
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        since = self._since(ctx, target, args)
        patterns = [p.lower() for p in (args.get("columns") or DEFAULT_COLUMNS)]
        tables: dict[str, dict[str, Any]] = {}
        without: list[str] = []
        with db_failures(), connect(target) as db:
            for table, columns in all_columns(db).items():
                column = next(
                    (c for p in patterns for c in columns if fnmatch.fnmatchcase(c.lower(), p)), None
                )
                if column is None:
                    without.append(table.display)
                    continue
                count = db.value(
                    f"SELECT COUNT(*) FROM {table.sql(db)} WHERE {db.dialect.quote_ident(column)} >= ?",
                    (since,),
                )
                tables[table.display] = {"column": column, "rows": int(count or 0)}
            db.rollback()
        total = sum(t["rows"] for t in tables.values())
        changed = {name: t["rows"] for name, t in tables.items() if t["rows"]}
        output = {
            "since": since.isoformat(sep=" "),
            "tables": tables,
            "total_rows": total,
            "changed_tables": changed,
            "tables_without_column": without,
        }
        summary = (
            f"{total} row(s) in {len(changed)} table(s) of {target.name} changed since {output['since']}"
        )
        finding = Finding(
            "data_loss",
            f"a restore would lose {summary}"
            if total
            else f"no rows of {target.name} changed since {output['since']}",
            "warning" if total else "info",
            detail={"tables": changed, "since": output["since"]},
        )
        return Result(output=output, findings=[finding], msg=summary)

    def _since(self, ctx: TaskContext, target: Any, args: Mapping[str, Any]) -> _dt.datetime:
        """The moment as a naive date/time in the zone the database stores its dates in."""
        value = args.get("since", "backup")
        if value == "backup":
            chosen = pick_backup(ctx, target)
            if chosen is None:
                raise ModuleFailed(f"since: backup, but no verified backup of {target.name} is recorded")
            value = chosen.taken_at
        moment = parse_timestamp(value, "since")
        if moment.tzinfo is None:
            return moment
        zone_name = args.get("timezone") or getattr(ctx.run.inventory, "timezone", None) or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ModuleFailed(f"unknown time zone {zone_name!r}") from None
        return moment.astimezone(zone).replace(tzinfo=None)
