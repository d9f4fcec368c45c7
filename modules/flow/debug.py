"""Show a message or a variable's value in the run's output (on the controller).

`msg` is shown as given (the engine has already rendered its templates); `var` names a variable
or an expression (`result.stdout_lines`) and shows its value under that name, as Ansible does.
Secrets are masked by the engine wherever output is shown, like any other output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.core.errors import UserError
from modules._common import object_schema


class Debug(Module):
    """Print `msg`, or `var` with its value; never changed, runs in check mode."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    free_form: ClassVar[str | None] = "msg"
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Show a message or a variable's value.",
        {
            "msg": {"description": "What to show (any value).", "default": "Hello world!"},
            "var": {
                "type": "string",
                "minLength": 1,
                "description": "A variable name or expression to show.",
            },
        },
        **{"not": {"required": ["msg", "var"]}},
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        if "var" in args:
            name = str(args["var"])
            try:
                value = ctx.evaluate(name)
            except UserError as exc:
                raise ModuleFailed(f"debug var {name!r}: {exc}") from exc
            return Result(msg=f"{name}: {value!r}", output={name: value})
        msg = args.get("msg", "Hello world!")
        return Result(msg=msg if isinstance(msg, str) else repr(msg), output={"msg": msg})
