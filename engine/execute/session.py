"""The execute stage: one run of a plan, from lock to journaled end.

Estate lock, journal, connections, scheduler, signals (Ctrl-C: no new step starts, running ones
finish, resumable). `cutover run` and `cutover resume` both come here through the pipeline
(engine/pipeline/); resume is the same run id continued with the nodes recorded done left out
(and their registered values replayed). The reports are the next stage's.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import secrets as _random
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api.module import Gatekeeper, RunContext, utcnow
from engine.core.errors import RefusedError, UserError
from engine.execute.hosts import HostConnections
from engine.execute.hoststate import HostState
from engine.execute.lock import EstateLock
from engine.execute.options import RunOptions
from engine.execute.runner import NodeRunner
from engine.execute.scheduler import Reporter, RunSummary, Scheduler
from engine.execute.timewindow import zone
from engine.journal.store import Journal
from engine.plan.graph import Plan
from engine.plan.render import plan_to_dict

#: plans larger than this are not copied into the journal (the report then shows no graph)
PLAN_RECORD_LIMIT = 20000


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + _random.token_hex(3)


def operator_name(explicit: str | None = None) -> str:
    return explicit or os.environ.get("CUTOVER_OPERATOR") or getpass.getuser()


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
    #: notes besides the plan's, recorded with the run
    notes: list[str] = field(default_factory=list)


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
    """Connection settings may be templates (`{{ winrm_password }}`) or vault values: resolve them."""
    from dataclasses import replace
    from types import MappingProxyType

    from engine.load.templating import Scope, Templar, has_templates

    def resolve(host: Any) -> Any:
        settings = {**host.settings, "address": host.address}
        if not any(has_templates(v) or type(v).__name__ == "EncryptedValue" for v in settings.values()) and \
                not any(isinstance(v, dict) for v in settings.values()):
            return host
        scope = Scope([plan.extra_vars, dict(host.vars), {"inventory_hostname": host.name}], decrypt)
        rendered = Templar(scope, host.location).render(settings)
        address = str(rendered.pop("address"))
        return replace(host, settings=MappingProxyType(rendered), address=address)

    return resolve


def resolved_databases(plan: Plan, decrypt: Any) -> dict[str, dict[str, Any]]:
    """Database targets with vault values decrypted (in memory only)."""
    from engine.load.templating import Scope, Templar

    scope = Scope([plan.extra_vars, dict(plan.inventory.vars)], decrypt)
    return {name: dict(Templar(scope).render(dict(target))) for name, target in plan.inventory.databases.items()}


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
    decrypt = _decrypt_with(request.keyring, masker)
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
    progress = getattr(request.reporter, "node_progress", None)
    if progress is not None:
        run_ctx.on_progress = lambda node_id, message: progress(node_id, masker.mask_text(str(message)))
    notes = list(plan.notes) + list(request.notes)
    if request.resume_of:
        row = journal.run(run_id)
        earlier = [str(n) for n in (row or {}).get("notes") or []]
        notes = earlier + [n for n in notes if n not in earlier]  # a resume keeps what was noted before
        journal.update_run(run_id, status="running", resumes=(row or {}).get("resumes", 0) + 1, ended=None)
        for art in journal.artifacts(run_id):
            run_ctx.artifacts.setdefault(art.resource, []).append(art)
    else:
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
    from engine.journal.attempts import attempt_ended, attempt_started

    attempt_started(journal, run_id, operator=operator, controller=socket.gethostname(), pid=os.getpid(),
                    resumed=bool(request.resume_of))
    states = {name: HostState() for name in plan.inventory.hosts}
    connections = HostConnections(dict(plan.inventory.hosts), state_dir, resolve=_settings_resolver(plan, decrypt),
                                  add_secret=masker.add)
    runner = NodeRunner(plan, run_ctx, connections, ModuleRegistry([Path(plan.playbook.path).parent / "library"]),
                        states, decrypt, masker)
    scheduler = Scheduler(plan, runner, journal, run_id, request.forks, request.reporter,
                          timezone=zone(plan.inventory.timezone))
    if request.resume_of:
        scheduler.restore(journal.done_nodes(run_id))

    def on_signal(signum: int, frame: Any) -> None:
        if run_ctx.interrupted.is_set():
            connections.interrupt_all()
            return
        run_ctx.interrupted.set()
        scheduler.interrupt()
        if request.reporter is not None:
            request.reporter.message("interrupt: no new step starts; running steps finish "
                                     "(press Ctrl-C again to stop them)")

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (tests drive runs from threads)
            pass
    try:
        summary = scheduler.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        connections.close_all()
        lock.release()
    journal.update_run(run_id, status=summary.status, ended=utcnow(),
                       notes=notes + ([f"stopped: {summary.reason}"] if summary.reason else []))
    attempt_ended(journal, run_id, status=summary.status, reason=summary.reason)
    journal.close()
    return summary


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
