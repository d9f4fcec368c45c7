"""Zip a Windows folder as a verified backup (`present`), or restore the folder from it (`extracted`).

`state: present` (the default) is the `archive` module on a Windows host: the folder with all
sub-folders is zipped to `dest`, the zip is read back completely (`archive.verify`) and recorded
as a verified `archive` artifact for `files:<host>:<path>` with its sha256; `protects()` names
that resource. `<dest>.cutover.json` next to the zip keeps the folder's tree hash, so a second
run over an unchanged folder is `ok` (and reports the artifact again). An existing `dest` that
is not an archive of the current folder is refused unless `overwrite: true`: overwriting the
last good backup with the state of a failed upgrade is the mistake this refusal prevents.

`state: extracted` puts the folder back as it was when `dest` was made (the rollback's
"copy the program files back"). It is destructive (`destroys()` names `files:<host>:<path>`):
at run time the task refuses unless a verified backup of `path` was recorded (this run, or the
run rolled back from) and is still intact; when `dest` is that recorded zip it must still have
its recorded sha256. `--allow-unprotected` overrides the refusal. The zip is extracted into a
staging folder next to `path` (`<path>.cutover-restore`), whose tree hash must match the one
recorded when the zip was made; only then is `path` removed and the staging folder moved in
its place, so a failed extraction never leaves a half-restored folder. Files added to `path`
since the backup are gone afterwards: the folder equals the backup. Idempotent: when the
folder's tree hash already equals the recorded one the task is `ok`. The staging folder needs
as much free space as the folder (check with `disk_space`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import PATH_SCHEMA, call, call_optional, digest, object_schema, prop, resource, stat
from modules.files.archive import Archive, _read_sidecar
from modules.windows._windows import WINDOWS, require_backup, same_path

STAGING_SUFFIX = ".cutover-restore"


def _staging(path: str) -> str:
    return path.rstrip("\\/") + STAGING_SUFFIX


class WinArchive(Archive):
    """present: folder -> verified zip (see `archive`); extracted: verified zip -> folder, atomically."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Zip a folder into a verified backup, or restore the folder from such a zip (Windows hosts).",
        {
            "path": prop(PATH_SCHEMA, "The folder (e.g. the Sage CRM install folder)."),
            "dest": prop(PATH_SCHEMA, "The zip file (outside `path`).", pattern="\\.[zZ][iI][pP]$"),
            "state": {
                "enum": ["present", "extracted"],
                "default": "present",
                "description": "present: zip path into dest (backup); extracted: restore path from dest.",
            },
            "overwrite": {
                "type": "boolean",
                "default": False,
                "description": "present: replace an existing dest that is not an archive of the current folder.",
            },
        },
        ("path", "dest"),
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [] if args.get("state") == "extracted" else super().protects(args, host)

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"files:{host.name}:{args['path']}"] if args.get("state") == "extracted" else []

    # --- dispatch -----------------------------------------------------------------------------
    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        if args.get("state") != "extracted":
            return {"mode": "present", **super().check(ctx, args)}
        return self._check_restore(ctx, args)

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        if state["mode"] == "present":
            return super().diff(ctx, args, state)
        if state["expected"] is not None and state["current"] == state["expected"]:
            return None
        return {
            **state,
            "before": {"path": state["path"], "tree_digest": state["current"]},
            "after": {
                "path": state["path"],
                "tree_digest": state["expected"] or f"content of {state['dest']}",
            },
        }

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        if change["mode"] == "present":
            return super().apply(ctx, args, change)
        return self._restore(ctx, args, change)

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        if state["mode"] == "present":
            super().settle(ctx, result, state)
            return
        result.output = {
            "path": state["path"],
            "dest": state["dest"],
            "changed": False,
            "tree_digest": state["current"],
        }
        result.msg = f"{state['path']} already equals the backup {state['dest']}"

    # --- extracted ----------------------------------------------------------------------------
    def _check_restore(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        path, dest = str(args["path"]), str(args["dest"])
        zip_sha = digest(remote, dest)
        if zip_sha is None and not ctx.check_mode:  # in check mode an earlier step would create it
            raise ModuleFailed(f"backup {dest} does not exist on {ctx.host.name}")
        current = call_optional(remote, "file.tree_hash", path=path)
        return {
            "mode": "extracted",
            "path": path,
            "dest": dest,
            "sha256": zip_sha,
            "current": current["digest"] if current else None,
            "expected": self._expected_tree(ctx, dest, zip_sha, path) if zip_sha else None,
        }

    def _expected_tree(self, ctx: TaskContext, dest: str, zip_sha: str, path: str) -> str | None:
        """The tree hash the folder had when this zip was made: from its artifact, else its record."""
        for art in ctx.run.artifacts_for(resource(ctx, path)):
            if same_path(art.location, dest) and art.sha256 == zip_sha and art.meta.get("tree_digest"):
                return str(art.meta["tree_digest"])
        record = _read_sidecar(ctx, dest) or {}
        if record.get("sha256") == zip_sha and record.get("tree_digest"):
            return str(record["tree_digest"])
        return None

    def _restore(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        path, dest = change["path"], change["dest"]
        backup: Artifact | None = require_backup(ctx, resource(ctx, path), source=dest)
        staging = _staging(path)
        if stat(remote, staging) is not None:
            call(remote, "file.remove", path=staging, recursive=True)
        call(remote, "archive.extract", src=dest, dest=staging, overwrite=True)
        staged = call(remote, "file.tree_hash", path=staging)
        expected = change["expected"]
        if expected is not None and staged["digest"] != expected:
            call(remote, "file.remove", path=staging, recursive=True)
            raise ModuleFailed(
                f"{dest} does not extract to the folder recorded when it was made "
                f"(tree sha256 {staged['digest']}, recorded {expected}); {path} was left as it was"
            )
        if expected is None and staged["digest"] == change["current"]:
            call(remote, "file.remove", path=staging, recursive=True)
            return Result(
                changed=False,
                msg=f"{path} already equals {dest}",
                output={"path": path, "dest": dest, "changed": False, "tree_digest": staged["digest"]},
            )
        if change["current"] is not None or stat(remote, path) is not None:
            call(remote, "file.remove", path=path, recursive=True)
        call(remote, "file.move", src=staging, dest=path)
        final = call(remote, "file.tree_hash", path=path)
        if final["digest"] != staged["digest"]:
            raise ModuleFailed(f"{path} differs from the extracted backup after the move; check the host")
        return Result(
            changed=True,
            msg=f"restored {path} from {dest} ({final['files']} files)",
            output={
                "path": path,
                "dest": dest,
                "changed": True,
                "tree_digest": final["digest"],
                "files": final["files"],
                "backup": backup.location if backup else None,
            },
            diff={"path": path, "before": change["before"], "after": change["after"]}
            if ctx.diff_mode
            else None,
        )
