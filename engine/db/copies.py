"""The off-server copy of a backup artifact: how it is recorded with the artifact and read back.

Why: the Sage CRM guide wants the manual backups "stocké[s] de façon complètement indépendante
de l'environnement de mise à jour". A backup written on the server being upgraded is lost with
that server, so after it is verified it is copied to a destination off the servers (a UNC share
reached from the server, or the controller over the connection) and the copy is hashed where
it landed. The journal keeps both places with the one artifact: `Artifact.meta["copy"]` holds
`{kind: unc|controller, location, via, sha256, size, verified}`; `via` is the server whose
connection reaches a UNC copy (None for a copy on the controller). One reader here serves the
restore modules, the rollback pre-check and the report, so they agree on what a copy is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.api.module import Artifact

#: the key of Artifact.meta that records the off-server copy
COPY_KEY = "copy"
KINDS = ("unc", "controller")


def copy_record(kind: str, location: str, via: str | None, sha256: str, size: int) -> dict[str, Any]:
    """What `Artifact.meta["copy"]` holds once the copy's sha256 matched the backup's."""
    if kind not in KINDS:
        raise ValueError(f"unknown copy kind {kind!r}")
    return {"kind": kind, "location": location, "via": via, "sha256": sha256, "size": size, "verified": True}


def off_server_copy(artifact: Artifact) -> Artifact | None:
    """The verified off-server copy of `artifact` as an artifact of its own (its location, and the
    host that reads it: `via` for a UNC copy, None for the controller); None when it has none."""
    found = artifact.meta.get(COPY_KEY) if isinstance(artifact.meta, dict) else None
    if not isinstance(found, dict) or not found.get("verified") or not found.get("location"):
        return None
    return dataclasses.replace(
        artifact,
        location=str(found["location"]),
        host=found.get("via") if found.get("kind") == "unc" else None,
        sha256=str(found.get("sha256") or artifact.sha256 or ""),
        size=found.get("size", artifact.size),
        meta={k: v for k, v in artifact.meta.items() if k != COPY_KEY},
    )


def where_text(meta: Any) -> str:
    """`\\\\nas\\share\\x.bak (UNC, through crm2)` or `/path (controller)`: the report's words."""
    found = meta.get(COPY_KEY) if isinstance(meta, dict) else None
    if not isinstance(found, dict) or not found.get("location"):
        return ""
    if found.get("kind") == "unc":
        via = f", through {found['via']}" if found.get("via") else ""
        return f"{found['location']} (UNC share{via})"
    return f"{found['location']} (controller)"
