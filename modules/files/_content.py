"""The shared logic of `copy` and `template`: put exact bytes at a path on the host.

Why a base class: the two modules differ only in where the bytes come from (a controller file or
inline text, as they are or rendered with Jinja2). Everything after that (compare sha256 first,
write only when different, fix attributes, take and verify a backup before overwriting, show a
diff) must behave the same, so it lives here once.

Destructive: overwriting a file loses its old content, so both modules are `destructive`. With
`backup: true` the module protects itself: it copies the old file next to it, verifies the copy's
sha256 against the original *before* it writes, and records the copy as a `file_backup` artifact;
`destroys()` is then empty and `protects()` names the file, so later destructive steps on the
same file are covered too. Without `backup`, `destroys()` names the file and the planner asks for
a verified backup upstream (an `archive` of a folder holding it, for example).
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import (
    ATTR_PROPERTIES,
    DIFF_LIMIT,
    PATH_SCHEMA,
    StateModule,
    attrs_to_change,
    call,
    content_diff,
    current_attrs,
    digest,
    object_schema,
    pathmod,
    prop,
    read_bytes,
    resource,
    sha256,
    stat,
    wanted_attrs,
)

#: Arguments both modules take, after their own source arguments.
COMMON_PROPERTIES: dict[str, Any] = {
    "dest": prop(PATH_SCHEMA, "Path of the file on the host."),
    **ATTR_PROPERTIES,
    "backup": {
        "type": "boolean",
        "default": False,
        "description": "Before overwriting, copy the old file to `<dest>.<UTC time>~`, verify it by sha256 "
        "and record it as a `file_backup` artifact for rollback.",
    },
    "force": {
        "type": "boolean",
        "default": True,
        "description": "Replace an existing file whose content differs; false: only create a missing file.",
    },
}


def content_schema(description: str, src: str, content: str) -> dict[str, Any]:
    """The argument schema of copy and template: a source (`src` or `content`) and COMMON_PROPERTIES."""
    return object_schema(
        description,
        {
            "src": prop(PATH_SCHEMA, src),
            "content": {"type": "string", "description": content},
            **COMMON_PROPERTIES,
        },
        ("dest",),
        oneOf=[{"required": ["src"]}, {"required": ["content"]}],
    )


def controller_file(ctx: TaskContext, src: str) -> Path:
    """`src` resolved against the playbook's folder (where operators keep files and templates)."""
    path = Path(src)
    if not path.is_absolute():
        path = Path(ctx.playbook_dir) / path
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "not found"
        raise ModuleFailed(
            f"src {src!r} is {what} (looked at {path}; relative paths start at the playbook's folder)"
        )
    return path


def backup_name(dest: str) -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{dest}.{stamp}~"


class ContentModule(StateModule):
    """Base of copy and template: subclasses say which bytes belong at `dest`."""

    destructive: ClassVar[bool] = True

    def content(self, ctx: TaskContext, args: Mapping[str, Any]) -> bytes:
        """The exact bytes wanted at the destination: `content` or the controller file `src`, converted."""
        if "content" in args:
            return self.convert(ctx, str(args["content"]).encode("utf-8"), "content")
        path = controller_file(ctx, str(args["src"]))
        return self.convert(ctx, path.read_bytes(), str(path))

    def convert(self, ctx: TaskContext, data: bytes, origin: str) -> bytes:
        """What a subclass makes of the source bytes (copy: nothing; template: renders them)."""
        return data

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"files:{host.name}:{args['dest']}"] if args.get("backup") else []

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [] if args.get("backup") else [f"files:{host.name}:{args['dest']}"]

    def target(self, ctx: TaskContext, args: Mapping[str, Any]) -> str:
        """Where the file goes: `dest`, or `dest/<basename of src>` when dest is a folder."""
        dest = str(args["dest"])
        src = args.get("src")
        mod = pathmod(ctx)
        if src and (dest.endswith(("/", "\\")) or _is_dir(stat(ctx.require_remote(), dest))):
            return mod.join(dest, Path(str(src)).name)
        return dest

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        data = self.content(ctx, args)
        dest = self.target(ctx, args)
        st = stat(remote, dest)
        if _is_dir(st):
            raise ModuleFailed(f"dest {dest} is a folder; give the file's full path")
        if st is not None and st.get("type") not in ("file", "link"):
            raise ModuleFailed(f"dest {dest} exists and is not a regular file ({st.get('type')})")
        return {
            "dest": dest,
            "exists": st is not None,
            "sha256": digest(remote, dest) if st is not None else None,
            "attrs": current_attrs(st),
            "data": data,
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        data: bytes = state["data"]
        new_digest = sha256(data)
        write = state["sha256"] != new_digest and (not state["exists"] or args.get("force", True))
        attrs = attrs_to_change(state["attrs"], wanted_attrs(args))
        if not write and not attrs:
            return None
        change: dict[str, Any] = {"dest": state["dest"], "write": write, "attrs": attrs, "state": state}
        if ctx.diff_mode or ctx.check_mode:
            change["diff"] = self._view(ctx, state, data, write, attrs)
        return change

    def _view(
        self, ctx: TaskContext, state: dict[str, Any], data: bytes, write: bool, attrs: dict[str, Any]
    ) -> dict[str, Any]:
        dest = state["dest"]
        if write:
            before, cut = (None, False)
            if state["exists"]:
                before, cut = read_bytes(ctx.require_remote(), dest, max_bytes=DIFF_LIMIT)
            view = content_diff(dest, before, data, before_cut=cut)
        else:
            view = {"path": dest}
        if attrs:
            view["attributes"] = {
                "before": {k: state["attrs"].get(k) for k in attrs},
                "after": dict(attrs),
            }
        return view

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        return change.get("diff") if isinstance(change, dict) else None

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        state = change["state"]
        dest = change["dest"]
        result = Result(changed=True, diff=change.get("diff") if ctx.diff_mode else None)
        output: dict[str, Any] = {"dest": dest, "changed": True}
        if change["write"]:
            if args.get("backup") and state["exists"]:
                artifact = self._backup(ctx, dest, state["sha256"])
                result.artifacts.append(artifact)
                output["backup_file"] = artifact.location
            wanted = wanted_attrs(args)
            written = call(
                remote,
                "file.write",
                path=dest,
                content_b64=base64.b64encode(state["data"]).decode("ascii"),
                **{k: v for k, v in wanted.items() if v is not None},
            )
            expected = sha256(state["data"])
            if written.get("sha256") not in (None, expected):
                raise ModuleFailed(
                    f"{dest}: written content has sha256 {written.get('sha256')}, expected {expected}"
                )
        elif change["attrs"]:
            call(remote, "file.attrs", path=dest, **change["attrs"])
        output.update(self._summary(ctx, dest))
        result.output = output
        result.msg = "written" if change["write"] else "attributes changed"
        return result

    def _backup(self, ctx: TaskContext, dest: str, old_digest: str) -> Artifact:
        """Copy the old file aside and prove the copy is identical before anything is overwritten."""
        remote = ctx.require_remote()
        location = backup_name(dest)
        call(remote, "file.copy", src=dest, dest=location, overwrite=False)
        copied = digest(remote, location)
        if copied != old_digest:
            raise ModuleFailed(
                f"backup {location} of {dest} does not match the original (sha256 {copied} != {old_digest}); "
                f"{dest} was not overwritten",
                output={"dest": dest, "backup_file": location},
            )
        st = stat(remote, location) or {}
        return Artifact(
            kind="file_backup",
            resource=resource(ctx, dest),
            location=location,
            host=ctx.host.name,
            size=st.get("size"),
            sha256=copied,
            verified=True,
            meta={"original": dest},
        )

    def _summary(self, ctx: TaskContext, dest: str) -> dict[str, Any]:
        st = stat(ctx.require_remote(), dest) or {}
        return {
            "dest": dest,
            "sha256": digest(ctx.require_remote(), dest),
            "size": st.get("size"),
            **current_attrs(st),
        }

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        result.output = {"dest": state["dest"], "changed": False, "sha256": state["sha256"], **state["attrs"]}


def _is_dir(st: Mapping[str, Any] | None) -> bool:
    return st is not None and st.get("type") == "directory"
