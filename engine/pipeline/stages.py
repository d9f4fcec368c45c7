"""The stages of cutover, in the order a run goes through them; each a function of the one before.

1. `load_sources`: the playbook and the inventory, with everything they import, checked against
   their schemas, the modules' argument schemas and the products' estate rules (engine/load/).
2. `make_plan`: the graph of steps and the policies that order or refuse it (engine/plan/).
3. `validate_plan`: the static checks of the finished plan (variables, templates, platforms:
   engine/validate/), for `cutover validate`; a run leaves them to the steps that need the values.
4. `execute_plan`: the run itself, under the estate lock, journaled step by step (engine/execute/,
   engine/journal/).
5. `write_reports`: HTML, JSON and JUnit of the run, from its journal (engine/report/).

Every stage raises one UserError listing every problem it found, or hands its result on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.api.registry import ModuleRegistry
from engine.core.errors import Problem, UserError
from engine.core.model import Inventory, Playbook
from engine.execute.options import RunOptions
from engine.plan.builder import PlanOptions
from engine.plan.graph import Plan

if TYPE_CHECKING:  # the executor is imported only by the commands that run something
    from engine.execute.hosts import StartedConnections
    from engine.execute.scheduler import Reporter, RunSummary


@dataclass(frozen=True)
class Sources:
    """What a command names: the two files, the vault keys to read them, and the plan's options."""

    playbook: str
    inventory: str
    keyring: Any = None
    options: PlanOptions = field(default_factory=PlanOptions)
    #: `--start-at-task NAME`: the tasks before it are left out (engine/plan/start_at.py)
    start_at_task: str | None = None


@dataclass(frozen=True)
class Loaded:
    """The loaded files, with the modules the playbook may call (its `library/` first)."""

    sources: Sources
    playbook: Playbook
    inventory: Inventory
    registry: ModuleRegistry


@dataclass(kw_only=True)
class RunSettings(RunOptions):
    """How to run a plan: everything a run needs besides the plan (the CLI fills it from its flags)."""

    #: a reporter for each run (a rollback after a failure is a run of its own)
    new_reporter: Any = None
    masker: Any = None
    write_report: bool = True
    #: `stop`, or `rollback`: a failed run is rolled back at once (engine/pipeline/on_failure.py)
    on_failure: str = "stop"
    #: the command's own arguments, kept in the journal (resume reads them back)
    recorded_args: dict[str, Any] = field(default_factory=dict)
    #: what the journal calls the run (`rollback` for one restoring from --from-run; default run/check)
    kind: str | None = None
    #: notes for the journal and report besides the plan's (e.g. `--rollback-again`)
    notes: list[str] = field(default_factory=list)
    #: `--rollback-again`: restore from a run an earlier rollback already restored from
    rollback_again: bool = False
    #: the connections `start_connections` began while the run planned (the run's pool takes them)
    started: StartedConnections | None = None


# --- 1. load -----------------------------------------------------------------------------------


def load_sources(sources: Sources, on_inventory: Callable[[Inventory], None] | None = None) -> Loaded:
    """The playbook and the inventory; the problems of both at once. `on_inventory` is told the
    inventory as soon as it is loaded, before the playbook is (a run starts its connections)."""
    from engine.load.inventory import load_inventory
    from engine.load.playbook import load_playbook

    registry = ModuleRegistry([Path(sources.playbook).parent / "library"])
    if not Path(sources.playbook).is_file():
        raise UserError(f"playbook not found: {sources.playbook}")
    problems: list[Problem] = []
    inventory = playbook = None
    try:
        inventory = load_inventory(sources.inventory, sources.keyring, playbook_dir=Path(sources.playbook).parent)
    except UserError as err:
        problems.extend(err.problems)
    if inventory is not None and on_inventory is not None:
        on_inventory(inventory)
    try:
        playbook = load_playbook(sources.playbook, registry, keyring=sources.keyring)
        if sources.start_at_task:
            from engine.plan.start_at import start_at_task

            playbook = start_at_task(playbook, sources.start_at_task)
    except UserError as err:
        problems.extend(err.problems)
    if problems:
        raise UserError.many(problems)
    assert playbook is not None and inventory is not None
    return Loaded(sources, playbook, inventory, registry)


def play_hosts(loaded: Loaded) -> set[str]:
    """The hosts the plays' patterns (and `--limit`) name plainly; none when a pattern is unclear
    here (a template, a typo): the planner reports those in its own words."""
    from engine.plan.patterns import match_hosts

    inventory = loaded.inventory
    try:
        names: set[str] = set()
        for play in loaded.playbook.plays:
            if "{{" not in str(play.hosts) and "{%" not in str(play.hosts):
                names.update(match_hosts(play.hosts, inventory))
        if loaded.sources.options.limit is not None:
            names &= set(match_hosts(loaded.sources.options.limit, inventory))
    except UserError:
        return set()
    return names


def start_connections(inventory: Inventory, names: Iterable[str], started: StartedConnections) -> None:
    """Begin connecting to these hosts of the inventory (`HelperConnection.start`), so that the
    run's loading, planning, the executor's imports and the journal's set-up go on while the
    SSH handshakes and the helpers' starts do; each is added to `started`, which the run's pool
    takes them from and whose `close_all` releases those no step took.

    Only hosts whose connection can start early (the helper's: `local` and `ssh`) and whose
    settings need no template or vault value (the pool resolves those first, with the run's
    extra vars and vault). A host whose settings or connection are wrong is left alone: the pool
    opens it later and says what is wrong in its usual words.
    """
    from engine.connect import connection_class
    from engine.load.host_settings import settings_resolver

    plain = settings_resolver({}, None)  # renders what needs no value; raises (no vault) on the rest
    wanted = set(names)
    for name in [n for n in inventory.hosts if n in wanted]:  # inventory order
        host = inventory.hosts[name]
        try:
            if plain(host) != host or not hasattr(connection_class(host), "start"):
                continue
            conn = connection_class(host)(host)
            conn.start()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - the pool opens it later and says what is wrong
            continue
        started.add(name, conn)


# --- 2. plan -----------------------------------------------------------------------------------


def make_plan(loaded: Loaded) -> Plan:
    from engine.plan.builder import build_plan

    return build_plan(loaded.playbook, loaded.inventory, loaded.sources.options, loaded.registry)


# --- 3. validate -------------------------------------------------------------------------------


def validate_plan(loaded: Loaded, plan: Plan) -> None:
    """The plan's static problems and the inventory's (connection settings, vault values), at once."""
    from engine.validate.inventory_checks import inventory_problems
    from engine.validate.static_checks import in_file_order, plan_problems

    problems, notes = inventory_problems(
        plan.inventory, loaded.sources.keyring, plan.extra_vars, loaded.playbook.plays
    )
    problems = in_file_order([*problems, *plan_problems(plan, loaded.registry)])
    if problems:
        raise UserError.many(problems)
    plan.notes.extend(note for note in notes if note not in plan.notes)


# --- 4. execute (journaled) --------------------------------------------------------------------


def execute_plan(
    plan: Plan, settings: RunSettings, keyring: Any = None, resume_of: str | None = None
) -> RunSummary:
    """Run (or continue) a plan, then write its reports; RefusedError when the estate is locked.
    `keyring` decrypts the vault values the steps use (in memory only)."""
    from engine.connect import check_available
    from engine.core.secrets import Masker
    from engine.execute.session import RunRequest, execute_run

    check_available(plan.inventory.hosts[name] for name in sorted({n.host for n in plan.nodes.values() if n.host}))
    masker = settings.masker if settings.masker is not None else Masker()
    for host in plan.inventory.hosts.values():
        password = host.settings.get("password")
        if isinstance(password, str) and password:
            masker.add(password)
    reporter = settings.new_reporter() if settings.new_reporter is not None else None
    if settings.write_report:
        _load_report_renderers()
    summary = execute_run(
        RunRequest(
            plan=plan, **settings.run_options(), reporter=reporter, keyring=keyring, masker=masker,
            args=settings.recorded_args, resume_of=resume_of, kind=settings.kind, notes=list(settings.notes),
            started=settings.started,
        )
    )
    if settings.write_report:
        write_reports(summary.run_id, settings.state_dir, reporter, masker, keep_earlier=resume_of is not None)
    if reporter is not None:
        reporter.run_ended(summary)
        tell_run_end(summary, settings, reporter, masker)
    return summary


def _load_report_renderers() -> None:
    """Import the report's renderers (jinja2 with the HTML template's module, ~0.05-0.1 s) in a
    thread while the run goes: the run's main thread spends that time waiting for its hosts, and
    the reports at the end then only render. The import system's module locks make the report
    stage wait for an import still under way; an import that fails here fails there again, where
    the report stage says so."""
    import threading

    def load() -> None:
        import importlib

        for name in ("engine.report.html_render", "engine.report.junit", "engine.report.document"):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - write_reports imports it again and tells why it cannot
                return

    threading.Thread(target=load, name="report-imports", daemon=True).start()


def tell_run_end(summary: RunSummary, settings: RunSettings, reporter: Reporter, masker: Any) -> None:
    """Findings, and after a failure the estate's state and the resume/rollback commands
    (engine/pipeline/run_end.py), after the run's summary."""
    from engine.pipeline.run_end import run_end
    from engine.report import reports_root

    report = reports_root(settings.state_dir) / summary.run_id / "report.html" if settings.write_report else None
    end = run_end(settings.state_dir, summary.run_id, summary.status, report, masker)
    epilogue = getattr(reporter, "epilogue", None)
    if epilogue is not None:
        epilogue(end.lines)
    else:
        for line in end.lines:
            reporter.message(line)


# --- 5. report ---------------------------------------------------------------------------------


def write_reports(run_id: str, state_dir: str, reporter: Reporter | None, masker: Any,
                  keep_earlier: bool = False) -> None:
    """The run's HTML/JSON/JUnit (a resumed run keeps its earlier attempt's under attempt-N/);
    a report problem never undoes a journaled run."""
    from engine.journal.store import Journal
    from engine.report import reports_root, write_run_reports

    journal = Journal(Path(state_dir) / "runs.db", masker)
    try:
        paths = write_run_reports(journal, run_id, reports_root(state_dir) / run_id, masker=masker,
                                  state_dir=str(state_dir), keep_earlier=keep_earlier)
    except Exception as err:  # noqa: BLE001 - the run is recorded; say why the report is missing
        if reporter is not None:
            reporter.message(f"the report could not be written ({type(err).__name__}: {err}); "
                             f"`cutover report {run_id}` tries again")
        return
    finally:
        journal.close()
    if reporter is not None and paths:
        reporter.message(f"report: {paths[0]}")
