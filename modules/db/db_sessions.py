"""db_sessions: who is connected to a database, counted per client host; optionally wait.

The Sage CRM guide wants every server but the DB server disconnected before the installer
runs. `wait_until_only: [dbserver]` polls until only those hosts hold sessions and, when the
timeout passes, fails naming every other host still connected and how many sessions it has.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.db.operations import count_sessions
from engine.db.tasks import SQL_ONLY, args_schema, db_failures, seconds, target_of


def host_matches(client: str, allowed: list[str]) -> bool:
    """Case-insensitive; `web1` matches `web1.example.local` (SQL Server reports NetBIOS names).

    IP addresses only match exactly (their first "label" means nothing).
    """
    name = client.lower()
    for entry in allowed:
        wanted = entry.lower()
        if name == wanted:
            return True
        if not _is_ip(name) and not _is_ip(wanted) and name.split(".", 1)[0] == wanted.split(".", 1)[0]:
            return True
    return False


def _is_ip(name: str) -> bool:
    return name.replace(".", "").isdigit() or ":" in name


def others(sessions: Mapping[str, int], allowed: list[str]) -> dict[str, int]:
    return {h: n for h, n in sessions.items() if not host_matches(h, allowed)}


class DbSessions(Module):
    """Count sessions per client host (read-only; runs in check mode too)."""

    platforms = SQL_ONLY
    schema = args_schema(
        {
            "wait_until_only": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "Client hosts allowed to stay connected; wait until no other host is.",
            },
            "timeout": {"type": ["string", "number"], "default": 300, "description": "How long to wait."},
            "interval": {"type": "number", "exclusiveMinimum": 0, "default": 2},
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        target = target_of(ctx, args["db"])
        allowed = args.get("wait_until_only")
        deadline = time.monotonic() + seconds(args.get("timeout", 300), "timeout")
        with db_failures():
            current = count_sessions(target)
            while allowed is not None and others(current, allowed) and not ctx.check_mode:
                if time.monotonic() >= deadline or ctx.run.interrupted.is_set():
                    break
                time.sleep(min(float(args.get("interval", 2)), max(0.0, deadline - time.monotonic())))
                current = count_sessions(target)
        output: dict[str, Any] = {"sessions": current, "total": sum(current.values())}
        if allowed is None:
            return Result(output=output, msg=f"{output['total']} session(s) on {target.name}")
        remaining = others(current, allowed)
        output["others"] = remaining
        if not remaining:
            return Result(output=output, msg=f"only {', '.join(allowed)} connected to {target.name}")
        listing = ", ".join(f"{h or '(unknown)'} ({n})" for h, n in sorted(remaining.items()))
        if ctx.check_mode:
            return Result(output=output, msg=f"would wait for {listing} to disconnect from {target.name}")
        ctx.progress(f"still connected: {listing}")
        raise ModuleFailed(
            f"still connected to {target.name} after {args.get('timeout', 300)}: {listing}", output
        )
