"""Wait until a port, a path or a URL on the host reaches a state, polling with primitives.

`port` (+ `host`, default 127.0.0.1 as seen from the managed host): `started`/`present` wait for
a connection to be accepted, `stopped`/`absent` for it to be refused. `path`: exists / is gone.
`url`: `started` when it answers with an HTTP status below 500 (a login page, a redirect and a
401 all mean the site is up; a 503 means the application pool is not), `stopped` otherwise.

Polls every `sleep` seconds until `timeout`, after an initial `delay`. An interrupted run (Ctrl-C,
another host failing with `any_errors_fatal`) stops the wait at once instead of sitting out the
timeout. In check mode it probes once and reports what it saw without waiting: in a check run
the services it would wait for were never stopped or started, so waiting would only time out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import PATH_SCHEMA, call, object_schema, prop, stat

_UP = {"started": True, "present": True, "stopped": False, "absent": False}


def probe(ctx: TaskContext, args: Mapping[str, Any]) -> bool:
    """True when the target is up/present right now."""
    remote = ctx.require_remote()
    if "path" in args:
        return stat(remote, str(args["path"]), follow=True) is not None
    if "port" in args:
        answer = call(
            remote,
            "net.port",
            port=int(args["port"]),
            address=str(args.get("host", "127.0.0.1")),
            timeout=float(args.get("connect_timeout", 5)),
        )
        return bool(answer.get("open"))
    value, failed = remote.try_call(
        "http.get",
        url=str(args["url"]),
        timeout=float(args.get("connect_timeout", 5)),
        max_bytes=0,
        validate_certs=bool(args.get("validate_certs", True)),
    )
    return failed is None and int(value.get("status", 599)) < 500


def target_text(args: Mapping[str, Any]) -> str:
    if "path" in args:
        return f"path {args['path']}"
    if "port" in args:
        return f"port {args['port']} on {args.get('host', '127.0.0.1')}"
    return f"url {args['url']}"


class WaitFor(Module):
    """Poll until the target is up (started/present) or down (stopped/absent)."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Wait for a port, path or URL on the host to reach a state.",
        {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "TCP port to test."},
            "host": {
                "type": "string",
                "minLength": 1,
                "default": "127.0.0.1",
                "description": "Address of the port, as seen from the managed host.",
            },
            "path": prop(PATH_SCHEMA, "A path on the host that must appear or disappear."),
            "url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "An http(s) URL asked from the host.",
            },
            "state": {
                "enum": ["started", "stopped", "present", "absent"],
                "default": "started",
                "description": "started/present: wait until up or there; stopped/absent: until down or gone.",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 300,
                "description": "Seconds to wait in all before failing.",
            },
            "delay": {
                "type": "number",
                "minimum": 0,
                "default": 0,
                "description": "Seconds to wait before the first probe.",
            },
            "sleep": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 1,
                "description": "Seconds between probes.",
            },
            "connect_timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 5,
                "description": "Seconds one port or URL probe may take.",
            },
            "validate_certs": {
                "type": "boolean",
                "default": True,
                "description": "Check the URL's TLS certificate.",
            },
        },
        oneOf=[{"required": ["port"]}, {"required": ["path"]}, {"required": ["url"]}],
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        want_up = _UP[args.get("state", "started")]
        what = target_text(args)
        if ctx.check_mode:
            up = probe(ctx, args)
            return Result(
                msg=f"check mode: {what} is {'up' if up else 'down'} now (not waited for)",
                output={"state": "up" if up else "down", "waited": False},
            )
        stop = ctx.run.interrupted
        start = time.monotonic()
        deadline = start + float(args.get("timeout", 300))
        if stop.wait(float(args.get("delay", 0))):
            raise ModuleFailed(f"interrupted while waiting for {what}")
        attempts = 0
        while True:
            attempts += 1
            if probe(ctx, args) == want_up:
                elapsed = round(time.monotonic() - start, 3)
                return Result(
                    msg=f"{what} is {'up' if want_up else 'down'}",
                    output={"elapsed": elapsed, "attempts": attempts, "state": args.get("state", "started")},
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModuleFailed(
                    f"timeout after {args.get('timeout', 300)}s waiting for {what} to be "
                    f"{'up' if want_up else 'down'}",
                    output={"attempts": attempts, "elapsed": round(time.monotonic() - start, 3)},
                )
            if stop.wait(min(float(args.get("sleep", 1)), left)):
                raise ModuleFailed(f"interrupted while waiting for {what}", output={"attempts": attempts})
