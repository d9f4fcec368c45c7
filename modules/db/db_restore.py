"""db_restore: put a database back from a recorded, verified backup. Destructive.

It refuses at run time (not only in the plan) unless a verified `db_backup` artifact of the same
target exists and the file still has the sha256 recorded when it was verified, so a backup that
was overwritten, truncated or swapped since is never restored. Which backup, when not named:
the FIRST verified backup of the run being rolled back from, else this run's first: the one
taken before anything changed (later ones may already hold the failed upgrade); `select:
latest` takes the newest instead. A backup with an off-server copy (recorded with it) whose
file on the server is gone or changed is first brought back from that copy, checked before and
after (modules/db/_offsite.py). A zipped SQL Server backup (Express/Web, engine/db/bakzip.py) is
unzipped first and restored only when the .bak has the sha256 recorded before it was zipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from engine.api.module import Artifact, Finding, Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db.bakzip import unzipped
from engine.db.operations import RESTORE_CLEAN, restore_backup
from engine.db.target import Target
from engine.db.tasks import (
    ON_DB_HOST,
    TOOL_TIMEOUT,
    args_schema,
    db_failures,
    files_for,
    pick_backup,
    target_of,
    verified_backups,
)
from modules import _production as production
from modules.db._offsite import BROUGHT_BACK, bring_back


class DbRestore(Module):
    """Restore a database target from a verified backup, with exclusive access."""

    platforms = ON_DB_HOST
    destructive = True
    schema = args_schema(
        {
            "backup": {
                "type": "string",
                "minLength": 1,
                "description": "Location of a recorded verified backup.",
            },
            "select": {
                "enum": ["first", "latest"],
                "default": "first",
                "description": "Which recorded backup when `backup` is not given.",
            },
            "clean": {
                "enum": list(RESTORE_CLEAN),
                "default": "database",
                "description": "MariaDB/PostgreSQL: drop and re-create the database (default) or only "
                "replace the objects the dump holds.",
            },
            "moves": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "SQL Server: logical file name -> new physical path (RESTORE ... MOVE).",
            },
            "timeout": TOOL_TIMEOUT,
        },
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"db:{args['db']}"]

    def gates(self, args: Mapping[str, Any], host: Host) -> list[dict[str, Any]]:
        """`restore-production-<db>`, asked when the inventory marks the target production."""
        return production.maybe_declared([str(args["db"])])

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        if ctx.check_mode and not (args.get("backup") or pick_backup(ctx, target)):
            # A check run records no backups, so the one an earlier step would take cannot exist yet.
            return Result(
                changed=True, msg=f"would restore {target.name} from the verified backup taken before"
            )
        with db_failures():
            files = files_for(ctx, target)
            chosen = self._choose(ctx, target, args)
            if chosen is not None and chosen.host and files.host and chosen.host != files.host:
                raise ModuleFailed(
                    f"refusing: backup {chosen.location} was recorded on {chosen.host}, not {files.host}"
                )
            # the server's own copy, else its intact off-server copy brought back
            read_from = bring_back(ctx, chosen) if chosen is not None else None
            location = chosen.location if chosen else str(args.get("backup"))
            if ctx.check_mode and read_from == BROUGHT_BACK:  # the server's copy stays gone in check mode
                msg = (
                    f"would bring {location} back from its off-server copy and restore {target.name} from it"
                )
                return Result(changed=True, msg=msg, output={"backup": location, "read_from": read_from})
            digest, size = files.hash(location)  # re-read now: the file must be the one verified
        findings = []
        if chosen is None:
            message = (
                f"restoring {target.name} from {location}, which no verified backup of this or the "
                "rolled-back run records (operator override)"
            )
            findings.append(Finding("unprotected", message, "warning"))
        elif digest != chosen.sha256:
            raise ModuleFailed(
                f"refusing to restore {target.name}: {location} changed since it was verified "
                f"(sha256 {digest[:12]}..., recorded {str(chosen.sha256)[:12]}...)"
            )
        output = {
            "backup": location,
            "read_from": read_from,
            "sha256": digest,
            "size": size,
            "taken_at": chosen.taken_at if chosen else None,
        }
        if ctx.check_mode:
            message = f"would restore {target.name} from {location}"
            return Result(changed=True, msg=message, output=output, findings=findings)
        taken_at = chosen.taken_at if chosen else None
        approval = production.require_approval(ctx, target.name, taken_at)  # production: its own gate first
        if approval is not None:
            output["gate"] = approval
        zipped = chosen is not None and bool(chosen.meta.get("zipped"))
        with (
            db_failures(),
            unzipped(files, location, dict(chosen.meta) if chosen else {})
            if zipped
            else nullcontext(location) as source,
        ):
            done = restore_backup(
                target,
                files,
                source,
                clean=args.get("clean", "database"),
                meta=dict(chosen.meta) if chosen else None,
                moves=args.get("moves"),
                timeout=args.get("timeout"),
                progress=ctx.progress,
            )
        output.update(done)
        return Result(
            changed=True, msg=f"restored {target.name} from {location}", output=output, findings=findings
        )

    def _choose(self, ctx: TaskContext, target: Target, args: Mapping[str, Any]) -> Artifact | None:
        """The recorded verified backup to use, or None under an explicit operator override."""
        prior, current = verified_backups(ctx, target)
        for found in (prior, current):
            for artifact in found:
                if artifact.meta.get("dialect", target.dialect) != target.dialect:
                    raise ModuleFailed(f"backup {artifact.location} is a {artifact.meta['dialect']} backup")
        wanted = args.get("backup")
        if wanted:
            named = [a for a in prior + current if a.location == wanted]
            if named:
                return named[0]
        else:
            chosen = pick_backup(ctx, target, args.get("select", "first"))
            if chosen is not None:
                return chosen
        if ctx.run.allow_unprotected and wanted:
            return None
        what = (
            f"{wanted} is not a recorded verified backup of it"
            if wanted
            else "it has no recorded verified backup"
        )
        raise ModuleFailed(
            f"refusing to restore {target.name}: {what} (take one with db_backup or backup_check first, "
            "or run with the explicit override and name `backup:`)"
        )
