"""Check conditions on the controller; the task fails with `fail_msg` when one is false.

Each expression of `that` is a bare Jinja2 expression (`result.rc == 0`, `"7.3" in version`)
evaluated with the task's variables in the engine's sandbox; they are checked in order and the
first false one is named in the output (`assertion`, `evaluated_to`), as Ansible does. An
expression that cannot be evaluated (an undefined variable) fails the task with that reason
rather than counting as false, because a typo must not pass for a failed check.

Runs in check mode too (it changes nothing), so a check run stops where a real run would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.core.errors import UserError
from modules._common import object_schema

_EXPRESSION = {"type": ["string", "boolean"]}


class AssertModule(Module):
    """`assert`: every expression of `that` must be true."""

    name: ClassVar[str] = "assert"
    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Fail unless every condition is true (evaluated on the controller).",
        {
            "that": {
                "oneOf": [_EXPRESSION, {"type": "array", "items": _EXPRESSION, "minItems": 1}],
                "description": "A condition or a list of conditions (bare Jinja2 expressions).",
            },
            "fail_msg": {"type": "string", "description": "Message when a condition is false."},
            "msg": {"type": "string", "description": "Same as fail_msg (Ansible's older name)."},
            "success_msg": {"type": "string", "description": "Message when all conditions are true."},
        },
        ("that",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        that = args["that"] if isinstance(args["that"], list) else [args["that"]]
        for expression in that:
            try:
                value = ctx.evaluate(expression) if isinstance(expression, str) else expression
            except UserError as exc:
                raise ModuleFailed(f"assertion {expression!r} could not be evaluated: {exc}") from exc
            if not value:
                msg = args.get("fail_msg") or args.get("msg") or f"Assertion failed: {expression}"
                return Result(
                    failed=True,
                    msg=msg,
                    output={"assertion": expression, "evaluated_to": value, "msg": msg},
                )
        msg = args.get("success_msg", "All assertions passed")
        return Result(msg=msg, output={"msg": msg})
