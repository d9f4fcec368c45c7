"""backup_check: is there a recent, sound backup of a database that someone else took?

The 1CRM procedure without a service contract starts with "confirm that last night's backup
exists and is sound"; Sage CRM sites have maintenance plans writing backups. This finds the
newest backup by a path pattern on the DB host (or in msdb's backup history on SQL Server),
checks it is younger than `max_age`, reads it in full (sha256) and verifies it like db_backup
does (optionally with a test restore). With `record: true` (default) a verified backup becomes
a `db_backup` artifact, so a later db_restore may use it; its `taken_at` is the file's time.
"""

from __future__ import annotations

import datetime as _dt
import ntpath
import posixpath
from collections.abc import Mapping
from typing import Any

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db import mssql
from engine.db.errors import Unsupported
from engine.db.files import HostFiles
from engine.db.operations import BackupRecord, admin_connection, database_of, verify_backup
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
    now_utc,
    seconds,
    target_of,
)


def _hours(value: float) -> str:
    return f"{value / 3600:.1f} h"


class BackupCheck(Module):
    """Find the newest backup (path pattern or msdb history), check its age, read and verify it."""

    platforms = ON_DB_HOST
    schema = args_schema(
        {
            "path": {
                "type": "string",
                "minLength": 1,
                "description": "Glob of backup files: /backups/crm-*.sql.gz",
            },
            "history": {"const": True, "description": "SQL Server: the newest backup recorded in msdb."},
            "kind": {"enum": ["full", "diff", "log"], "default": "full", "description": "With history."},
            "max_age": DURATION,
            "verify": {"enum": ["none", "default", "restore"], "default": "default"},
            "record": {"type": "boolean", "default": True},
            "timeout": TOOL_TIMEOUT,
        },
        ("max_age",),
        oneOf=[{"required": ["path"]}, {"required": ["history"]}],
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        recorded = args.get("record", True) and args.get("verify", "default") != "none"
        return [f"db:{args['db']}"] if recorded and args.get("kind", "full") == "full" else []

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        max_age = seconds(args["max_age"], "max_age")
        method = args.get("verify", "default")
        if ctx.check_mode and method == "restore":
            method = "default"  # a test restore creates a database: not in check mode
        with db_failures():
            files = files_for(ctx, target)
            location, age = self._newest(target, files, args)
            if age > max_age:
                raise ModuleFailed(
                    f"newest backup of {target.name} is {_hours(age)} old (max_age {args['max_age']}): {location}",
                    {"location": location, "age_seconds": age},
                )
            taken = (now_utc() - _dt.timedelta(seconds=age)).isoformat(timespec="seconds")
            record = BackupRecord(
                location, files.host, target.dialect, database_of(target), args.get("kind", "full")
            )
            record.taken_at = taken
            record.sha256, record.size = files.hash(location)  # reads the whole file: it is readable
            if method != "none":
                record.verify_method = verify_backup(
                    target, files, location, method=method, kind=record.kind, timeout=args.get("timeout")
                )
                record.verified = True
        record.meta["source"] = "backup_check"
        output = {**backup_output(record), "age_seconds": round(age, 1)}
        result = Result(
            output=output, msg=f"{location}: {_hours(age)} old, {record.verify_method or 'readable'}"
        )
        if record.verified and args.get("record", True) and not ctx.check_mode:
            result.artifacts.append(backup_artifact(record, target))
        return result

    def _newest(self, target: Target, files: HostFiles, args: Mapping[str, Any]) -> tuple[str, float]:
        """(location, age in seconds) of the newest backup."""
        if args.get("history"):
            if target.dialect != "mssql":
                raise Unsupported("backup history", target.dialect)
            with admin_connection(target) as db:
                found = mssql.backup_history(db, database_of(target), args.get("kind", "full"))
            if not found:
                raise ModuleFailed(f"msdb records no {args.get('kind', 'full')} backup of {target.name}")
            if found.get("is_damaged"):
                raise ModuleFailed(
                    f"msdb marks the newest backup of {target.name} as damaged: {found['location']}"
                )
            return str(found["location"]), float(found["age_seconds"])
        pathmod = ntpath if files.platform == "windows" else posixpath
        directory, pattern = pathmod.split(args["path"])
        entries = files.list(directory, pattern)
        if not entries:
            raise ModuleFailed(f"no backup of {target.name} matches {args['path']}")
        newest = max(entries, key=lambda e: float(e.get("mtime") or 0))
        age = max(0.0, now_utc().timestamp() - float(newest.get("mtime") or 0))
        return pathmod.join(directory, str(newest["path"])), age
