"""Write the notice CRM users see while their estate is upgraded: an operator's own module."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext


class MaintenanceNotice(Module):
    """`maintenance_notice: {path, text}`: the file holds exactly `text`; changed once, then ok."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path", "text"],
        "properties": {
            "path": {"type": "string", "minLength": 1, "description": "The notice file on the host."},
            "text": {"type": "string", "description": "What the users are told."},
        },
    }

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> str | None:
        value, error = ctx.require_remote().try_call("file.read", path=args["path"])
        if error is None:
            return base64.b64decode(value["content_b64"]).decode()
        if error.get("kind") == "not_found":
            return None
        raise ModuleFailed(f"cannot read {args['path']}: {error.get('error')}")

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: str | None) -> dict[str, Any] | None:
        wanted = args["text"] + "\n"
        return None if state == wanted else {"path": args["path"], "before": state, "after": wanted}

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        content = base64.b64encode(change["after"].encode()).decode()
        ctx.require_remote().call("file.write", path=change["path"], content_b64=content)
        return Result(changed=True, msg=f"notice written to {change['path']}", diff=change)
