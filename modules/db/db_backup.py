"""db_backup: take a backup of a database target and record it only once it is verified.

The artifact (kind `db_backup`, resource `db:<target>`) carries location, size, sha256 and the
verification method; `db_restore` later accepts nothing else. The module never reports success
for a backup that failed verification: the run stops there, before anything destructive.

On SQL Server editions without backup compression (Express, Web) the verified .bak is zipped
where it lies and the uncompressed file removed, as the Sage CRM guide's backup steps say
(engine/db/bakzip.py): the artifact is the zip, with the .bak's sha256 kept for the restore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api.module import Module, Result, TaskContext
from engine.core.model import Host
from engine.db.bakzip import zip_backup
from engine.db.operations import take_backup
from engine.db.tasks import (
    ON_DB_HOST,
    TOOL_TIMEOUT,
    args_schema,
    backup_artifact,
    backup_output,
    db_failures,
    files_for,
    target_of,
)


class DbBackup(Module):
    """Full (or, on SQL Server, differential/log) backup, hashed and verified where it lies."""

    platforms = ON_DB_HOST
    schema = args_schema(
        {
            "dest": {
                "type": "string",
                "minLength": 1,
                "description": "Directory (default: the target's backup_dir).",
            },
            "filename": {"type": "string", "minLength": 1, "pattern": "^[^/\\\\]+$"},
            "kind": {
                "enum": ["full", "diff", "log"],
                "default": "full",
                "description": "diff/log: SQL Server only.",
            },
            "verify": {
                "enum": ["default", "restore"],
                "default": "default",
                "description": "restore: also restore into a scratch database that is dropped afterwards.",
            },
            "compress": {"type": "boolean", "description": "SQL Server: default is 'when the edition can'."},
            "zip": {
                "type": "boolean",
                "default": True,
                "description": "SQL Server written without COMPRESSION (Express, Web): zip the verified .bak "
                "and remove the uncompressed file.",
            },
            "timeout": TOOL_TIMEOUT,
        },
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        # Only a full backup can bring a database back on its own.
        return [f"db:{args['db']}"] if args.get("kind", "full") == "full" else []

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        where = args.get("dest") or target.backup_dir or "(no backup_dir)"
        if ctx.check_mode:
            return Result(changed=True, msg=f"would back up {target.name} ({target.dialect}) to {where}")
        with db_failures():
            files = files_for(ctx, target)
            record = take_backup(
                target,
                files,
                args.get("dest"),
                filename=args.get("filename"),
                kind=args.get("kind", "full"),
                verify=args.get("verify", "default"),
                compress=args.get("compress"),
                timeout=args.get("timeout"),
                progress=ctx.progress,
            )
            if record.dialect == "mssql" and not record.meta.get("compressed") and args.get("zip", True):
                record.location, zipped = zip_backup(files, record.location, record.sha256, record.size)
                record.meta.update(zipped)
                record.sha256, record.size = files.hash(record.location)
        return Result(
            changed=True,
            msg=f"backed up {target.name} to {record.location} (verified: {record.verify_method})",
            output=backup_output(record),
            artifacts=[backup_artifact(record, target)],
        )
