"""Log on to a Sage CRM web server once, from the server itself.

The guide: after an IIS reset or an application-pool recycle on a load-balanced cluster, each
server must be logged on to once before load balancing works again. This module requests the
CRM login page (`eware.dll`) on the server through its own loopback address, which initialises
the DLL there, and checks the answer: HTTP 200 and, when given (`contains` or
`sagecrm.login.contains`, e.g. the version the page shows), that text. `sagecrm.login.user` and
`password` (keep it in the vault) are sent as HTTP basic credentials when the site asks for them.

It changes nothing the engine could undo and reports `ok`; `retries`/`delay` on the task cover
a pool that takes a few seconds to start.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import call, object_schema
from modules.sagecrm import _sagecrm as crm


def login_url(app: str, path: str | None = None) -> str:
    """`http://localhost/<app>/eware.dll` (the application part of `Default Web Site/CRM`)."""
    name = app.partition("/")[2].strip("/")
    return "http://localhost/" + (path.strip("/") if path else f"{name}/eware.dll")


class CrmLoginCheck(Module):
    """GET the CRM login page on the server itself; 200 (and the expected text) or failed."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    secret_args: ClassVar[frozenset[str]] = frozenset({"password"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Log on to a Sage CRM web server once (after IIS restarts, so load balancing works again).",
        {
            "path": {"type": "string", "minLength": 1, "description": "URL path (default /<app>/eware.dll)."},
            "contains": {"type": "string", "minLength": 1, "description": "Text the page must contain."},
            "user": {"type": "string", "minLength": 1},
            "password": {"type": "string", "description": "Keep it in the vault."},
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        if "web" not in est.roles.get(ctx.host.name, ()):
            return Result(skipped=True, msg=f"{ctx.host.name} is not a web server")
        login = est.setting("login", default={}) or {}
        url = login_url(est.iis_app, args.get("path") or login.get("path"))
        headers = {}
        user = args.get("user") or login.get("user")
        password = args.get("password")
        if user and password is not None:
            ctx.run.add_secret(str(password))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        answer = call(ctx.require_remote(), "http.get", url=url, headers=headers or None, max_bytes=65536)
        status = answer.get("status")
        wanted = args.get("contains") or login.get("contains")
        body = str(answer.get("body") or "")
        output = {"url": url, "status": status}
        if status != 200:
            raise ModuleFailed(f"{url} on {ctx.host.name} answered {status}", output)
        if wanted and wanted not in body:
            raise ModuleFailed(f"{url} on {ctx.host.name} answered without {wanted!r}", output)
        return Result(changed=False, msg=f"logged on to {ctx.host.name} ({status})", output=output)
