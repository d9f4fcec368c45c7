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
    Loaded,
    RunSettings,
    Sources,
    execute_plan,
    load_sources,
    make_plan,
    play_hosts,
    start_connections,
    validate_plan,
)
from engine.plan.builder import PlanOptions
from engine.plan.graph import Plan

if TYPE_CHECKING:  # the executor is imported only by the commands that run something
    from engine.execute.hosts import StartedConnections
    from engine.execute.scheduler import RunSummary


def plan(sources: Sources, state_dir: str | None = None) -> Plan:
    """`cutover plan`: load, plan."""
    return _planned(load_sources(sources), state_dir)


def validate(sources: Sources, state_dir: str | None = None) -> Plan:
    """`cutover validate`: load, plan, check the finished plan."""
    loaded = load_sources(sources)
    planned = _planned(loaded, state_dir)
    validate_plan(loaded, planned)
    return planned


def _planned(loaded: Loaded, state_dir: str | None) -> Plan:
    """The plan; a rollback playbook planned without `--from-run` is told so once, with the
    runs it could restore from (engine/pipeline/from_run.py), not once per destructive step."""
    try:
        return make_plan(loaded)
    except UserError as err:
        options = loaded.sources.options
        if options.prior_resources or options.allow_unprotected:
            raise
        from engine.pipeline.from_run import (
            NO_BACKUP_REFUSAL,
            explain_missing_from_run,
            is_rollback_playbook,
            takes_backups,
        )

        if not is_rollback_playbook(loaded.playbook.path) or not all(NO_BACKUP_REFUSAL in p.message
                                                                      for p in err.problems):
            raise
        unguarded = make_plan(replace(loaded, sources=replace(loaded.sources, options=replace(
            options, allow_unprotected=True))))
        better = explain_missing_from_run(err, takes_backups(unguarded, loaded.registry), state_dir,
                                          loaded.inventory.name)
        if better is None:
            raise
        raise better from None


def run(sources: Sources, settings: RunSettings) -> RunSummary:
    """`cutover run`: load, plan, execute (journaled), report; then roll back if asked and needed.

    The plays' hosts are connected to as soon as the files are loaded, while the run plans
    (`start_connections`); whatever no step took is closed when the run ends, however it ends.
    """
    sources, settings = with_from_run(sources, settings)
    planned, started = plan_connecting(sources, every_host=not settings.check_mode)
    try:
        return run_planned(planned, sources, replace(settings, started=started))
    finally:
        started.close_all()


def plan_connecting(
    sources: Sources, state_dir: str | None = None, every_host: bool = False
) -> tuple[Plan, StartedConnections]:
    """`plan`, with the run's hosts connected to while it loads and plans (stages.py
    `start_connections`): the ssh handshakes and the helpers' starts run in other processes
    meanwhile. With `every_host` (a run that takes the estate's markers on all of them) they
    start as soon as the inventory is read, before the playbook is loaded; else (a check run)
    those the plays name start once the playbook is. The caller hands the started connections
    to the run (`RunSettings.started`) and closes them when it ends; a load or a plan that fails
    closes them here."""
    from engine.execute.hosts import StartedConnections

    started = StartedConnections()
    try:
        if every_host:
            loaded = load_sources(sources, lambda inventory: start_connections(inventory, inventory.hosts, started))
        else:
            loaded = load_sources(sources)
            start_connections(loaded.inventory, play_hosts(loaded), started)
        return _planned(loaded, state_dir), started
    except BaseException:
        started.close_all()
        raise


def with_from_run(sources: Sources, settings: RunSettings) -> tuple[Sources, RunSettings]:
    """`--from-run RUN` (an id, a prefix, or `last`) resolved to the run's full id, and its verified
    backups given to the planner."""
    from engine.pipeline.from_run import resolve_from_run

    if not settings.from_run:
        return sources, settings
    estate = _estate_of(sources) if settings.from_run == "last" else None
    from_run = resolve_from_run(settings.state_dir, settings.from_run, estate)
    settings = replace(settings, from_run=from_run, recorded_args={**settings.recorded_args, "from_run": from_run})
    protected = recorded_backups(settings.state_dir, from_run)
    return replace(sources, options=replace(sources.options, prior_resources=protected)), settings


def as_rollback(planned: Plan, settings: RunSettings) -> RunSettings:
    """A plan that restores from `--from-run` is a rollback run: recorded as such, and refused when
    that run was already rolled back (unless `--rollback-again`, which the journal then notes)."""
    from engine.api.registry import ModuleRegistry
    from engine.pipeline.from_run import ROLLBACK_KIND, check_not_rolled_back, restores

    if not settings.from_run or settings.check_mode:
        return settings
    if not restores(planned, ModuleRegistry([Path(planned.playbook.path).parent / "library"])):
        return settings
    chosen = check_not_rolled_back(settings.state_dir, settings.from_run, again=settings.rollback_again)
    return replace(settings, kind=ROLLBACK_KIND, notes=[*settings.notes, *chosen.notes])


def _estate_of(sources: Sources) -> str:
    from engine.load.inventory import load_inventory

    return load_inventory(sources.inventory, sources.keyring, playbook_dir=Path(sources.playbook).parent).name


def run_planned(planned: Plan, sources: Sources, settings: RunSettings) -> RunSummary:
    """Execute a plan made by `plan(sources)`; then roll back if asked and needed."""
    summary = execute_plan(planned, as_rollback(planned, settings), sources.keyring)
    if settings.started is not None:  # the rollback below opens its own
        settings.started.close_all()
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
        from_run=failed_run, write_report=settings.write_report, kind="rollback",
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
    from engine.pipeline.from_run import lookup_run

    journal = Journal(Path(state_dir) / "runs.db")
    try:
        return lookup_run(journal, run_ref, prefix)
    finally:
        journal.close()
