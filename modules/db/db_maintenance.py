"""db_maintenance: the guide's maintenance plan tasks, for the dialects that have them.

Tasks run in the order given: checkdb, reorganize_indexes, rebuild_indexes, update_statistics,
backup_full, backup_diff, backup_log (SQL Server), cleanup (backup files older than
`older_than`, never one this run or the rolled-back run recorded), shrink (discouraged: it is
reported as a warning). A task the dialect has no equivalent for fails the whole step before
anything runs: "<task> is unsupported on <dialect>".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api.module import Finding, Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db.database import connect
from engine.db.maintenance import SQL_TASKS, TASKS, check_supported, run_sql_task
from engine.db.operations import cleanup_backups, take_backup
from engine.db.target import Target
from engine.db.tasks import (
    DURATION,
    ON_DB_HOST,
    TOOL_TIMEOUT,
    args_schema,
    backup_artifact,
    backup_output,
    db_failures,
    files_for,
    seconds,
    target_of,
)


class DbMaintenance(Module):
    """Run maintenance tasks against a database target (changes: check mode only reports)."""

    platforms = ON_DB_HOST
    schema = args_schema(
        {
            "tasks": {"type": "array", "items": {"enum": list(TASKS)}, "minItems": 1, "uniqueItems": True},
            "dest": {
                "type": "string",
                "minLength": 1,
                "description": "Backup directory (default: backup_dir).",
            },
            "older_than": {**DURATION, "description": "cleanup: remove backups older than this."},
            "pattern": {"type": "string", "minLength": 1, "description": "cleanup: glob (default `<db>-*`)."},
            "timeout": TOOL_TIMEOUT,
        },
        ("tasks",),
        allOf=[
            {
                "if": {"properties": {"tasks": {"contains": {"const": "cleanup"}}}},
                "then": {"required": ["older_than"]},
            }
        ],
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"db:{args['db']}"] if "backup_full" in (args.get("tasks") or []) else []

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        tasks = list(args["tasks"])
        with db_failures():
            check_supported(target.dialect, tasks)
        if ctx.check_mode:
            return Result(changed=True, msg=f"would run {', '.join(tasks)} on {target.name}")
        result = Result(changed=True)
        done: dict[str, Any] = {}
        for task in tasks:
            ctx.progress(f"{task} on {target.name}")
            try:
                with db_failures():
                    done[task] = self._one(ctx, target, task, args, result)
            except ModuleFailed as exc:
                raise ModuleFailed(f"{task} failed: {exc}", {"tasks": done}) from None
        result.output = {"tasks": done}
        result.msg = f"{', '.join(tasks)} done on {target.name}"
        return result

    def _one(
        self, ctx: TaskContext, target: Target, task: str, args: Mapping[str, Any], result: Result
    ) -> Any:
        if task in SQL_TASKS:
            with connect(target, autocommit=True) as db:
                out = run_sql_task(db, task)
            if task == "shrink":
                result.findings.append(
                    Finding(
                        "maintenance", f"{target.name} was shrunk: the guide discourages it (fragmentation)"
                    )
                )
            return out
        files = files_for(ctx, target)
        if task.startswith("backup_"):
            record = take_backup(
                target,
                files,
                args.get("dest"),
                kind=task[len("backup_") :],
                timeout=args.get("timeout"),
                progress=ctx.progress,
            )
            result.artifacts.append(backup_artifact(record, target))
            return backup_output(record)
        directory = args.get("dest") or target.backup_dir
        if not directory:
            raise ModuleFailed(f"cleanup: database target {target.name!r} has no backup_dir; give `dest:`")
        keep = {a.location for a in ctx.run.artifacts_for(target.resource) + result.artifacts}
        removed = cleanup_backups(
            target, files, directory, seconds(args["older_than"], "older_than"), keep, args.get("pattern")
        )
        return {"removed": removed}
