"""Read facts about a path on a Windows host into a registered `stat`: `stat` for Windows.

Read-only: never changed, runs in check mode too (later `when:` conditions depend on it). The
facts are the `stat` module's (one implementation) without the POSIX ones (uid, gid, link
target): `exists`, `type`, `isdir`, `isreg`, `size`, `mtime`, `mode` (`0444` means read-only),
`owner`, `group`. `checksum: true` adds the file's sha256, off by default because hashing a
large backup only to learn whether it exists would cost minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Result, TaskContext
from modules._common import PATH_SCHEMA, object_schema, prop
from modules.files.stat import Stat
from modules.windows._windows import WINDOWS

_POSIX_ONLY = ("uid", "gid", "pw_name", "gr_name", "islnk", "lnk_target")


class WinStat(Stat):
    """Registered `stat`: exists, type, isdir, isreg, size, mode, owner, group, mtime, checksum."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Read a path's facts on a Windows host (registered as `stat`).",
        {
            "path": prop(PATH_SCHEMA, "The path on the host."),
            "checksum": {
                "type": "boolean",
                "default": False,
                "description": "Add `checksum` (sha256) of a file.",
            },
        },
        ("path",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        result = super().run(ctx, args)
        facts = result.output.get("stat", {})
        for key in _POSIX_ONLY:
            facts.pop(key, None)
        return result
