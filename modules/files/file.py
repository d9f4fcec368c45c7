"""Make a path on the host be a folder, an existing file, or nothing, with the asked attributes.

`state`: `file` (must already exist; only attributes are managed), `directory` (created with its
parents when missing), `touch` (created empty when missing; unlike Ansible an existing file's
times are left alone, so a second run is `ok`), `absent` (removed, folders with their content).
`recurse: true` applies `mode`/`owner`/`group` to everything below a folder too (links are left
alone: following them could change files outside the folder).

Destructive: only `state: absent` destroys something, so `destroys()` names the path for that
state and is empty for the others; the planner then asks for a verified backup upstream (an
`archive` of the folder) before a removal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import (
    ATTR_PROPERTIES,
    PATH_SCHEMA,
    StateModule,
    attrs_to_change,
    call,
    call_many,
    current_attrs,
    object_schema,
    pathmod,
    prop,
    stat,
    wanted_attrs,
)

_STATE_OF_TYPE = {"file": "file", "directory": "directory", "link": "link", None: "absent"}


class File(StateModule):
    """Desired state of one path: directory | file | touch | absent, plus attributes."""

    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Manage a file or folder on the host: create, remove, set attributes.",
        {
            "path": prop(PATH_SCHEMA, "The path on the host."),
            "state": {
                "enum": ["file", "directory", "touch", "absent"],
                "default": "file",
                "description": "file: must exist, attributes only; directory: create with parents; "
                "touch: create empty when missing; absent: remove (recursively).",
            },
            **ATTR_PROPERTIES,
            "recurse": {
                "type": "boolean",
                "default": False,
                "description": "With state: directory, apply mode/owner/group to everything below too.",
            },
        },
        ("path",),
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"files:{host.name}:{args['path']}"] if args.get("state") == "absent" else []

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        path = str(args["path"])
        wanted = args.get("state", "file")
        st = stat(remote, path, follow=wanted != "absent")
        state: dict[str, Any] = {
            "path": path,
            "type": st.get("type") if st else None,
            "attrs": current_attrs(st),
        }
        if wanted == "directory" and args.get("recurse") and state["type"] == "directory":
            state["children"] = self._children(ctx, path)
        return state

    def _children(self, ctx: TaskContext, path: str) -> dict[str, dict[str, Any]]:
        """Attributes of everything below `path` (links left out), in one round trip."""
        remote = ctx.require_remote()
        listing = call(remote, "file.list", path=path, recursive=True)
        mod = pathmod(ctx)
        names = [mod.join(path, e["path"]) for e in listing.get("entries", []) if e.get("type") != "link"]
        answers = call_many(remote, [("file.stat", {"path": n, "follow": False}) for n in names])
        return {n: current_attrs(value) for n, (value, _failed) in zip(names, answers, strict=True) if value}

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        path, kind = state["path"], state["type"]
        wanted = args.get("state", "file")
        attrs = wanted_attrs(args)
        before = {"state": _STATE_OF_TYPE.get(kind, kind), **state["attrs"]}
        if wanted == "absent":
            return (
                None
                if kind is None
                else {"path": path, "action": "remove", "before": before, "after": {"state": "absent"}}
            )
        if kind is None:
            if wanted == "file":
                raise ModuleFailed(
                    f"{path} does not exist (state: file only manages an existing file; "
                    "use state: touch to create it)"
                )
            action = "mkdir" if wanted == "directory" else "touch"
            after = {
                "state": "directory" if wanted == "directory" else "file",
                **{k: v for k, v in attrs.items() if v is not None},
            }
            return {
                "path": path,
                "action": action,
                "attrs": attrs,
                "before": {"state": "absent"},
                "after": after,
            }
        if wanted == "directory" and kind != "directory":
            raise ModuleFailed(f"{path} exists and is a {kind}, not a folder")
        if wanted in ("file", "touch") and kind == "directory":
            raise ModuleFailed(f"{path} is a folder, not a file")
        change = attrs_to_change(state["attrs"], attrs)
        below = {n: c for n, a in state.get("children", {}).items() if (c := attrs_to_change(a, attrs))}
        if not change and not below:
            return None
        after = {**before, **change}
        return {
            "path": path,
            "action": "attrs",
            "attrs": change,
            "below": below,
            "before": before,
            "after": after,
        }

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        view = {k: change[k] for k in ("path", "before", "after") if k in change}
        if change.get("below"):
            view["changed_below"] = sorted(change["below"])
        return view

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        path, action = change["path"], change["action"]
        attrs = {k: v for k, v in change.get("attrs", {}).items() if v is not None}
        if action == "remove":
            call(remote, "file.remove", path=path, recursive=True)
        elif action == "mkdir":
            call(remote, "file.mkdir", path=path, parents=True, **attrs)
        elif action == "touch":
            call(remote, "file.touch", path=path, mode=attrs.get("mode"))
            if attrs.get("owner") or attrs.get("group"):
                call(remote, "file.attrs", path=path, owner=attrs.get("owner"), group=attrs.get("group"))
        else:
            if attrs:
                call(remote, "file.attrs", path=path, **attrs)
            calls = [("file.attrs", {"path": n, **c}) for n, c in change.get("below", {}).items()]
            for (_value, failed), (_op, call_args) in zip(call_many(remote, calls), calls, strict=True):
                if failed is not None:
                    raise ModuleFailed(
                        f"{call_args['path']}: {failed.get('error')}", output={"kind": failed.get("kind")}
                    )
        output = {
            "path": path,
            "state": change["after"]["state"],
            "changed": True,
            **current_attrs(stat(remote, path, follow=False) if action != "remove" else None),
        }
        return Result(
            changed=True, output=output, diff=self.describe_change(change) if ctx.diff_mode else None
        )

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        kind = _STATE_OF_TYPE.get(state["type"], state["type"])
        result.output = {"path": state["path"], "state": kind, "changed": False, **state["attrs"]}
