"""Put a file on a Windows host: inline `content` or a controller file `src`, written only when it differs.

The `copy` module's logic on a Windows host (one implementation in `_content.py`): the sha256 of
what is there is compared with the sha256 of what should be there, so a second identical run is
`ok`; text changes are shown as a unified diff (`--diff`, check mode). `newline: crlf` turns the
line ends of inline `content` into Windows' CRLF (YAML text has LF), so Notepad and the Sage CRM
tools read the file as they expect; a controller file `src` is copied byte for byte.

Destructive: overwriting loses the old content. With `backup: true` the old file is first copied
to `<dest>.<UTC time>~`, the copy is verified by sha256 and recorded as a `file_backup`
artifact, so the module protects itself; without it, `destroys()` names the file and the
planner wants a verified backup upstream (a `win_archive` of a folder holding it). A `dest` that
ends with `\\` or is an existing folder receives `src` under its own file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import TaskContext
from modules._common import PATH_SCHEMA, object_schema, prop
from modules.files._content import COMMON_PROPERTIES, ContentModule
from modules.windows._windows import WINDOWS


class WinCopy(ContentModule):
    """Exact bytes at `dest` on a Windows host; `src` is read on the controller, relative to the playbook."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Copy a controller file or inline content to a file on a Windows host.",
        {
            "src": prop(PATH_SCHEMA, "File on the controller, relative to the playbook's folder."),
            "content": {"type": "string", "description": "The file's content, as text (UTF-8)."},
            "newline": {
                "enum": ["keep", "crlf"],
                "default": "keep",
                "description": "crlf: write the line ends of `content` as CRLF (Windows text files).",
            },
            **{k: COMMON_PROPERTIES[k] for k in ("dest", "backup", "force")},
        },
        ("dest",),
        oneOf=[{"required": ["src"]}, {"required": ["content"]}],
    )

    def content(self, ctx: TaskContext, args: Mapping[str, Any]) -> bytes:
        data = super().content(ctx, args)
        if "content" in args and args.get("newline") == "crlf":
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return data
