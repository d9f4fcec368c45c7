"""Fail the task with a message (on the controller), typically under a `when:` condition.

Runs in check mode too, so a check run stops where the real run would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import object_schema


class Fail(Module):
    """Always fails with `msg`."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    free_form: ClassVar[str | None] = "msg"
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Fail the task with a message.",
        {
            "msg": {
                "type": "string",
                "default": "Failed as requested from task",
                "description": "The failure message.",
            }
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        msg = str(args.get("msg", "Failed as requested from task"))
        return Result(failed=True, msg=msg, output={"msg": msg})
