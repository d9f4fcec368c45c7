"""Read facts about a path on the host into a registered `stat`, like Ansible's stat module.

Read-only: never changed, runs in check mode too (later `when:` conditions depend on it).
`checksum: true` adds the file's sha256; it is off by default because hashing a large backup
only to learn whether it exists would cost minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import PATH_SCHEMA, digest, object_schema, prop, stat


class Stat(Module):
    """Registered `stat`: exists, isdir, isreg, islnk, size, mode, owner, group, mtime, checksum."""

    schema: ClassVar[dict[str, Any]] = object_schema(
        "Read a path's facts on the host (registered as `stat`).",
        {
            "path": prop(PATH_SCHEMA, "The path on the host."),
            "checksum": {
                "type": "boolean",
                "default": False,
                "description": "Add `checksum` (sha256) of a file.",
            },
            "follow": {"type": "boolean", "default": False, "description": "Follow a symbolic link."},
        },
        ("path",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        remote = ctx.require_remote()
        path = str(args["path"])
        st = stat(remote, path, follow=bool(args.get("follow", False)))
        if st is None:
            return Result(output={"stat": {"exists": False, "path": path}})
        kind = st.get("type")
        facts: dict[str, Any] = {
            "exists": True,
            "path": path,
            "type": kind,
            "isdir": kind == "directory",
            "isreg": kind == "file",
            "islnk": kind == "link",
            "size": st.get("size"),
            "mode": st.get("mode"),
            "mtime": st.get("mtime"),
            "owner": st.get("owner"),
            "group": st.get("group"),
            "pw_name": st.get("owner"),
            "gr_name": st.get("group"),
            "uid": st.get("uid"),
            "gid": st.get("gid"),
        }
        if kind == "link":
            facts["lnk_target"] = st.get("target")
        if args.get("checksum") and kind == "file":
            facts["checksum"] = digest(remote, path)
            facts["checksum_algorithm"] = "sha256"
        return Result(output={"stat": facts})
