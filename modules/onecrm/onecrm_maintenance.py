"""onecrm_maintenance: a 1CRM site in maintenance (flag on, scheduler paused) or back in service.

1CRM has no documented switch for this, so cutover does what operators do by hand, in two parts:
- the **maintenance flag**: a page written to `<install>/maintenance.html` (`onecrm.maintenance.file`
  changes the name). The web server shows it while it exists; docs/onecrm.md has the nginx and
  Apache rules. Removing the file ends maintenance.
- the **scheduler**: the cron entry that runs `php scheduler.php` every few minutes must not run
  during an update. Its lines (those containing `scheduler.php`) in the web user's crontab
  (`scheduler: {crontab_user: www-data}`) or in a cron file (`scheduler: {cron_file: /etc/cron.d/1crm}`)
  are commented out with the marker `#cutover-paused# ` and only lines with that marker are put
  back, so an entry an administrator disabled on purpose stays disabled.

Desired state: `state: on` twice is `changed` then `ok`. The result records the state before,
and `undo` puts exactly that state back.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Finding, Module, ModuleFailed, Result, TaskContext
from engine.api.primitives import Remote
from modules._common import call, call_optional, object_schema, stat
from modules.onecrm import _onecrm as one
from modules.onecrm.product.estate import SCHEDULER_MATCH, Site

PAUSED = "#cutover-paused# "
DEFAULT_MESSAGE = "1CRM is being updated. Please try again later."


def scheduler_lines(text: str) -> tuple[int, int]:
    """(active, paused by cutover) scheduler entries in a crontab's text."""
    active = paused = 0
    for line in text.splitlines():
        if line.startswith(PAUSED):
            paused += SCHEDULER_MATCH in line
        elif not line.lstrip().startswith("#") and SCHEDULER_MATCH in line:
            active += 1
    return active, paused


def pause(text: str) -> str:
    """Comment out every active scheduler line with the marker."""
    out = []
    for line in text.splitlines(keepends=True):
        if not line.lstrip().startswith("#") and SCHEDULER_MATCH in line:
            line = PAUSED + line
        out.append(line)
    return "".join(out)


def resume(text: str) -> str:
    """Put back the scheduler lines this module paused (and only those)."""
    return "".join(
        line[len(PAUSED) :] if line.startswith(PAUSED) and SCHEDULER_MATCH in line else line
        for line in text.splitlines(keepends=True)
    )


class Crontab:
    """Where a site's scheduler entry lives: a user's crontab or a cron file (None: not configured)."""

    def __init__(self, remote: Remote, config: Mapping[str, Any] | None):
        self.remote = remote
        self.user = (config or {}).get("crontab_user")
        self.file = (config or {}).get("cron_file")

    @property
    def configured(self) -> bool:
        return bool(self.user or self.file)

    @property
    def where(self) -> str:
        return f"the crontab of {self.user}" if self.user else str(self.file)

    def read(self) -> str:
        if self.file:
            value = call_optional(self.remote, "file.read", path=self.file)
            return "" if value is None else base64.b64decode(value["content_b64"]).decode("utf-8")
        if not self.user:
            return ""
        answer = self._crontab(["-l", "-u", str(self.user)])
        if answer["rc"] != 0:
            if "no crontab" in answer["stderr"].lower():
                return ""
            raise ModuleFailed(f"crontab -l -u {self.user}: {one.tail(answer['stderr'], 500)}")
        return str(answer["stdout"])

    def write(self, text: str) -> None:
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        if self.file:
            call(self.remote, "file.write", path=self.file, content_b64=data)
            return
        answer = self._crontab(["-u", str(self.user), "-"], stdin_b64=data)
        if answer["rc"] != 0:
            raise ModuleFailed(f"crontab -u {self.user}: {one.tail(answer['stderr'], 500)}")

    def _crontab(self, argv: list[str], stdin_b64: str | None = None) -> dict[str, Any]:
        value, failed = self.remote.try_call(
            "process.run", argv=["crontab", *argv], **({"stdin_b64": stdin_b64} if stdin_b64 else {})
        )
        if failed is not None:
            raise ModuleFailed(f"{self.remote.host_name}: crontab: {failed.get('error')}")
        return value


def page(message: str) -> bytes:
    text = html.escape(message)
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>Maintenance</title></head>\n'
        f"<body><h1>Maintenance</h1><p>{text}</p></body></html>\n"
    ).encode()


class OnecrmMaintenance(Module):
    """Maintenance flag and scheduler cron of a 1CRM site, as one desired state with undo."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Put a 1CRM site into maintenance (flag page, scheduler cron paused) or back into service.",
        {"site": one.SITE_ARG, "state": {"enum": ["on", "off"], "description": "on: in maintenance."}},
        ("site", "state"),
    )

    def _parts(self, ctx: TaskContext, args: Mapping[str, Any]) -> tuple[Site, Remote, Crontab, str]:
        st = one.site(ctx, str(args["site"]))
        remote = one.require_host(ctx, st.host, f"the {st.name} site")
        return st, remote, Crontab(remote, st.get("scheduler")), one.maintenance_path(ctx, st)

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        st, remote, cron, flag = self._parts(ctx, args)
        if stat(remote, st.install_path) is None:
            raise ModuleFailed(f"the {st.name} install folder {st.install_path} does not exist on {st.host}")
        active, paused = scheduler_lines(cron.read()) if cron.configured else (0, 0)
        return {
            "maintenance": stat(remote, flag) is not None,
            "scheduler_active": active,
            "scheduler_paused": paused,
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        on = args["state"] == "on"
        if on and state["maintenance"] and not state["scheduler_active"]:
            return None
        if not on and not state["maintenance"] and not state["scheduler_paused"]:
            return None
        return {"before": state, "after": {"maintenance": on}}

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        st, remote, cron, flag = self._parts(ctx, args)
        on = args["state"] == "on"
        findings = []
        if on:
            message = str(one.setting(ctx, "maintenance", "message", default=DEFAULT_MESSAGE))
            call(
                remote,
                "file.write",
                path=flag,
                content_b64=base64.b64encode(page(message)).decode(),
                mode="0644",
            )
        else:
            call(remote, "file.remove", path=flag)
        if cron.configured:
            text = cron.read()
            new = pause(text) if on else resume(text)
            if new != text:
                cron.write(new)
        if on and not change["before"]["scheduler_active"] and not change["before"]["scheduler_paused"]:
            where = cron.where if cron.configured else "no `scheduler:` configured"
            findings.append(
                Finding(
                    "maintenance",
                    f"no active {SCHEDULER_MATCH} cron entry found ({where}): "
                    "check that the scheduler cannot run during the update",
                    "warning",
                    host=st.host,
                )
            )
        after = self.check(ctx, args)
        output = {"site": st.name, "state": args["state"], "before": change["before"], "after": after}
        verb = "in maintenance" if on else "back in service"
        return Result(
            changed=True,
            msg=f"{st.name} {verb}",
            output=output,
            findings=findings,
            diff=change if ctx.diff_mode else None,
        )

    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        """Put back the state recorded before this task changed it."""
        before = (recorded.get("output") or recorded).get("before") or {}
        state = "on" if before.get("maintenance") else "off"
        return self.run(ctx, {**args, "state": state})
