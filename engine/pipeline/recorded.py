"""What a journaled run tells about the estate: did it start a destructive step, and where is its rollback.

Shared by `--on-failure rollback` (engine/pipeline/on_failure.py), which rolls back only a run that
changed something the backups protect, and the end-of-run summary (engine/pipeline/run_end.py),
which prints the rollback command only then. Neither the stages nor each other are imported here.
"""

from __future__ import annotations

from pathlib import Path

from engine.api.registry import ModuleRegistry
from engine.journal.store import Journal

ROLLBACK_PLAYBOOK = "rollback.yml"


def rollback_playbook_for(playbook_path: str | Path) -> Path | None:
    """The rollback playbook that sits next to a playbook (`<folder>/rollback.yml`)."""
    candidate = Path(playbook_path).parent / ROLLBACK_PLAYBOOK
    return candidate if candidate.is_file() and candidate.resolve() != Path(playbook_path).resolve() else None


def destructive_steps_started(journal: Journal, run_id: str, registry: ModuleRegistry) -> list[str]:
    """Node ids of the run whose module is destructive and which started (changed or failed)."""
    started = []
    for node in journal.nodes(run_id):
        module = node.get("module")
        if not module or node.get("status") not in ("changed", "failed"):
            continue
        try:
            found = registry.get(module)
        except Exception:  # noqa: BLE001 - a module that no longer loads cannot be judged destructive
            continue
        if found.destructive or found.installer:
            started.append(str(node["node_id"]))
    return started
