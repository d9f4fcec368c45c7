"""Check that a URL answers as expected: status code(s) and, optionally, a text in the body.

By default the request is made from the managed host (`http.get` primitive), which is what
"the site works on that server" means behind a load balancer; `from: controller` asks from the
machine running cutover instead (public URL, certificate as users see it). Certificates are
checked unless `validate_certs: false`.

Read-only: never `changed`. `retries` (with `delay` seconds between) absorbs a site that is still
warming up after an IIS restart. In check mode it asks once and reports the answer without
failing: what a check run sees is the site before the change, not after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.api.primitives import PrimitiveFailed, controller_remote
from modules._common import call, object_schema

#: Body bytes fetched for `contains`; the registered body is cut shorter to keep journals small.
FETCH_LIMIT = 1 << 20
KEEP_BODY = 16 * 1024


def get(ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
    """One GET, from the host or from the controller; the answer of the `http.get` primitive."""
    request = {
        "url": str(args["url"]),
        "timeout": float(args.get("timeout", 10)),
        "max_bytes": FETCH_LIMIT,
        "validate_certs": bool(args.get("validate_certs", True)),
    }
    if args.get("headers"):
        request["headers"] = dict(args["headers"])
    if args.get("from", "host") == "controller":
        # the controller answers the same primitive itself: one behaviour in both directions
        try:
            return controller_remote().call("http.get", **request)
        except PrimitiveFailed as exc:
            raise ModuleFailed(str(exc), output={"kind": exc.kind}) from exc
    return call(ctx.require_remote(), "http.get", **request)


def verdict(answer: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """Why the answer is not the expected one, or None when it is."""
    expected = args.get("status", 200)
    allowed = expected if isinstance(expected, list) else [expected]
    if answer.get("status") not in allowed:
        return f"status {answer.get('status')}, expected {' or '.join(str(s) for s in allowed)}"
    needle = args.get("contains")
    if needle and needle not in str(answer.get("body", "")):
        return f"the body does not contain {needle!r}"
    return None


class HttpCheck(Module):
    """GET a URL until it answers as expected or the retries are spent."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix", "windows", "controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Check that a URL answers with the expected status and content.",
        {
            "url": {"type": "string", "pattern": "^https?://", "description": "The http(s) URL to GET."},
            "status": {
                "oneOf": [
                    {"type": "integer", "minimum": 100, "maximum": 599},
                    {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 100, "maximum": 599},
                        "minItems": 1,
                    },
                ],
                "default": 200,
                "description": "Expected status code, or a list of accepted codes.",
            },
            "contains": {"type": "string", "minLength": 1, "description": "Text the body must contain."},
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Request headers (name: value).",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 10,
                "description": "Seconds one request may take.",
            },
            "validate_certs": {
                "type": "boolean",
                "default": True,
                "description": "Check the TLS certificate.",
            },
            "retries": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Extra attempts after a failed one.",
            },
            "delay": {
                "type": "number",
                "minimum": 0,
                "default": 1,
                "description": "Seconds between attempts.",
            },
            "from": {
                "enum": ["host", "controller"],
                "default": "host",
                "description": "Where the request is made from.",
            },
        },
        ("url",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        attempts = 1 if ctx.check_mode else int(args.get("retries", 0)) + 1
        problem, answer = "not asked", {}
        for attempt in range(1, attempts + 1):
            try:
                answer = get(ctx, args)
                problem = verdict(answer, args)
            except ModuleFailed as exc:
                answer, problem = {}, str(exc)
            if (
                problem is None
                or attempt == attempts
                or ctx.run.interrupted.wait(float(args.get("delay", 1)))
            ):
                break
        body = str(answer.get("body", ""))
        output = {
            "url": args["url"],
            "status": answer.get("status"),
            "elapsed": answer.get("elapsed"),
            "attempts": attempt,
            "body": body[:KEEP_BODY],
            "body_truncated": len(body) > KEEP_BODY or bool(answer.get("truncated")),
        }
        if problem is None:
            return Result(msg=f"{args['url']} answered {answer.get('status')}", output=output)
        if ctx.check_mode:
            return Result(
                msg=f"check mode: {args['url']}: {problem} (not failed in check mode)", output=output
            )
        return Result(failed=True, msg=f"{args['url']}: {problem}", output=output)
