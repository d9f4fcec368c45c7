"""Make a path on a Windows host be a folder, an empty file, or nothing: `file` for Windows.

`state`: `directory` (created with its parents when missing), `touch` (created empty when
missing; an existing file is left alone, times included, so a second run is `ok`), `absent`
(removed, a folder with everything in it). Windows keeps no POSIX mode, owner or group worth
managing here, so this module takes none; everything else is the `file` module's logic (one
implementation, so both agree on what exists and what changed).

Destructive only with `state: absent`: `destroys()` names `files:<host>:<path>` for that state,
and the planner wants a verified backup upstream (a `win_archive` of a folder holding it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from modules._common import PATH_SCHEMA, object_schema, prop
from modules.files.file import File
from modules.windows._windows import WINDOWS


class WinFile(File):
    """Desired state of one Windows path: directory | touch | absent."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Create a folder or an empty file, or remove a path, on a Windows host.",
        {
            "path": prop(PATH_SCHEMA, "The path on the host, e.g. 'C:\\Backup\\CRM'."),
            "state": {
                "enum": ["directory", "touch", "absent"],
                "description": "directory: create with parents; touch: create empty when missing; "
                "absent: remove (folders with their content).",
            },
        },
        ("path", "state"),
    )
