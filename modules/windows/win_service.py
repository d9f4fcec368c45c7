"""A Windows service in the wanted state: running or stopped, a start mode, installed or not.

Sage CRM installs some of its services from their own executables (`eWareEmailManager.exe /i`,
`CRMEscalationService.exe /u`): `installed: true` with `executable` runs the installer only when
the service is missing, `installed: false` runs the uninstaller (the service's own binary unless
`executable` names another) only when it is there. The state is read as data from the host
(`service.get`), never parsed from `sc query`, whose text is localised on French and German servers.

Idempotent: `started`/`stopped` and `start_mode` change only what differs, so a second run is
`ok`; `restarted` always restarts (and always reports `changed`).

Stopping and starting keep to the step's own `timeout` (the primitive waits for the service with
that deadline and fails with kind `timeout`, naming the state the service is in); without one,
the host allows 120 s. A service cannot stop while services that depend on it run: those are
stopped first and listed in the output (`dependents_stopped`); `restarted` starts them again, and
`undo` of a stop starts them again after the service.

Rollback: the output keeps the service's state before the change, and `undo` puts it back
(reinstalling an uninstalled service from its recorded binary, uninstalling one this task
installed, then the old start mode and state). Uninstalling records the old binary as a
`service_binary` artifact (`setting:<host>:service:<name>`, with its sha256 when the file is
readable), so a rollback knows exactly what to reinstall.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import ModuleFailed, Result, TaskContext
from modules._common import call, object_schema
from modules.windows._windows import WindowsStateModule, file_artifact, host_deadline, setting_resource

_STATE = {"started": "running", "stopped": "stopped"}
_ARGS = {"type": "array", "items": {"type": "string"}}


def _read(ctx: TaskContext, name: str) -> dict[str, Any]:
    value = call(ctx.require_remote(), "service.get", name=name)
    return {k: value.get(k) for k in ("exists", "state", "start_mode", "path")}


class WinService(WindowsStateModule):
    """service.get -> what differs -> service.install/uninstall/set."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Manage a Windows service: state, start mode, and (Sage CRM services) installation.",
        {
            "name": {"type": "string", "minLength": 1, "description": "Service name (not display name)."},
            "state": {
                "enum": ["started", "stopped", "restarted"],
                "description": "started/stopped: only when it differs; restarted: always (changed).",
            },
            "start_mode": {"enum": ["auto", "manual", "disabled"], "description": "Startup type."},
            "installed": {
                "type": "boolean",
                "description": "true: install with `executable` when missing; false: uninstall when present.",
            },
            "executable": {
                "type": "string",
                "minLength": 1,
                "description": "The service's executable that installs/uninstalls it (Sage CRM: "
                "`...\\Services\\eWareEmailManager.exe`). Uninstall defaults to the service's own binary.",
            },
            "install_args": {**_ARGS, "default": ["/i"], "description": "Arguments that install."},
            "uninstall_args": {**_ARGS, "default": ["/u"], "description": "Arguments that uninstall."},
        },
        ("name",),
        anyOf=[{"required": ["state"]}, {"required": ["start_mode"]}, {"required": ["installed"]}],
        allOf=[
            {
                "if": {"properties": {"installed": {"const": True}}, "required": ["installed"]},
                "then": {"required": ["executable"]},
            },
            {
                "if": {"properties": {"installed": {"const": False}}, "required": ["installed"]},
                "then": {
                    "properties": {
                        k: {"pattern": "(?!)", "patternErrorMessage": "allowed with `installed: false`"}
                        for k in ("state", "start_mode")
                    }
                },
            },
        ],
    )

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": str(args["name"]), **_read(ctx, str(args["name"]))}

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        name = str(args["name"])
        installed = args.get("installed")
        exists = bool(state["exists"])
        before = {k: state[k] for k in ("exists", "state", "start_mode", "path")}
        if installed is False:
            if not exists:
                return None
            return {"uninstall": True, "before": before, "after": {"exists": False}}
        install = installed is True and not exists
        if not exists and not install:
            raise ModuleFailed(
                f"service {name} is not installed on {ctx.host.name} "
                "(set installed: true and executable to install it)"
            )
        mode = args.get("start_mode")
        wanted = args.get("state")
        set_mode = mode if mode is not None and (install or state["start_mode"] != mode) else None
        set_state = wanted if wanted == "restarted" else _STATE.get(wanted) if wanted else None
        if set_state in ("running", "stopped") and not install and state["state"] == set_state:
            set_state = None
        if not install and set_mode is None and set_state is None:
            return None
        after = {
            "exists": True,
            "state": "running" if set_state == "restarted" else set_state or state["state"],
            "start_mode": set_mode or state["start_mode"],
        }
        return {
            "install": install,
            "start_mode": set_mode,
            "state": set_state,
            "before": before,
            "after": after,
        }

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        name = str(args["name"])
        result = Result(changed=True)
        dependents: list[str] = []
        if change.get("uninstall"):
            before = change["before"]
            result.artifacts.append(
                file_artifact(
                    ctx,
                    "service_binary",
                    setting_resource(ctx.host.name, f"service:{name}"),
                    str(before.get("path") or ""),
                    {"service": name, "state": before.get("state"), "start_mode": before.get("start_mode")},
                )
            )
            executable = str(args.get("executable") or before["path"])
            _installer(ctx, "service.uninstall", name, executable, args.get("uninstall_args", ["/u"]))
        else:
            if change.get("install"):
                _installer(
                    ctx, "service.install", name, str(args["executable"]), args.get("install_args", ["/i"])
                )
            if change.get("start_mode") or change.get("state"):
                answer = call(
                    remote,
                    "service.set",
                    name=name,
                    start_mode=change.get("start_mode"),
                    state=change.get("state"),
                    timeout=host_deadline(remote),
                )
                dependents = list(answer.get("dependents_stopped") or [])
        after = _read(ctx, name)
        result.output = {
            "name": name,
            "changed": True,
            **after,
            "before": change["before"],
            "install_args": list(args.get("install_args", ["/i"])),
            "uninstall_args": list(args.get("uninstall_args", ["/u"])),
            "dependents_stopped": dependents,
        }
        result.diff = {"before": change["before"], "after": after} if ctx.diff_mode else None
        result.msg = _message(change)
        if dependents and change.get("state") == "stopped":
            result.msg += f" (and the services depending on it: {', '.join(dependents)})"
        return result

    def restore(
        self, ctx: TaskContext, args: Mapping[str, Any], out: Mapping[str, Any], before: Mapping[str, Any]
    ) -> Result:
        """Back to the recorded state: (re)install or uninstall, then the old start mode and state."""
        remote = ctx.require_remote()
        name = str(args["name"])
        now = _read(ctx, name)
        changed = False
        if not before.get("exists"):
            if now["exists"]:
                _installer(
                    ctx, "service.uninstall", name, str(now["path"]), out.get("uninstall_args") or ["/u"]
                )
                changed = True
            return Result(changed=changed, output={"name": name, **_read(ctx, name)})
        if not now["exists"]:
            _installer(ctx, "service.install", name, str(before["path"]), out.get("install_args") or ["/i"])
            changed = True
            now = _read(ctx, name)
        mode = before.get("start_mode") if before.get("start_mode") != now["start_mode"] else None
        state = before.get("state") if before.get("state") in ("running", "stopped") else None
        if state == now["state"]:
            state = None
        if mode or state:
            call(remote, "service.set", name=name, start_mode=mode, state=state, timeout=host_deadline(remote))
            changed = True
        if before.get("state") == "running":
            for dependent in out.get("dependents_stopped") or []:  # stopped with it: back as they were
                answer = call(remote, "service.set", name=str(dependent), state="running", timeout=host_deadline(remote))
                changed = changed or bool(answer.get("changed"))
        return Result(changed=changed, output={"name": name, **_read(ctx, name)})



def _installer(ctx: TaskContext, op: str, name: str, executable: str, arguments: Any) -> None:
    """service.install / service.uninstall: the service's own executable with its arguments."""
    call(ctx.require_remote(), op, name=name, executable=executable, arguments=[str(a) for a in arguments])


def _message(change: Mapping[str, Any]) -> str:
    if change.get("uninstall"):
        return "uninstalled"
    parts = ["installed"] if change.get("install") else []
    if change.get("start_mode"):
        parts.append(f"start mode {change['start_mode']}")
    if change.get("state"):
        parts.append(str(change["state"]))
    return ", ".join(parts)
