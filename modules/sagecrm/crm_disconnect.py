"""Disconnect a Sage CRM server from the CRM database (or connect it again).

The guide: before the installer runs anywhere, every server except the database server is
disconnected from the database. `state: disconnected` stops what holds database sessions on this
server (the CRM application pools in IIS, Tomcat and the CRM services), then waits until the
database shows no session from this server; a server that keeps sessions past `timeout` fails
the task naming how many. `state: connected` starts them again (W3SVC, the pools, the CRM
services whose start mode is automatic).

Sessions: SQL Server, MariaDB and PostgreSQL report them per client host. SQLite (the simulated
estates) has no sessions: there a simulated server counts as connected while its CRM pool,
Tomcat or a CRM service runs (a simulation of what SQL Server would show).

The planner knows this module: `crm_installer` does not plan unless every other server's
disconnection is ordered before it (modules/sagecrm/product/policies.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import ModuleFailed, Result, TaskContext
from engine.db.operations import count_sessions
from engine.db.tasks import db_failures, seconds
from modules._common import StateModule, call, object_schema
from modules.db.db_sessions import host_matches
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.estate import Estate
from modules.windows._windows import WINDOWS, recorded_output


def components(ctx: TaskContext, est: Estate) -> dict[str, Any]:
    """What holds sessions on this server, as it is now: W3SVC, the CRM pools, the CRM services."""
    remote = ctx.require_remote()
    services: dict[str, dict[str, Any]] = {}
    for name in crm_services(est, ctx.host.name):
        value = call(remote, "service.get", name=name)
        if value.get("exists"):
            services[name] = {"state": value.get("state"), "start_mode": value.get("start_mode")}
    pools: dict[str, str] = {}
    w3svc = None
    if "web" in est.roles.get(ctx.host.name, ()):
        iis = call(remote, "iis.state")
        w3svc = iis.get("service")
        known = {k.casefold(): (k, v) for k, v in (iis.get("pools") or {}).items()}
        for pool in est.iis_pools:
            if pool.casefold() in known:
                pools[known[pool.casefold()][0]] = known[pool.casefold()][1]
    return {"w3svc": w3svc, "pools": pools, "services": services}


def crm_services(est: Estate, host: str) -> list[str]:
    return list(est.services_on(host).values())


def simulated_sessions(state: Mapping[str, Any]) -> int:
    """SQLite has no sessions: a simulated server holds one per running CRM component."""
    count = sum(1 for s in state["services"].values() if s["state"] == "running")
    if state["w3svc"] == "running":
        count += sum(1 for p in state["pools"].values() if p == "started")
    return count


def sessions_from(ctx: TaskContext, est: Estate, state: Mapping[str, Any]) -> int:
    """Database sessions this server holds now."""
    target = crm.crm_target(ctx, est)
    if target.dialect == "sqlite":
        return simulated_sessions(state)
    names = [ctx.host.name, ctx.host.address, est.fqdn(ctx.host.name)]
    with db_failures():
        found = count_sessions(target)
    return sum(n for client, n in found.items() if client and host_matches(client, names))


class CrmDisconnect(StateModule):
    """Stop (or start) what connects a CRM server to its database; wait for its sessions to end."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Disconnect a Sage CRM server from the CRM database (pools, Tomcat, CRM services) or connect it again.",
        {
            "state": {"enum": ["disconnected", "connected"], "default": "disconnected"},
            "timeout": {
                "type": ["string", "number"],
                "default": 300,
                "description": "How long to wait for the server's database sessions to end.",
            },
            "interval": {"type": "number", "exclusiveMinimum": 0, "default": 2},
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        return crm.no_crm_here(crm.estate(ctx), ctx.host.name) or super().run(ctx, args)

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        est = crm.estate(ctx)
        crm.require_server(ctx, est)
        return {"est": est, **components(ctx, est)}

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        connect = args.get("state") == "connected"
        pools = {
            p: "started" if connect else "stopped"
            for p, s in state["pools"].items()
            if s != ("started" if connect else "stopped")
        }
        services = {
            n: "running" if connect else "stopped"
            for n, s in state["services"].items()
            if (connect and s["state"] != "running" and s["start_mode"] == "auto")
            or (not connect and s["state"] != "stopped")
        }
        w3svc = "running" if connect and state["w3svc"] not in (None, "running") else None
        if not pools and not services and w3svc is None:
            if not connect and sessions_from(ctx, state["est"], state):
                return {"pools": {}, "services": {}, "w3svc": None, "before": _before(state), "wait": True}
            return None
        return {
            "pools": pools,
            "services": services,
            "w3svc": w3svc,
            "before": _before(state),
            "after": {"pools": pools, "services": services},
        }

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        return {"before": change["before"], "after": change.get("after")}

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        est = crm.estate(ctx)
        if change["w3svc"]:
            call(remote, "iis.reset", action="start")
        order = list(change["services"].items())
        for pool, state in change["pools"].items():
            if state == "stopped":
                call(remote, "iis.set_state", kind="pool", name=pool, state="stopped")
        for name, state in order:
            call(remote, "service.set", name=name, state=state)
        for pool, state in change["pools"].items():
            if state == "started":
                call(remote, "iis.set_state", kind="pool", name=pool, state="started")
        now = components(ctx, est)
        if args.get("state", "disconnected") == "disconnected":
            self._wait(ctx, est, args, now)
        return Result(
            changed=bool(change["pools"] or change["services"] or change["w3svc"]),
            msg=_message(change, args.get("state", "disconnected")),
            output={
                "before": change["before"],
                "after": _before(now),
                "state": args.get("state", "disconnected"),
            },
            diff=self.describe_change(change) if ctx.diff_mode else None,
        )

    def _wait(self, ctx: TaskContext, est: Estate, args: Mapping[str, Any], state: dict[str, Any]) -> None:
        deadline = time.monotonic() + seconds(args.get("timeout", 300), "timeout")
        while True:
            held = sessions_from(ctx, est, state)
            if not held:
                return
            if time.monotonic() >= deadline or ctx.run.interrupted.is_set():
                raise ModuleFailed(
                    f"{ctx.host.name} still holds {held} session(s) on {est.database} after "
                    f"{args.get('timeout', 300)}: it is not disconnected",
                    {"sessions": held},
                )
            ctx.progress(f"{held} session(s) from {ctx.host.name} still open")
            time.sleep(float(args.get("interval", 2)))
            state = components(ctx, est)

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        result.output = {"state": "unchanged", **_before(state)}
        result.msg = "already " + ("connected" if state.get("w3svc") == "running" else "as wanted")

    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        """Start again what the disconnection stopped (and only that)."""
        before = recorded_output(recorded).get("before") or {}
        remote = ctx.require_remote()
        changed = False
        for name, service in (before.get("services") or {}).items():
            if service.get("state") == "running":
                changed = (
                    bool(call(remote, "service.set", name=name, state="running").get("changed")) or changed
                )
        for pool, state in (before.get("pools") or {}).items():
            if state == "started":
                changed = (
                    bool(
                        call(remote, "iis.set_state", kind="pool", name=pool, state="started").get("changed")
                    )
                    or changed
                )
        return Result(changed=changed, msg="connected again" if changed else "nothing to start")


def _before(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: state[k] for k in ("w3svc", "pools", "services")}


def _message(change: Mapping[str, Any], wanted: str) -> str:
    parts = [f"{p} {s}" for p, s in change["pools"].items()] + [
        f"{n} {s}" for n, s in change["services"].items()
    ]
    if change.get("w3svc"):
        parts.insert(0, "W3SVC running")
    return f"{wanted}: " + (", ".join(parts) if parts else "no session left")
