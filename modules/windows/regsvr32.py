"""Register (or unregister) a COM DLL with regsvr32, idempotently: Sage CRM's `EWARE.DLL`.

Which file a COM class resolves to is read from the host (`dll.registered` of `clsid_name`,
default `eWare.eWare`, the class `eware.dll` provides), so the task knows without running
regsvr32 whether anything is to do: `registered` is `ok` when the class already resolves to
`path`; `unregistered` is `ok` when it does not (missing, or resolved to another file).

The rollback re-registers the old `EWARE.DLL` from `<install>_backup`: the file the class
resolved to before is recorded as an `old_setting` artifact (`setting:<host>:com:<clsid_name>`,
meta `old`/`new`, with the old file's sha256 when it is readable) and kept in the output, and
`undo` registers that file again (or unregisters `path` when nothing was registered before).
After the change the class is read again and must resolve as asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import ModuleFailed, Result, TaskContext
from modules._common import PATH_SCHEMA, call, object_schema, prop
from modules.windows._windows import (
    WindowsStateModule,
    file_artifact,
    present_or_to_come,
    same_path,
    setting_resource,
)


def _registered(ctx: TaskContext, clsid: str) -> str | None:
    value = call(ctx.require_remote(), "dll.registered", clsid_name=clsid)
    return value.get("path") if value.get("registered") else None


class Regsvr32(WindowsStateModule):
    """dll.registered -> dll.register [/u] -> dll.registered again."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Register or unregister a COM DLL (regsvr32), checked through the class it provides.",
        {
            "path": prop(PATH_SCHEMA, "The DLL, e.g. 'C:\\Program Files (x86)\\Sage\\CRM\\CRM\\eware.dll'."),
            "state": {
                "enum": ["registered", "unregistered"],
                "default": "registered",
                "description": "registered: the class resolves to path; unregistered: it does not.",
            },
            "clsid_name": {
                "type": "string",
                "minLength": 1,
                "default": "eWare.eWare",
                "description": "A COM class (ProgID) the DLL provides, read to tell what is registered.",
            },
        },
        ("path",),
    )

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        path = str(args["path"])
        clsid = str(args.get("clsid_name", "eWare.eWare"))
        wanted = args.get("state", "registered") == "registered"
        missing = wanted and not present_or_to_come(ctx, path, f"{path} does not exist on {ctx.host.name}")
        return {
            "path": path,
            "clsid_name": clsid,
            "registered_path": _registered(ctx, clsid),
            "missing": missing,
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        current, path = state["registered_path"], state["path"]
        if state.get("missing"):
            return {**state, "before": {"registered_path": current}, "after": {"registered_path": path}}
        if args.get("state", "registered") == "registered":
            if same_path(current, path):
                return None
            after = path
        else:
            if not same_path(current, path):
                return None
            after = None
        return {**state, "before": {"registered_path": current}, "after": {"registered_path": after}}

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        path, clsid, old = change["path"], change["clsid_name"], change["registered_path"]
        unregister = args.get("state", "registered") == "unregistered"
        answer = call(remote, "dll.register", path=path, unregister=unregister or None)
        now = _registered(ctx, clsid)
        if unregister and same_path(now, path) or not unregister and not same_path(now, path):
            raise ModuleFailed(
                f"regsvr32 {'/u ' if unregister else ''}{path} answered rc {answer.get('rc')} "
                f"but {clsid} resolves to {now or 'nothing'}"
            )
        result = Result(
            changed=True,
            msg=f"{clsid} now resolves to {now or 'nothing'} (was {old or 'nothing'})",
            output={
                "path": path,
                "clsid_name": clsid,
                "changed": True,
                "registered_path": now,
                "before": {"registered_path": old},
                # which regsvr32.exe ran, chosen by the DLL's PE machine (SysWOW64's for an x86 DLL)
                "machine": answer.get("machine"),
                "regsvr32": answer.get("regsvr32"),
            },
            diff={"path": clsid, "before": change["before"], "after": {"registered_path": now}}
            if ctx.diff_mode
            else None,
        )
        if old:
            resource = setting_resource(ctx.host.name, f"com:{clsid}")
            meta = {"old": old, "new": now, "clsid_name": clsid}
            result.artifacts.append(file_artifact(ctx, "old_setting", resource, old, meta))
        return result

    def restore(
        self, ctx: TaskContext, args: Mapping[str, Any], out: Mapping[str, Any], before: Mapping[str, Any]
    ) -> Result:
        """Register the recorded old file again, or unregister `path` when nothing was registered."""
        clsid = str(args.get("clsid_name", "eWare.eWare"))
        old = before.get("registered_path")
        now = _registered(ctx, clsid)
        if same_path(now, old):
            return Result(changed=False, output={"registered_path": now})
        remote = ctx.require_remote()
        if old:
            call(remote, "dll.register", path=str(old))
        else:
            call(remote, "dll.register", path=str(now), unregister=True)
        return Result(
            changed=True, msg=f"{clsid} resolves to {old or 'nothing'} again", output={"registered_path": old}
        )
