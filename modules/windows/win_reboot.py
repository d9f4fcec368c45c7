"""Restart a Windows host and wait until it answers again (after an installer that asks for it).

`shutdown.exe /r /t 0` is run on the host (its answer may never come back: the connection dropping
then is expected), then the task reconnects through its own connection, over and over, until
the host answers `host.facts` again after having gone away, or `timeout` seconds pass. Only
then do the following tasks run, on the fresh connection.

An action, not a state: it reports `changed` whenever it restarts. `only_if_pending: true`
restarts only when Windows says a restart is pending (Component Based Servicing or Windows
Update `RebootPending`/`RebootRequired`, or `PendingFileRenameOperations`), which makes it
idempotent (`ok` when nothing is pending). Check mode restarts nothing.

On simulated hosts `shutdown /r` is a program of the simulation: every service goes back to what
its start mode says (automatic ones running with what they depend on, the others stopped), the
pending-restart markers are cleared, and the host goes away for the next call as a real one
does, so the task waits for it exactly as it does over WinRM.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.core.errors import RemoteError
from modules._common import call_many, object_schema
from modules.windows._windows import WINDOWS

PENDING_KEYS = (
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
)
SESSION_MANAGER = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"
PENDING_RENAMES = "PendingFileRenameOperations"


def pending_reasons(ctx: TaskContext) -> list[str]:
    """Why Windows wants a restart (empty when it does not), read in one round trip."""
    calls = [("registry.get", {"key": key}) for key in PENDING_KEYS]
    calls.append(("registry.get", {"key": SESSION_MANAGER, "name": PENDING_RENAMES}))
    reasons = []
    for (_op, asked), (value, _failed) in zip(calls, call_many(ctx.require_remote(), calls), strict=True):
        if not value or not value.get("exists"):
            continue
        if "name" not in asked:
            reasons.append(asked["key"])
        elif value.get("values"):
            reasons.append(f"{asked['key']}\\{PENDING_RENAMES}")
    return reasons


def wait_until_back(ctx: TaskContext, timeout: float, delay: float) -> tuple[dict, int]:
    """Reconnect until the host answers after having gone away -> (host facts, attempts)."""
    conn = ctx.require_remote().connection
    deadline = time.monotonic() + timeout
    went_down = False
    last = "no answer yet"
    attempts = 0
    while True:
        attempts += 1
        try:
            with conn.lock:
                conn.close()
                conn.open()
                left = max(deadline - time.monotonic(), 1.0)
                answer = conn.call([{"op": "host.facts", "args": {}}], timeout=left)[0]
            if answer.get("ok") and went_down:
                return dict(answer.get("value") or {}), attempts
            last = "the host still answers: it has not gone down yet" if answer.get("ok") else str(answer)
        except RemoteError as exc:
            went_down = True
            last = str(exc)
        if time.monotonic() >= deadline:
            raise ModuleFailed(f"{ctx.host.name} did not come back within {timeout:g}s ({last})")
        if ctx.run.interrupted.wait(delay):
            raise ModuleFailed(f"interrupted while waiting for {ctx.host.name} to come back")


class WinReboot(Module):
    """shutdown /r /t 0, then reconnect until the host answers again."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Restart a Windows host and wait until it answers again.",
        {
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 900,
                "description": "Seconds to wait for the host to come back.",
            },
            "delay": {
                "type": "number",
                "minimum": 0,
                "default": 5,
                "description": "Seconds between reconnection attempts.",
            },
            "only_if_pending": {
                "type": "boolean",
                "default": False,
                "description": "Restart only when Windows says a restart is pending (then idempotent).",
            },
            "reason": {
                "type": "string",
                "default": "cutover: planned restart",
                "description": "Comment recorded by Windows with the restart (shutdown /c).",
            },
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        remote = ctx.require_remote()
        reasons = pending_reasons(ctx)
        if args.get("only_if_pending") and not reasons:
            return Result(changed=False, msg="no restart pending", output={"rebooted": False, "pending": []})
        if ctx.check_mode:
            return Result(
                changed=True,
                msg="would restart (check mode)",
                diff={"before": {"pending": reasons}, "after": {"rebooted": True}},
            )
        started = time.monotonic()
        argv = [
            "shutdown.exe",
            "/r",
            "/t",
            "0",
            "/d",
            "p:4:1",
            "/c",
            str(args.get("reason", "cutover: planned restart")),
        ]
        try:
            answer = remote.call("process.run", argv=argv)
        except RemoteError:
            answer = {"rc": 0, "stdout": "", "stderr": "(the connection dropped: the restart began)"}
        if int(answer.get("rc", 0)) != 0:
            raise ModuleFailed(
                f"shutdown /r exited with {answer.get('rc')}: {str(answer.get('stderr') or answer.get('stdout')).strip()}"
            )
        facts, attempts = wait_until_back(ctx, float(args.get("timeout", 900)), float(args.get("delay", 5)))
        elapsed = round(time.monotonic() - started, 1)
        return Result(
            changed=True,
            msg=f"restarted; back after {elapsed}s",
            output={
                "rebooted": True,
                "pending": reasons,
                "elapsed": elapsed,
                "attempts": attempts,
                "hostname": facts.get("hostname"),
            },
        )
