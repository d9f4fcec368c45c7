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
staging folder next to `path` (`<path>.cutover-<tag>.new`), whose tree hash must match the one
recorded when the zip was made. Only then is the live folder renamed aside
(`<path>.cutover-<tag>.old`), the staging folder moved in its place, checked, and the aside
copy deleted last: at no moment is there no install folder, and a failure while the folders
change places moves the live one back. A rename refused because files are in use (a w3wp.exe
still running) fails before anything changed. `<tag>` comes from the run id, so a resumed run
finds and finishes its own folders and never touches a folder it did not make; the suffixes add
21 characters to the path. Files added to `path` since the backup are gone afterwards: the folder
equals the backup. Idempotent: when the folder's tree hash already equals the recorded one the
task is `ok` (and an aside copy its run left behind is deleted). The staging folder needs as
much free space as the folder (check with `disk_space`). The zip is extracted with every size and
ratio limit of `unarchive` off: it is the estate's own backup with its sha256 checked, and a
rollback must not be refused because a log file compresses well; the member checks and the
free-space check still apply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import PATH_SCHEMA, call, call_optional, digest, object_schema, prop, resource, stat
from modules.files.archive import Archive, _read_sidecar
from modules.files.unarchive import NO_LIMITS
from modules.windows._windows import WINDOWS, require_backup, same_path


def work_folders(ctx: TaskContext, path: str) -> tuple[str, str]:
    """(staging, aside) next to `path`: names of this run only, so none is a folder of the estate's."""
    tag = hashlib.sha256(ctx.run.run_id.encode("utf-8")).hexdigest()[:8]
    base = path.rstrip("\\/")
    return f"{base}.cutover-{tag}.new", f"{base}.cutover-{tag}.old"


def extract_staged(ctx: TaskContext, zip_path: str, path: str, expected: str | None) -> dict[str, Any]:
    """The zip extracted to this run's staging folder next to `path`, checked against the tree
    hash recorded when it was made; the staging folder's tree hash."""
    remote = ctx.require_remote()
    staging, _aside = work_folders(ctx, path)
    if stat(remote, staging) is not None:  # this run's own, from an attempt cut short
        call(remote, "file.remove", path=staging, recursive=True)
    # the zip is this estate's own verified backup: no size or ratio limit may refuse its restore
    call(remote, "archive.extract", src=zip_path, dest=staging, overwrite=True, **NO_LIMITS)
    staged = call(remote, "file.tree_hash", path=staging)
    if expected is not None and staged["digest"] != expected:
        call(remote, "file.remove", path=staging, recursive=True)
        raise ModuleFailed(
            f"{zip_path} does not extract to the folder recorded when it was made "
            f"(tree sha256 {staged['digest']}, recorded {expected}); {path} was left as it was"
        )
    return staged


def swap_in(ctx: TaskContext, path: str, staged: Mapping[str, Any]) -> dict[str, Any]:
    """Put the staging folder at `path`: the live folder renamed aside, the staged one moved in and
    checked, the aside copy deleted last; a failure in between moves the live folder back."""
    remote = ctx.require_remote()
    staging, aside = work_folders(ctx, path)
    if stat(remote, path) is not None:
        if stat(remote, aside) is not None:
            raise ModuleFailed(
                f"both {path} and {aside} exist: an earlier attempt of this run was cut short while the "
                "folders changed places; check which one is the install and remove the other"
            )
        call(remote, "file.move", src=path, dest=aside)  # a rename: files in use refuse it, nothing changed
    try:
        call(remote, "file.move", src=staging, dest=path)
    except ModuleFailed as failed:
        if stat(remote, aside) is not None and stat(remote, path) is None:
            call(remote, "file.move", src=aside, dest=path)
        raise ModuleFailed(f"{failed}; {path} was put back as it was") from failed
    final = call(remote, "file.tree_hash", path=path)
    if final["digest"] != staged["digest"]:
        raise ModuleFailed(
            f"{path} differs from the extracted backup after the move; the folder it replaced is kept at "
            f"{aside}: check the host"
        )
    if stat(remote, aside) is not None:
        call(remote, "file.remove", path=aside, recursive=True)
    return final


def drop_aside(ctx: TaskContext, path: str) -> bool:
    """Delete the aside copy this run left next to `path` (True when there was one)."""
    remote = ctx.require_remote()
    _staging, aside = work_folders(ctx, path)
    if stat(remote, aside) is None:
        return False
    call(remote, "file.remove", path=aside, recursive=True)
    return True


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
        if not ctx.check_mode and drop_aside(ctx, state["path"]):
            result.msg += " (the copy it replaced, left by an attempt cut short, was deleted)"

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
        expected = change["expected"]
        staged = extract_staged(ctx, dest, path, expected)
        if expected is None and staged["digest"] == change["current"]:
            call(remote, "file.remove", path=work_folders(ctx, path)[0], recursive=True)
            return Result(
                changed=False,
                msg=f"{path} already equals {dest}",
                output={"path": path, "dest": dest, "changed": False, "tree_digest": staged["digest"]},
            )
        final = swap_in(ctx, path, staged)
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
