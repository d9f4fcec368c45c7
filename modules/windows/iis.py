"""IIS on a Sage CRM web server: W3SVC, a site or application pool, a pool recycle, an app's path.

One target per task:
- `state` alone: the web service (W3SVC) as `iisreset` drives it: `started`, `stopped`,
  `restarted` (always changed). The upgrade stops IIS, the rollback stops and restarts it.
- `site` + `state`, `pool` + `state`: started/stopped (`restarted` stops then starts; a pool
  `restarted` is recycled).
- `recycle: <pool>`: recycle an application pool (always changed).
- `app: "Default Web Site/CRM"` + `physical_path`: the folder IIS serves the application from;
  the rollback points `/CRM` back to `<install>_backup`. The folder must exist on the host (an
  application pointing at a missing folder answers 500), checked in check mode too. The old path
  is recorded as an `old_setting` artifact (`setting:<host>:iis:<site/app>`, meta `old`/`new`)
  and `protects()` names that resource, so a later restore of the setting is planned after it.

Paths and names compare without case, as Windows does. After an IIS restart or a pool recycle
on a load-balanced Sage CRM cluster, log on to each server once (`http_login_check`).

Rollback: the output keeps what was there before and `undo` sets it back (old physical path,
old site/pool/W3SVC state); a restart or recycle has nothing to undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import call, object_schema
from modules.windows._windows import (
    WindowsStateModule,
    host_deadline,
    present_or_to_come,
    same_path,
    setting_resource,
)

_TARGETS = ("app", "site", "pool", "recycle")
_RUNNING = {"running": "started", "stopped": "stopped"}


def _not_with(key: str, others: list[str]) -> dict[str, Any]:
    """A schema refusing `others` next to `key`, with a message the validator shows as it is
    (a pattern nothing matches, and its `patternErrorMessage`)."""
    message = (
        f"allowed together with `{key}`: one target per iis task (state alone, site, pool, recycle or app)"
    )
    return {"properties": {o: {"pattern": "(?!)", "patternErrorMessage": message} for o in others}}


#: Each target refuses the targets after it (one message per mistake), app and recycle refuse `state`.
_ONE_TARGET = {
    t: _not_with(t, [*_TARGETS[i + 1 :], *(["state"] if t in ("app", "recycle") else [])])
    for i, t in enumerate(_TARGETS)
}


def split_app(app: str) -> tuple[str, str]:
    """`Default Web Site/CRM` -> (`Default Web Site`, `CRM`)."""
    site, _, name = app.strip().strip("/").partition("/")
    if not site or not name:
        raise ModuleFailed(f"app {app!r} must be '<site>/<application>', e.g. 'Default Web Site/CRM'")
    return site, name.strip("/")


def _target(args: Mapping[str, Any]) -> str:
    return next((t for t in _TARGETS if args.get(t)), "service")


def _lookup(table: Mapping[str, str], name: str, what: str, host: str) -> tuple[str, str]:
    for key, value in table.items():
        if key.casefold() == name.casefold():
            return key, value
    raise ModuleFailed(f"IIS {what} {name!r} does not exist on {host} (known: {', '.join(sorted(table))})")


class Iis(WindowsStateModule):
    """iis.state -> what differs -> iis.reset / set_state / recycle / set_path."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Manage IIS: the web service, a site, an application pool, a recycle, an application's path.",
        {
            "state": {
                "enum": ["started", "stopped", "restarted"],
                "description": "Wanted state of W3SVC (alone), of `site` or of `pool`.",
            },
            "site": {"type": "string", "minLength": 1, "description": "A web site (with `state`)."},
            "pool": {"type": "string", "minLength": 1, "description": "An application pool (with `state`)."},
            "recycle": {"type": "string", "minLength": 1, "description": "Recycle this application pool."},
            "app": {
                "type": "string",
                "pattern": "^[^/]+/.+",
                "description": "Application as '<site>/<app>', e.g. 'Default Web Site/CRM' (with physical_path).",
            },
            "physical_path": {
                "type": "string",
                "minLength": 1,
                "description": "Folder the application is served from (must exist on the host).",
            },
        },
        dependentRequired={
            "app": ["physical_path"],
            "physical_path": ["app"],
            "site": ["state"],
            "pool": ["state"],
        },
        anyOf=[{"required": ["state"]}, {"required": ["recycle"]}, {"required": ["app"]}],
        dependentSchemas=_ONE_TARGET,
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [setting_resource(host.name, f"iis:{args['app']}")] if args.get("app") else []

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        target = _target(args)
        if target == "app":
            site, app = split_app(str(args["app"]))
            current = call(remote, "iis.get_path", site=site, app=app)["physical_path"]
            return {"target": "app", "site": site, "app": app, "physical_path": current}
        iis = call(remote, "iis.state")
        if target == "service":
            return {"target": "service", "state": _RUNNING.get(iis["service"], iis["service"])}
        table, what = (iis["sites"], "site") if target == "site" else (iis["pools"], "application pool")
        name, current = _lookup(table, str(args[target]), what, ctx.host.name)
        if target == "recycle" and current != "started":
            raise ModuleFailed(f"application pool {name!r} is stopped and cannot be recycled; start it")
        return {"target": target, "name": name, "state": current}

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        target = state["target"]
        if target == "app":
            wanted = str(args["physical_path"])
            missing = (
                f"physical_path {wanted} does not exist on {ctx.host.name}: "
                f"{state['site']}/{state['app']} would answer 500"
            )
            if present_or_to_come(ctx, wanted, missing) and same_path(state["physical_path"], wanted):
                return None
            return {
                **state,
                "before": {"physical_path": state["physical_path"]},
                "after": {"physical_path": wanted},
            }
        if target == "recycle":
            return {
                **state,
                "before": {"pool": state["name"]},
                "after": {"pool": state["name"], "recycled": True},
            }
        wanted = str(args["state"])
        if wanted != "restarted" and state["state"] == wanted:
            return None
        after = "started" if wanted == "restarted" else wanted
        return {**state, "wanted": wanted, "before": {"state": state["state"]}, "after": {"state": after}}

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        what = change.get("name") or (
            f"{change['site']}/{change['app']}" if change["target"] == "app" else "W3SVC"
        )
        return {
            "path": f"iis {change['target']} {what}",
            "before": change["before"],
            "after": change["after"],
        }

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        target = change["target"]
        result = Result(changed=True, diff=self.describe_change(change) if ctx.diff_mode else None)
        output: dict[str, Any] = {"changed": True, "target": target, "before": change["before"]}
        if target == "app":
            answer = call(
                remote,
                "iis.set_path",
                site=change["site"],
                app=change["app"],
                path=str(args["physical_path"]),
            )
            old = answer.get("before") or change["physical_path"]
            now = call(remote, "iis.get_path", site=change["site"], app=change["app"])["physical_path"]
            if not same_path(now, str(args["physical_path"])):
                raise ModuleFailed(f"IIS still serves {args['app']} from {now} after the change")
            output.update(app=str(args["app"]), physical_path=now, before={"physical_path": old})
            result.artifacts.append(
                Artifact(
                    kind="old_setting",
                    resource=setting_resource(ctx.host.name, f"iis:{args['app']}"),
                    location=old,
                    host=ctx.host.name,
                    verified=same_path(old, change["physical_path"]),
                    meta={"old": old, "new": now, "site": change["site"], "app": change["app"]},
                )
            )
            result.msg = f"{args['app']} now served from {now} (was {old})"
        elif target == "recycle":
            call(remote, "iis.recycle", pool=change["name"])
            output["pool"] = change["name"]
            result.msg = f"recycled {change['name']}"
        else:
            self._set_state(ctx, target, change.get("name"), change["wanted"])
            output.update(name=change.get("name") or "W3SVC", state=change["after"]["state"])
            result.msg = f"{change.get('name') or 'W3SVC'} {change['wanted']}"
        result.output = output
        return result

    def _set_state(self, ctx: TaskContext, target: str, name: str | None, wanted: str) -> None:
        remote = ctx.require_remote()
        if target == "service":
            action = {"started": "start", "stopped": "stop", "restarted": "restart"}[wanted]
            call(remote, "iis.reset", action=action)
        elif wanted == "restarted" and target == "pool":
            call(remote, "iis.recycle", pool=name)
        elif wanted == "restarted":
            call(remote, "iis.set_state", kind=target, name=name, state="stopped", timeout=host_deadline(remote))
            call(remote, "iis.set_state", kind=target, name=name, state="started", timeout=host_deadline(remote))
        else:
            # a stopped pool is waited for until its w3wp.exe processes exit (they keep files locked)
            call(remote, "iis.set_state", kind=target, name=name, state=wanted, timeout=host_deadline(remote))

    def restore(
        self, ctx: TaskContext, args: Mapping[str, Any], out: Mapping[str, Any], before: Mapping[str, Any]
    ) -> Result:
        """Set the old physical path or state back; restarts and recycles have nothing to undo."""
        if args.get("recycle"):
            return Result(changed=False, msg="a recycle has nothing to undo")
        state = self.check(ctx, args)
        if state["target"] == "app":
            old = str(before["physical_path"])
            if same_path(state["physical_path"], old):
                return Result(changed=False, output={"physical_path": old})
            call(ctx.require_remote(), "iis.set_path", site=state["site"], app=state["app"], path=old)
            return Result(
                changed=True, msg=f"{args['app']} served from {old} again", output={"physical_path": old}
            )
        old_state = before.get("state")
        if old_state not in ("started", "stopped") or state["state"] == old_state:
            return Result(changed=False, output={"state": state["state"]})
        self._set_state(ctx, state["target"], state.get("name"), old_state)
        return Result(changed=True, msg=f"back to {old_state}", output={"state": old_state})
