"""Log on to the CRM once, as a user would, and check the answer (after an IIS restart or recycle).

On a load-balanced Sage CRM cluster, each server must be logged on to once after an IIS reset or
an application-pool recycle before load balancing works again; this task is that logon, and the
proof that the server really serves the CRM (status and, with `contains`, a text only a logged-in
page shows).

Two ways to ask:
- `from: controller` (default): the machine running cutover sends the request (urllib), either
  the login form (`method: POST`, fields `user_field`/`password_field`, default Sage CRM's
  `EWARE_USERID`/`PASSWORD`: check them against your login page) or a GET with HTTP Basic
  authentication. Cookies are kept across redirects. Use the server's own URL, not the
  balancer's, to reach each server.
- `from: host`: the server asks itself (`http.get` primitive, so `http://localhost/CRM/...`
  reaches exactly that server); the primitive only GETs, so `method: GET` (Basic) is required.

The password never travels in the URL, is masked in every output (`secret_args`), and the
Authorization header built from it is registered as a secret too. Certificates are checked
unless `validate_certs: false`. Read-only: never `changed`. `retries`/`delay` absorb a
server that is still warming up. In check mode it asks once and reports without failing.
"""

from __future__ import annotations

import base64
import http.cookiejar
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import call, object_schema, retry
from modules.web.http_check import HttpCheck, verdict
from modules.windows._windows import WINDOWS

FETCH_LIMIT = 1 << 20
KEEP_BODY = 4096
_STATUS = {"type": "integer", "minimum": 100, "maximum": 599}
#: The request arguments this module shares with http_check (same meaning, same checks).
_HTTP: dict[str, Any] = HttpCheck.schema["properties"]


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def from_controller(args: Mapping[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """One request from the controller -> {status, body, elapsed} (4xx/5xx are answers, not errors)."""
    url = str(args["url"])
    data = None
    if args.get("method", "POST") == "POST":
        fields = {
            str(args.get("user_field", "EWARE_USERID")): str(args["user"]),
            str(args.get("password_field", "PASSWORD")): str(args["password"]),
            **{str(k): str(v) for k, v in (args.get("fields") or {}).items()},
        }
        data = urllib.parse.urlencode(fields).encode("ascii")
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    tls = ssl.create_default_context()
    if not args.get("validate_certs", True):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        urllib.request.HTTPSHandler(context=tls),
    )
    request = urllib.request.Request(url, data=data, headers=headers, method=str(args.get("method", "POST")))
    started = time.monotonic()
    try:
        with opener.open(request, timeout=float(args.get("timeout", 30))) as response:
            status, body = response.status, response.read(FETCH_LIMIT)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(FETCH_LIMIT)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModuleFailed(f"{url}: no answer: {reason}") from None
    return {
        "status": status,
        "body": body.decode("utf-8", "replace"),
        "elapsed": round(time.monotonic() - started, 3),
    }


def login(ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
    """One login request, from the controller or from the host."""
    headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
    if args.get("method", "POST") == "GET":
        headers["Authorization"] = basic_header(str(args["user"]), str(args["password"]))
        ctx.run.add_secret(headers["Authorization"])
    if args.get("from", "controller") == "controller":
        return from_controller(args, headers)
    if ctx.remote is None:
        raise ModuleFailed(f"from: host needs a connection to {ctx.host.name} (a Windows host)")
    return call(
        ctx.remote,
        "http.get",
        url=str(args["url"]),
        headers=headers,
        timeout=float(args.get("timeout", 30)),
        max_bytes=FETCH_LIMIT,
        validate_certs=bool(args.get("validate_certs", True)),
    )


class HttpLoginCheck(Module):
    """Log on (form POST or Basic GET) until the answer is as expected or the retries are spent."""

    platforms: ClassVar[frozenset[str]] = WINDOWS | {"controller"}
    secret_args: ClassVar[frozenset[str]] = frozenset({"password"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Log on to the CRM once (form or Basic) and check the answer, from the controller or the host.",
        {
            "url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "Login URL (e.g. .../CRM/eware.dll/Login).",
            },
            "user": {"type": "string", "minLength": 1, "description": "CRM user name."},
            "password": {
                "type": "string",
                "description": "CRM password (masked everywhere; keep it in the vault).",
            },
            "method": {
                "enum": ["POST", "GET"],
                "default": "POST",
                "description": "POST: the login form; GET: HTTP Basic authentication.",
            },
            "user_field": {
                "type": "string",
                "minLength": 1,
                "default": "EWARE_USERID",
                "description": "Form field of the user name.",
            },
            "password_field": {
                "type": "string",
                "minLength": 1,
                "default": "PASSWORD",
                "description": "Form field of the password.",
            },
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Other form fields the login page posts (name: value).",
            },
            "expect_status": {
                "oneOf": [_STATUS, {"type": "array", "items": _STATUS, "minItems": 1}],
                "default": 200,
                "description": "Expected status code, or a list of accepted codes.",
            },
            "contains": {
                "type": "string",
                "minLength": 1,
                "description": "Text the answer must contain (e.g. a logged-in page's).",
            },
            "from": {
                "enum": ["controller", "host"],
                "default": "controller",
                "description": "Where the request is made from.",
            },
            "timeout": {**_HTTP["timeout"], "default": 30},
            **{k: _HTTP[k] for k in ("headers", "validate_certs", "retries")},
            "delay": {**_HTTP["delay"], "default": 2},
        },
        ("url", "user", "password"),
        allOf=[
            {
                "if": {"properties": {"from": {"const": "host"}}, "required": ["from"]},
                "then": {
                    "required": ["method"],
                    "properties": {
                        "method": {
                            "pattern": "^GET$",
                            "patternErrorMessage": "possible with `from: host` (the host's http.get cannot POST); "
                            "use method: GET",
                        }
                    },
                },
            }
        ],
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        expected = {"status": args.get("expect_status", 200), "contains": args.get("contains")}

        def ask() -> tuple[dict[str, Any], str | None]:
            answer = login(ctx, args)
            return answer, verdict(answer, expected)

        attempts = 1 if ctx.check_mode else int(args.get("retries", 0)) + 1
        answer, problem, attempt = retry(ctx, attempts, float(args.get("delay", 2)), ask)
        answer = answer or {}
        who = f"{args['url']} as {args['user']}"
        output = {"url": args["url"], "user": args["user"], "attempts": attempt, **answer}
        output["body"] = str(answer.get("body", ""))[:KEEP_BODY]
        output.pop("headers", None)
        if problem is None:
            return Result(msg=f"logged on to {who} ({answer.get('status')})", output=output)
        if ctx.check_mode:
            return Result(
                msg=f"check mode: login to {who}: {problem} (not failed in check mode)", output=output
            )
        return Result(failed=True, msg=f"login to {who}: {problem}", output=output)
