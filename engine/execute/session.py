"""The execute stage: one run of a plan, from lock to journaled end.

Estate lock, journal, connections, scheduler, signals (Ctrl-C: no new step starts, running ones
finish, resumable). `cutover run` and `cutover resume` both come here through the pipeline
(engine/pipeline/); resume is the same run id continued with the nodes recorded done left out
(and their registered values replayed). The reports are the next stage's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets as _random
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api.module import Gatekeeper, RunContext, utcnow
from engine.core.errors import CutoverError, RefusedError, UserError
from engine.execute.estate_markers import EstateMarkers, gone_here
from engine.execute.hosts import HostConnections, StartedConnections
from engine.execute.hoststate import HostState
from engine.execute.lock import EstateLock
from engine.execute.operator import operator_name
from engine.execute.options import RunOptions
from engine.execute.runner import NodeRunner
from engine.execute.scheduler import Reporter, RunSummary, Scheduler
from engine.execute.timewindow import day_note, recorded_day, run_day, zone
from engine.journal.store import Journal
from engine.plan.graph import Plan
from engine.plan.render import plan_to_dict

#: plans larger than this are not copied into the journal (the report then shows no graph)
PLAN_RECORD_LIMIT = 20000


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + _random.token_hex(3)


@dataclass(kw_only=True)
class RunRequest(RunOptions):
    """One run of one plan."""

    plan: Plan
    reporter: Reporter | None = None
    keyring: Any = None
    masker: Any = None
    args: dict[str, Any] = field(default_factory=dict)
    resume_of: str | None = None
    #: what the journal calls the run; None: `check` or `run` (the pipeline says `rollback`)
    kind: str | None = None
    #: connections begun while the run planned (engine/pipeline/stages.py `start_connections`)
    started: StartedConnections | None = None
    #: notes besides the plan's, recorded with the run
    notes: list[str] = field(default_factory=list)


def decrypt_with(keyring: Any, masker: Any) -> Any:
    """Vault values decrypted with `keyring`, each told to `masker` (the run's or the probe's)."""
    return _decrypt_with(keyring, masker)


def _decrypt_with(keyring: Any, masker: Any) -> Any:
    cache: dict[str, str] = {}

    def decrypt(value: Any) -> str:
        text = cache.get(value.ciphertext)
        if text is None:
            if keyring is None:
                raise UserError("a vault value needs a vault password", value.location,
                                hint="pass --vault-id or set CUTOVER_VAULT_PASSWORD_FILE")
            text = value.decrypt(keyring)
            cache[value.ciphertext] = text
            masker.add(text)
        return text

    return decrypt


def _settings_resolver(plan: Plan, decrypt: Any) -> Any:
    from engine.load.host_settings import settings_resolver

    return settings_resolver(plan.extra_vars, decrypt)


def resolved_databases(plan: Plan, decrypt: Any) -> dict[str, dict[str, Any]]:
    """Database targets with vault values decrypted (in memory only)."""
    return databases_of(plan.inventory, plan.extra_vars, decrypt)


def databases_of(inventory: Any, extra_vars: Any, decrypt: Any) -> dict[str, dict[str, Any]]:
    """An inventory's database targets with templates rendered and vault values decrypted."""
    from engine.load.templating import Scope, Templar

    scope = Scope([extra_vars, dict(inventory.vars)], decrypt)
    return {name: dict(Templar(scope).render(dict(target))) for name, target in inventory.databases.items()}


def _backups_checked(from_run: str, prior: dict[str, list[Any]], plan: Plan, state_dir: str,
                     decrypt: Any, masker: Any) -> int:
    """engine/execute/rollback_check.py over the backups of `from_run`, each read from where it is restored."""
    from engine.api.primitives import Remote
    from engine.execute.rollback_check import refuse_unless_whole

    hosts = {node.host for node in plan.nodes.values() if getattr(node, "host", None)}
    connections = HostConnections(dict(plan.inventory.hosts), state_dir, resolve=_settings_resolver(plan, decrypt),
                                  add_secret=masker.add)
    try:
        artifacts = [art for arts in prior.values() for art in arts]
        return refuse_unless_whole(from_run, artifacts, hosts, lambda name: Remote(connections.get(name)))
    finally:
        connections.close_all()


def execute_run(request: RunRequest) -> RunSummary:
    """Run (or continue) a plan; returns the summary (the caller tells the reporter the run ended,
    after the reports). Raises RefusedError if the estate is locked."""
    from engine.api.registry import ModuleRegistry
    from engine.core.secrets import Masker

    plan = request.plan
    masker = request.masker if request.masker is not None else Masker()  # an empty one is still the one
    operator = operator_name(request.operator)
    state_dir = request.state_dir
    journal = Journal(Path(state_dir) / "runs.db", masker)
    run_id = request.resume_of or new_run_id()
    lock = EstateLock(state_dir, plan.inventory.name)
    lock.acquire(run_id, operator)
    try:
        over = None if request.resume_of else interrupted_run_under(journal, plan.inventory.name, request)
    except BaseException:
        lock.release()
        raise
    decrypt = _decrypt_with(request.keyring, masker)
    connections = HostConnections(dict(plan.inventory.hosts), state_dir, resolve=_settings_resolver(plan, decrypt),
                                  add_secret=masker.add, started=request.started)
    markers = EstateMarkers(plan.inventory, connections, run_id, operator, say=_teller(request.reporter),
                            gone=gone_here(lambda other: other != run_id and journal.run(other) is not None),
                            databases=resolved_databases(plan, decrypt) if not request.check_mode else {})
    if not request.check_mode:  # a check run writes nothing on the hosts, a marker neither
        try:
            markers.take()
        except BaseException:
            connections.close_all()
            lock.release()
            raise
    prior: dict[str, list[Any]] = {}
    if request.from_run:
        for art in journal.artifacts(request.from_run):
            prior.setdefault(art.resource, []).append(art)
    run_ctx = RunContext(
        run_id=run_id, operator=operator, check_mode=request.check_mode, diff_mode=request.diff_mode,
        gatekeeper=request.gatekeeper or Gatekeeper(), prior_artifacts=prior,
        databases=resolved_databases(plan, decrypt), inventory=plan.inventory, add_secret=masker.add,
        state_dir=state_dir, allow_unprotected=request.allow_unprotected,
    )
    if request.from_run and not request.check_mode:
        try:
            checked = _backups_checked(request.from_run, prior, plan, state_dir, decrypt, masker)
        except BaseException:
            markers.release()
            connections.close_all()
            lock.release()
            journal.close()
            raise
    progress = getattr(request.reporter, "node_progress", None)
    if progress is not None:
        run_ctx.on_progress = lambda node_id, message: progress(node_id, masker.mask_text(str(message)))
    notes = list(plan.notes) + list(request.notes) + markers.notes
    noted = len(markers.notes)
    from engine.connect.winrm_settings import insecure_notes

    planned = sorted({h for hosts in plan.play_hosts.values() for h in hosts if h in plan.inventory.hosts})
    for warning in insecure_notes(plan.inventory.hosts[h] for h in planned):
        notes.append(warning)  # journaled, so the report shows it; and said now, at every run
        if request.reporter is not None:
            request.reporter.message(warning)
    if request.from_run and not request.check_mode:
        notes.append(f"{checked} backup(s) of run {request.from_run} checked (size, sha256, readable) "
                     "before the first step")
    if over is not None:
        notes.append(f"started anew (--start-anew) over run {over['id']}, which was left {over['status']}")
    tz = zone(plan.inventory.timezone)
    day = run_day(tz)
    if request.resume_of:
        row = journal.run(run_id)
        earlier = [str(n) for n in (row or {}).get("notes") or []]
        day = recorded_day(earlier) or _started_day(row, tz) or day  # the day it started, not today
        notes = earlier + [n for n in notes if n not in earlier]  # a resume keeps what was noted before
        journal.update_run(run_id, status="running", resumes=(row or {}).get("resumes", 0) + 1, ended=None)
        for art in journal.artifacts(run_id):
            run_ctx.artifacts.setdefault(art.resource, []).append(art)
    else:
        notes.insert(0, day_note(day, plan.inventory.timezone, _zone_source(plan.inventory)))
        journal.start_run(
            run_id, playbook=plan.playbook.path, inventory=plan.inventory.path, estate=plan.inventory.name,
            playbook_hash=plan.playbook.content_hash, inventory_hash=plan.inventory.content_hash,
            operator=operator, controller=socket.gethostname(), pid=os.getpid(), args=request.args,
            check_mode=int(request.check_mode), parent_run=request.from_run,
            kind="check" if request.check_mode else (request.kind or "run"), notes=notes,
            plan=plan_to_dict(plan) if len(plan.nodes) <= PLAN_RECORD_LIMIT else None,
            simulated=int(plan.simulated),
            allow_unprotected=int(request.allow_unprotected),
        )
    run_ctx.run_day = day.isoformat()
    if request.from_run:
        earlier_run = journal.run(request.from_run) or {}
        found = recorded_day(earlier_run.get("notes") or []) or _started_day(earlier_run, tz)
        run_ctx.from_run_day = found.isoformat() if found else ""
    from engine.journal.attempts import attempt_ended, attempt_started

    attempt_started(journal, run_id, operator=operator, controller=socket.gethostname(), pid=os.getpid(),
                    resumed=bool(request.resume_of))
    states = {name: HostState() for name in plan.inventory.hosts}
    runner = NodeRunner(plan, run_ctx, connections, ModuleRegistry([Path(plan.playbook.path).parent / "library"]),
                        states, decrypt, masker)
    reporter = PipeSafeReporter(request.reporter) if request.reporter is not None else None
    scheduler = Scheduler(plan, runner, journal, run_id, request.forks, reporter, timezone=tz, day=day,
                          opening=None if request.resume_of else notes[0])
    if request.resume_of:
        scheduler.restore(journal.done_nodes(run_id))

    def stop(why: str) -> None:
        """An interrupt: no new step starts, running ones finish; the run ends `interrupted`, resumable."""
        run_ctx.interrupted.set()
        scheduler.interrupt()
        stopped.append(why)

    stopped: list[str] = []
    if reporter is not None:
        reporter.on_closed = lambda: stop("the output was closed (broken pipe): interrupted")

    def on_signal(signum: int, frame: Any) -> None:
        if run_ctx.interrupted.is_set():
            connections.interrupt_all()
            return
        if signum == signal.SIGHUP:
            stop("the terminal hung up (SIGHUP): interrupted")
            return
        run_ctx.interrupted.set()
        scheduler.interrupt()
        if reporter is not None:
            reporter.message("interrupt: no new step starts; running steps finish "
                             "(press Ctrl-C again to stop them)")

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
                continue  # started under nohup: a hang-up is meant to be ignored
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (tests drive runs from threads)
            pass
    try:
        summary = scheduler.run()
    except BaseException as err:  # recorded, never left `running`: resume takes it up
        markers.release()
        with contextlib.suppress(CutoverError):  # a journal that cannot be written (full disk) says so itself
            journal.update_run(run_id, status="interrupted", ended=utcnow(),
                               notes=notes + stopped + markers.notes[noted:]
                               + [f"stopped: {type(err).__name__}: {err}"])
        journal.close()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        markers.release()
        connections.close_all()
        lock.release()
    lost = markers.notes[noted:]  # markers removed under the run, or left behind by its end
    journal.update_run(run_id, status=summary.status, ended=utcnow(),
                       notes=notes + stopped + lost + ([f"stopped: {summary.reason}"] if summary.reason else []))
    attempt_ended(journal, run_id, status=summary.status, reason=summary.reason)
    journal.close()
    return summary


def _teller(reporter: Reporter | None) -> Any:
    """`reporter.message`, minus a closed output (the heartbeat thread must not die of it)."""

    def say(text: str) -> None:
        if reporter is not None:
            with contextlib.suppress(OSError):
                reporter.message(text)

    return say


def _started_day(row: dict[str, Any] | None, tz: dt.tzinfo) -> dt.date | None:
    """The day (estate zone) a run recorded before run days were noted started on."""
    try:
        return dt.datetime.fromisoformat(str((row or {}).get("started"))).astimezone(tz).date()
    except ValueError:
        return None


def _zone_source(inventory: Any) -> str:
    """Where the estate's zone came from, said with the run's day (a default is said, not assumed)."""
    source = inventory.source if isinstance(inventory.source, dict) else {}
    if source.get("timezone"):
        return "the inventory's timezone"
    if os.environ.get("CUTOVER_TIMEZONE"):
        return "cutover.toml / CUTOVER_TIMEZONE"
    return "the controller's zone: the inventory sets no timezone"


#: statuses a run ends with when it did not end: `running` in the journal with its lock free is a killed run
UNFINISHED = ("interrupted", "running")


def interrupted_run_under(journal: Journal, estate: str, request: RunRequest) -> dict[str, Any] | None:
    """The estate's last run when it did not finish; RefusedError unless --start-anew (or harmless).

    A fresh run over a half-upgraded estate would take new backups of it, and a later
    `--from-run last` would restore those. Called with the estate lock held, so a run still marked
    `running` is one whose process is gone. A check run changes nothing, and a run that names the
    interrupted one with `--from-run` (its rollback) is what the operator needs: both may start.
    """
    runs = journal.runs(limit=200)
    last = next((r for r in runs if r.get("estate") == estate and r.get("kind") not in ("check", "unlock")), None)
    if last is None or last.get("status") not in UNFINISHED:
        return None
    if request.check_mode or request.from_run == last["id"]:
        return None
    if request.start_anew:
        return last
    raise RefusedError(
        f"estate {estate}: its last run {last['id']} (started {last.get('started')} by "
        f"{last.get('operator')}) was left {last['status']}; a fresh run would back up a half-changed "
        f"estate. Continue it: cutover resume {last['id']}  (or roll it back with --from-run "
        f"{last['id']}; or start anew, recorded: add --start-anew)"
    )


class PipeSafeReporter(Reporter):
    """The run's reporter, minus what a closed output does to it.

    `cutover run ... | head` or a terminal gone: the next write raises BrokenPipeError (Python
    ignores SIGPIPE) or EIO. The run must not die half-journaled on it: the first such error sends
    stdout and stderr to /dev/null, calls `on_closed` (the session interrupts the run: running
    steps finish, the run ends `interrupted` and resumable) and mutes the reporter.
    """

    def __init__(self, inner: Reporter):
        self.inner = inner
        self.closed = False
        self.on_closed: Any = lambda: None

    def _say(self, method: str, *args: Any) -> Any:
        if self.closed:
            return None
        try:
            return getattr(self.inner, method)(*args)
        except OSError:  # BrokenPipeError, EIO from a terminal that hung up
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    os.dup2(devnull, stream.fileno())
            os.close(devnull)
            self.on_closed()
            return None

    def run_started(self, plan: Plan, run_id: str) -> None:
        self._say("run_started", plan, run_id)

    def node_started(self, node: Any) -> None:
        self._say("node_started", node)

    def node_ended(self, node: Any, outcome: Any) -> None:
        self._say("node_ended", node, outcome)

    def message(self, text: str) -> None:
        self._say("message", text)

    def run_ended(self, summary: RunSummary) -> None:
        self._say("run_ended", summary)

    def may_start(self, node: Any) -> bool:
        answer = self._say("may_start", node)
        return True if self.closed else bool(answer)

    def __getattr__(self, name: str) -> Any:  # anything else the console offers
        return getattr(self.inner, name)


def check_resumable(journal: Journal, run_id: str, plan: Plan, force: bool) -> None:
    row = journal.run(run_id)
    if row is None:
        raise UserError(f"no run {run_id!r} in the journal")
    changed = []
    if row["playbook_hash"] != plan.playbook.content_hash:
        changed.append("the playbook (or a file it imports)")
    if row["inventory_hash"] != plan.inventory.content_hash:
        changed.append("the inventory")
    if changed and not force:
        raise RefusedError(f"run {run_id}: {' and '.join(changed)} changed since the run started; "
                           "resume --force continues anyway with the new content")
