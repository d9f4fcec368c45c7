"""`--on-failure rollback`: a failed upgrade rolls itself back, when the operator asked for it.

After a run of `<folder>/upgrade.yml` fails, this plans `<folder>/rollback.yml` against the same
inventory with the failed run's recorded backups (exactly as `cutover run rollback.yml
--from-run <failed run>` would) and executes it as a new, journaled run whose parent is the
failed one. Nothing is rolled back when the failed run never started a destructive step
(installer, restore, ...): then nothing the backups protect has changed, and the estate is left
for the operator to resume.

`cutover run --on-failure stop|rollback` (default stop) asks for it; the run flow
(engine/pipeline/flows.py) calls it after a failed run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api.registry import ModuleRegistry
from engine.journal.store import Journal
from engine.pipeline.recorded import ROLLBACK_PLAYBOOK, destructive_steps_started, rollback_playbook_for


def rollback_after_failure(
    journal: Journal,
    run_id: str,
    inventory_path: str,
    *,
    playbook_path: str,
    execute: Callable[[Any], Any],
    plan_options: Any = None,
    keyring: Any = None,
    report: Callable[[str], None] = print,
) -> Any:
    """Plan and execute the rollback of a failed run; its RunSummary, or None when none was needed.

    `execute(plan)` runs a plan with `from_run=run_id` (the run flow executes it as a run of its
    own, with the operator's gatekeeper, a new reporter and the same state folder). A rollback that cannot be planned
    (no rollback playbook, a refused plan) raises the planner's UserError: the failed run stays
    as it is and the operator sees why.
    """
    from dataclasses import replace

    from engine.core.errors import UserError
    from engine.pipeline.stages import Sources, load_sources, make_plan
    from engine.plan.builder import PlanOptions

    registry = ModuleRegistry([Path(playbook_path).parent / "library"])
    rollback = rollback_playbook_for(playbook_path)
    if rollback is None:
        raise UserError(f"--on-failure rollback: no {ROLLBACK_PLAYBOOK} next to {playbook_path}")
    if not destructive_steps_started(journal, run_id, registry):
        report(
            f"run {run_id} failed before any destructive step: nothing to roll back (resume it when fixed)"
        )
        return None
    protected = frozenset(a.resource for a in journal.artifacts(run_id) if a.verified)
    options = replace(
        plan_options or PlanOptions(), prior_resources=protected, tags=frozenset(), skip_tags=frozenset()
    )
    plan = make_plan(load_sources(Sources(str(rollback), inventory_path, keyring, options)))
    report(f"run {run_id} failed after a destructive step: rolling back with {rollback}")
    return execute(plan)
