"""Render a Jinja2 template on the controller and put the result on the host, like `copy`.

The template is rendered with the engine's sandboxed Jinja2 (StrictUndefined: a missing variable
is an error naming it, never an empty string) and the task's variables, so secrets taken from the
vault stay in memory and reach only the host's file. After rendering it behaves exactly as
`copy` (sha256 comparison, diff, `backup`, attributes), and is destructive for the same reason:
without `backup: true` the planner asks for a verified backup of `dest` upstream.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.api.module import ModuleFailed, TaskContext
from engine.core.errors import UserError
from modules.files._content import ContentModule, content_schema


class Template(ContentModule):
    """`src` (controller file) or `content` rendered with the task's variables, then copied."""

    schema: ClassVar[dict[str, Any]] = content_schema(
        "Render a Jinja2 template with the task's variables and write it to a file on the host.",
        src="Template file on the controller, relative to the playbook's folder.",
        content="The template text itself, instead of `src`.",
    )

    def convert(self, ctx: TaskContext, data: bytes, origin: str) -> bytes:
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModuleFailed(f"template {origin} is not UTF-8 text: {exc}") from exc
        try:
            rendered = ctx.render(source)
        except UserError as exc:
            raise ModuleFailed(f"template {origin}: {exc}") from exc
        text = rendered if isinstance(rendered, str) else str(rendered)
        if source.endswith("\n") and not text.endswith("\n"):
            text += "\n"  # Jinja2 drops one trailing newline unless told otherwise; files keep theirs
        return text.encode("utf-8")
