"""What a rollback restored, from which artifact of which run: the sentence an auditor looks for.

A rollback run (`--from-run RUN`) restores from the verified artifacts RUN recorded. Each
restoring step's recorded output names the artifact it read (its location); this matches them
up, so the report can say "restored db:crm from <location> (sha256 <...>) matched the backup
of run <RUN>". The sha256 is said to have matched when the step's output carries the same
checksum (the restore modules hash the artifact again before they use it, and refuse one that
changed); otherwise the report says the artifact was used, without claiming more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def used_artifacts(nodes: list[Mapping[str, Any]], prior: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each earlier-run artifact a changed step of this run names in its output, with that step."""
    used = []
    for artifact in prior:
        location = str(artifact.get("location") or "")
        if not location:
            continue
        for node in nodes:
            if node.get("status") != "changed" or node.get("output") is None:
                continue
            text = json.dumps(node["output"], ensure_ascii=False, default=str)
            if json.dumps(location, ensure_ascii=False)[1:-1] not in text:
                continue
            sha = artifact.get("sha256")
            used.append({
                **artifact,
                "step": node.get("task"),
                "step_id": node.get("id"),
                "host_of_step": node.get("host"),
                "sha256_matched": bool(sha) and str(sha) in text,
            })
            break
    return used


def restored_sentence(entry: Mapping[str, Any], from_run: str) -> str:
    """`restored db:crm from <loc> sha256 <...> matched the backup of run <RUN>`."""
    what = f"restored {entry.get('resource')} from {entry.get('location')}"
    if entry.get("sha256_matched"):
        return f"{what} sha256 {entry.get('sha256')} matched the backup of run {from_run}"
    return f"{what} (sha256 {entry.get('sha256') or '-'}), a backup of run {from_run}"
