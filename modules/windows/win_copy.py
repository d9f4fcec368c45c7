"""Put a file on a Windows host: inline `content` or a controller file `src`, written only when it differs.

The `copy` module's logic on a Windows host (one implementation in `_content.py`): the sha256 of
what is there is compared with the sha256 of what should be there, so a second identical run is
`ok`; text changes are shown as a unified diff (`--diff`, check mode). `newline: crlf` turns the
line ends of inline `content` into Windows' CRLF (YAML text has LF), so Notepad and the Sage CRM
tools read the file as they expect; a controller file `src` is copied byte for byte.

Destructive: overwriting loses the old content. With `backup: true` the old file is first copied
to `<dest>.<UTC time>~`, the copy is verified by sha256 and recorded as a `file_backup`
artifact, so the module protects itself; without it, `destroys()` names the file and the
planner wants a verified backup upstream (a `win_archive` of a folder holding it). A `dest` that
ends with `\\` or is an existing folder receives `src` under its own file name.

A controller file `src` of STREAM_FROM bytes or more is never read into memory: its sha256 is
computed in pieces, and it is streamed to the host (`_transfer.upload_file`: raw stdin over WinRM,
a temporary file named after the content, resumed after a dropped connection, MB/s and the time
left on the console); `--diff` then shows the two digests, not the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from engine.api.module import Result, TaskContext
from modules._common import PATH_SCHEMA, attrs_to_change, call, object_schema, prop, wanted_attrs
from modules.files._content import COMMON_PROPERTIES, ContentModule, controller_file
from modules.windows._transfer import file_sha256, upload_file
from modules.windows._windows import WINDOWS

#: Controller files from this size on are streamed, not held in memory (below it, one call is faster).
STREAM_FROM = 1 << 20


class WinCopy(ContentModule):
    """Exact bytes at `dest` on a Windows host; `src` is read on the controller, relative to the playbook."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Copy a controller file or inline content to a file on a Windows host.",
        {
            "src": prop(PATH_SCHEMA, "File on the controller, relative to the playbook's folder."),
            "content": {"type": "string", "description": "The file's content, as text (UTF-8)."},
            "newline": {
                "enum": ["keep", "crlf"],
                "default": "keep",
                "description": "crlf: write the line ends of `content` as CRLF (Windows text files).",
            },
            **{k: COMMON_PROPERTIES[k] for k in ("dest", "backup", "force")},
        },
        ("dest",),
        oneOf=[{"required": ["src"]}, {"required": ["content"]}],
    )

    def content(self, ctx: TaskContext, args: Mapping[str, Any]) -> bytes:
        data = super().content(ctx, args)
        if "content" in args and args.get("newline") == "crlf":
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return data

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        big = _large_src(ctx, args)
        if big is None:
            return super().check(ctx, args)
        state = super().check(ctx, {**args, "content": ""})  # the host's side only; no bytes read here
        return {**state, "data": None, "src_path": str(big), "src_sha256": file_sha256(big)}

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        if state.get("src_path") is None:
            return super().diff(ctx, args, state)
        write = state["sha256"] != state["src_sha256"] and (not state["exists"] or args.get("force", True))
        attrs = attrs_to_change(state["attrs"], wanted_attrs(args))
        if not write and not attrs:
            return None
        change: dict[str, Any] = {"dest": state["dest"], "write": write, "attrs": attrs, "state": state}
        if ctx.diff_mode or ctx.check_mode:
            change["diff"] = {
                "path": state["dest"],
                "before": {"sha256": state["sha256"]},
                "after": {"sha256": state["src_sha256"], "size": Path(state["src_path"]).stat().st_size},
            }
        return change

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        state = change["state"]
        if state.get("src_path") is None or not change["write"]:
            return super().apply(ctx, args, change)
        remote = ctx.require_remote()
        dest = change["dest"]
        result = Result(changed=True, diff=change.get("diff") if ctx.diff_mode else None, msg="written")
        output: dict[str, Any] = {"dest": dest, "changed": True}
        if args.get("backup") and state["exists"]:
            artifact = self._backup(ctx, dest, state["sha256"])
            result.artifacts.append(artifact)
            output["backup_file"] = artifact.location
        upload_file(remote, Path(state["src_path"]), dest, state["src_sha256"], progress=ctx.progress)
        wanted = {k: v for k, v in wanted_attrs(args).items() if v is not None}
        if wanted:
            call(remote, "file.attrs", path=dest, **wanted)
        output.update(self._summary(ctx, dest))
        result.output = output
        return result


def _large_src(ctx: TaskContext, args: Mapping[str, Any]) -> Path | None:
    """The controller file `src` when it is large enough to stream, else None."""
    if "src" not in args:
        return None
    path = controller_file(ctx, str(args["src"]))
    return path if path.stat().st_size >= STREAM_FROM else None
