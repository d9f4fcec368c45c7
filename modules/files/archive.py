"""Back up a folder (with all sub-folders) into one zip or tar.gz on the same host, verified.

This is how program files are saved before an upgrade (the Sage CRM guide: "zip the whole
install folder"). After `archive.create` the archive is read back completely (`archive.verify`:
every member and its CRC) and its sha256 is recorded as an `archive` artifact for
`files:<host>:<path>`, so `protects()` names that folder and the planner lets destructive steps
on it run afterwards.

Idempotence: next to the archive, `<dest>.cutover.json` records the folder's tree hash (sha256
over every file's relative path and sha256) and the archive's sha256. A second run with an
unchanged folder and an untouched archive is `ok` and reports the same verified artifact again,
so every run's journal holds the backup it relies on. The folder is hashed again after the
archive is written: a folder that changed meanwhile fails the task rather than leaving a backup
that does not match what it claims to protect.

An existing `dest` that does not match the folder (an older backup, or a file this module did
not write) is refused unless `overwrite: true`: overwriting the last good backup with the state
of a failed upgrade is the mistake this refusal prevents. Prefer a new `dest` per run (a date in
the name). A run stopped between writing the archive and its record is refused the same way on
the next run; `overwrite: true` redoes it. The folder of `dest` is created when missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext, utcnow
from engine.core.model import Host
from modules._common import (
    PATH_SCHEMA,
    StateModule,
    call,
    call_optional,
    digest,
    is_within,
    object_schema,
    pathmod,
    prop,
    read_bytes,
    resource,
)

SIDECAR_SUFFIX = ".cutover.json"


def archive_format(args: Mapping[str, Any]) -> str:
    """The asked format, or the one the destination's name says."""
    if args.get("format"):
        return str(args["format"])
    dest = str(args["dest"]).lower()
    if dest.endswith(".zip"):
        return "zip"
    if dest.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    raise ModuleFailed(
        f"cannot tell the archive format of {args['dest']}: name it .zip or .tar.gz, or set format"
    )


class Archive(StateModule):
    """Folder -> verified archive, recorded as the folder's backup artifact."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Archive a folder with all its sub-folders into a verified zip or tar.gz backup on the host.",
        {
            "path": prop(PATH_SCHEMA, "The folder to back up."),
            "dest": prop(PATH_SCHEMA, "The archive file to write (outside `path`)."),
            "format": {
                "enum": ["zip", "tar.gz"],
                "description": "Archive format; default from dest's name (.zip, .tar.gz/.tgz). "
                "tar.gz only on POSIX hosts.",
            },
            "overwrite": {
                "type": "boolean",
                "default": False,
                "description": "Replace an existing dest that does not match the folder (an older backup).",
            },
        },
        ("path", "dest"),
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"files:{host.name}:{args['path']}"]

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        path, dest = str(args["path"]), str(args["dest"])
        if is_within(ctx, dest, path):
            raise ModuleFailed(f"dest {dest} is inside the folder {path} it archives; put it elsewhere")
        fmt = archive_format(args)
        tree = call_optional(remote, "file.tree_hash", path=path)
        if tree is None:
            raise ModuleFailed(f"{path} does not exist on {ctx.host.name}")
        current = digest(remote, dest)
        sidecar = _read_sidecar(ctx, dest) if current is not None else None
        return {
            "path": path,
            "dest": dest,
            "format": fmt,
            "tree": tree,
            "sha256": current,
            "sidecar": sidecar,
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        sidecar = state["sidecar"] or {}
        if (
            state["sha256"] is not None
            and sidecar.get("sha256") == state["sha256"]
            and sidecar.get("tree_digest") == state["tree"]["digest"]
            and sidecar.get("format") == state["format"]
        ):
            return None
        if state["sha256"] is not None and not args.get("overwrite"):
            raise ModuleFailed(
                f"{state['dest']} already exists and is not an archive of the current {state['path']} "
                "(an older backup?); choose a new dest or set overwrite: true"
            )
        return {
            **state,
            "before": {"dest": state["dest"], "sha256": state["sha256"]},
            "after": {
                "dest": state["dest"],
                "tree_digest": state["tree"]["digest"],
                "files": state["tree"]["files"],
            },
        }

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        path, dest, fmt = change["path"], change["dest"], change["format"]
        folder = pathmod(ctx).dirname(dest)
        if folder:
            call(remote, "file.mkdir", path=folder, parents=True)  # a backup location is often new
        created = call(remote, "archive.create", src=path, dest=dest, format=fmt)
        verified = call(remote, "archive.verify", path=dest)
        if not verified.get("ok") or verified.get("sha256") != created.get("sha256"):
            raise ModuleFailed(
                f"archive {dest} failed verification: {verified.get('error') or 'sha256 changed'}"
            )
        after = call(remote, "file.tree_hash", path=path)
        if after["digest"] != change["tree"]["digest"]:
            raise ModuleFailed(f"{path} changed while it was archived; run again when nothing writes to it")
        record = {
            "source": path,
            "format": fmt,
            "tree_digest": after["digest"],
            "files": after["files"],
            "bytes": after["bytes"],
            "sha256": created["sha256"],
            "size": created["size"],
            "entries": created.get("entries"),
            "verified_at": utcnow(),
        }
        body = json.dumps(record, indent=2, sort_keys=True).encode("utf-8")
        call(
            remote,
            "file.write",
            path=dest + SIDECAR_SUFFIX,
            content_b64=base64.b64encode(body).decode("ascii"),
        )
        diff = {"path": dest, "before": change["before"], "after": change["after"]} if ctx.diff_mode else None
        return Result(
            changed=True,
            msg=f"archived {after['files']} files into {dest}",
            output=_output(dest, record, changed=True),
            artifacts=[_artifact(ctx, dest, record)],
            diff=diff,
        )

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        """An up-to-date archive still reports its artifact, so this run's journal holds the backup."""
        record = state["sidecar"]
        result.output = _output(state["dest"], record, changed=False)
        result.artifacts.append(_artifact(ctx, state["dest"], record))
        result.msg = f"{state['dest']} is an up-to-date archive of {state['path']}"


def _read_sidecar(ctx: TaskContext, dest: str) -> dict[str, Any] | None:
    """The record written next to an archive, or None when missing or unreadable."""
    remote = ctx.require_remote()
    if call_optional(remote, "file.hash", path=dest + SIDECAR_SUFFIX) is None:
        return None
    data, _cut = read_bytes(remote, dest + SIDECAR_SUFFIX, max_bytes=1 << 20)
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _output(dest: str, record: Mapping[str, Any], changed: bool) -> dict[str, Any]:
    keys = ("source", "format", "sha256", "size", "entries", "files", "tree_digest")
    return {"dest": dest, "changed": changed, **{k: record.get(k) for k in keys}}


def _artifact(ctx: TaskContext, dest: str, record: Mapping[str, Any]) -> Artifact:
    return Artifact(
        kind="archive",
        resource=resource(ctx, str(record["source"])),
        location=dest,
        host=ctx.host.name,
        size=record.get("size"),
        sha256=record.get("sha256"),
        verified=True,
        meta={k: record.get(k) for k in ("format", "tree_digest", "files", "entries", "verified_at")},
    )
