"""What each command does with the stages (engine/pipeline/stages.py), top to bottom.

`cutover plan` loads and plans; `cutover validate` also checks the finished plan; `cutover run`
plans and executes (journaled, then reported) and, with `--on-failure rollback`, rolls a failed
run back; `cutover resume` plans the recorded run again and continues it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.pipeline.stages import (
    RunSettings,
    Sources,
    execute_plan,
    load_sources,
    make_plan,
    validate_plan,
)
from engine.plan.builder import PlanOptions
from engine.plan.graph import Plan

if TYPE_CHECKING:  # the executor is imported only by the commands that run something
    from engine.execute.scheduler import RunSummary


def plan(sources: Sources) -> Plan:
    """`cutover plan`: load, plan."""
    return make_plan(load_sources(sources))


def validate(sources: Sources) -> Plan:
    """`cutover validate`: load, plan, check the finished plan."""
    loaded = load_sources(sources)
    planned = make_plan(loaded)
    validate_plan(loaded, planned)
    return planned


def run(sources: Sources, settings: RunSettings) -> RunSummary:
    """`cutover run`: load, plan, execute (journaled), report; then roll back if asked and needed."""
    sources, settings = with_from_run(sources, settings)
    return run_planned(plan(sources), sources, settings)


def with_from_run(sources: Sources, settings: RunSettings) -> tuple[Sources, RunSettings]:
    """`--from-run RUN` resolved to the run's full id, and its verified backups given to the planner."""
    if not settings.from_run:
        return sources, settings
    from_run = _find_run(settings.state_dir, settings.from_run, "--from-run: ")["id"]
    settings = replace(settings, from_run=from_run, recorded_args={**settings.recorded_args, "from_run": from_run})
    protected = recorded_backups(settings.state_dir, from_run)
    return replace(sources, options=replace(sources.options, prior_resources=protected)), settings


def run_planned(planned: Plan, sources: Sources, settings: RunSettings) -> RunSummary:
    """Execute a plan made by `plan(sources)`; then roll back if asked and needed."""
    summary = execute_plan(planned, settings, sources.keyring)
    if summary.status == "failed" and settings.on_failure == "rollback" and not settings.check_mode:
        roll_back(sources, settings, summary.run_id)
    return summary


def roll_back(sources: Sources, settings: RunSettings, failed_run: str) -> RunSummary | None:
    """`--on-failure rollback`: the rollback playbook next to the failed one, from its backups."""
    from engine.journal.store import Journal
    from engine.pipeline.on_failure import rollback_after_failure

    rollback_settings = RunSettings(
        state_dir=settings.state_dir, forks=settings.forks, operator=settings.operator,
        gatekeeper=settings.gatekeeper, new_reporter=settings.new_reporter, masker=settings.masker,
        from_run=failed_run, write_report=settings.write_report,
    )
    journal = Journal(Path(settings.state_dir) / "runs.db")
    try:
        return rollback_after_failure(
            journal, failed_run, sources.inventory, playbook_path=sources.playbook,
            execute=lambda rollback_plan: execute_plan(rollback_plan, rollback_settings, sources.keyring),
            plan_options=sources.options, keyring=sources.keyring,
        )
    finally:
        journal.close()


def resume(run_ref: str, settings: RunSettings, keyring: Any = None, force: bool = False) -> tuple[str, RunSummary | None]:
    """`cutover resume`: the recorded run planned again from its recorded arguments and continued.

    Returns the run's id and its summary, or None when the run had already succeeded.
    """
    from engine.execute.session import check_resumable
    from engine.journal.store import Journal
    from engine.load.command_values import parse_extra_vars, split_tags

    row = _find_run(settings.state_dir, run_ref, "")
    if row["status"] == "succeeded":
        return row["id"], None
    saved = row["args"] or {}
    from_run = saved.get("from_run")
    protected = recorded_backups(settings.state_dir, from_run) if from_run else frozenset()
    options = PlanOptions(
        limit=saved.get("limit"),
        tags=split_tags(saved.get("tags") or []),
        skip_tags=split_tags(saved.get("skip_tags") or []),
        extra_vars=parse_extra_vars(saved.get("extra_vars") or [], keyring),
        allow_unprotected=bool(saved.get("allow_unprotected", False)),
        prior_resources=protected,
    )
    planned = plan(Sources(row["playbook"], row["inventory"], keyring, options))
    journal = Journal(Path(settings.state_dir) / "runs.db")
    try:
        check_resumable(journal, row["id"], planned, force)
    finally:
        journal.close()
    settings = replace(
        settings, check_mode=bool(saved.get("check")), from_run=from_run,
        allow_unprotected=bool(saved.get("allow_unprotected")),
    )
    return row["id"], execute_plan(planned, settings, keyring, resume_of=row["id"])


def recorded_backups(state_dir: str, run_id: str) -> frozenset[str]:
    """The resources the verified artifacts of a run protect."""
    from engine.journal.store import Journal

    journal = Journal(Path(state_dir) / "runs.db")
    try:
        return frozenset(a.resource for a in journal.artifacts(run_id) if a.verified)
    finally:
        journal.close()


def _find_run(state_dir: str, run_ref: str, prefix: str) -> dict[str, Any]:
    from engine.journal.store import Journal

    journal = Journal(Path(state_dir) / "runs.db")
    try:
        row = journal.find_run(run_ref)
    finally:
        journal.close()
    if row is None:
        raise UserError(f"{prefix}no run {run_ref!r} in {state_dir}/runs.db", hint="`cutover runs` lists them")
    return row
