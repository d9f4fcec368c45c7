"""What a `cutover worker` does: run the estates it is handed, and keep the campaigns moving.

The task (`cutover.estate CAMPAIGN ESTATE`) is idempotent: it runs the estate only when the
estate still needs it, its window is open, and this worker got the estate's lease; otherwise it
returns at once. So a redelivered, duplicated or stale message is harmless.

The tick runs in every worker (one at a time, by a PostgreSQL advisory lock), every
`tick_seconds` and whenever an estate ends. It applies the campaign's rules to the estates'
rows (engine.campaign.policy): queues the estates whose window is open while a slot is free,
marks missed and skipped ones, sends again an estate whose message the broker lost (queued for
longer than `requeue_after`) and an estate whose worker died (running, lease expired). The
truth is in PostgreSQL; the broker only carries the news, so a broker restart loses nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api.module import utcnow
from engine.campaign import leases
from engine.campaign.celery_app import TASK, make_app, send
from engine.campaign.estate_run import run_estate
from engine.campaign.local_pool import job_for
from engine.campaign.model import BackendSettings
from engine.campaign.policy import decide, finished, moment
from engine.campaign.store import CampaignStore
from engine.journal.backends import JOURNAL_URL_ENV
from engine.journal.store import Journal

log = logging.getLogger("cutover.worker")
#: key of the session-level advisory lock that keeps ticks one at a time over the fleet
TICK_LOCK = 0x637574_7469636B  # "cuttick"


def _age(text: str | None, now: dt.datetime) -> float:
    return float("inf") if not text else (now - moment(text)).total_seconds()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def tick(journal: Journal, dispatch: Callable[[str, str], bool]) -> None:
    """One pass over every active celery campaign (skipped when another worker is ticking)."""
    if not journal.query("SELECT pg_try_advisory_lock(?) AS got", (TICK_LOCK,))[0]["got"]:
        return
    try:
        store = CampaignStore(journal)
        for campaign in store.campaigns(active_only=True):
            if campaign["backend"] == "celery":
                _tick_campaign(journal, store, campaign, dispatch)
    finally:
        journal.query("SELECT pg_advisory_unlock(?)", (TICK_LOCK,))


def _tick_campaign(journal: Journal, store: CampaignStore, campaign: dict[str, Any],
                   dispatch: Callable[[str, str], bool]) -> None:
    name = campaign["name"]
    settings = json.loads(campaign["settings"] or "{}")
    now = _now()
    rows = store.estates(name)
    held = leases.live(journal)

    def resend(row: dict[str, Any], why: str) -> None:
        store.note(name, row["estate"], dispatched_at=utcnow(), dispatches=(row["dispatches"] or 0) + 1)
        log.info("campaign %s: %s: sent again (%s)", name, row["estate"], why)
        dispatch(name, row["estate"])

    for row in rows:
        if row["state"] == "running" and row["estate"] not in held \
                and _age(row["dispatched_at"], now) > settings.get("lease_seconds", 120):
            resend(row, "its worker stopped renewing the lease")
        elif row["state"] == "queued" and _age(row["dispatched_at"], now) > settings.get("requeue_after", 600):
            resend(row, "not started since it was sent")
    decision = decide(rows, campaign["concurrency"] or 1, campaign["stop_after_failures"], now)
    for estate in decision.missed:
        store.move(name, estate, "missed", ("pending",), ended_at=utcnow(),
                   reason="its window closed before it could start")
    for estate in decision.skipped:
        store.move(name, estate, "skipped", ("pending",), ended_at=utcnow(), reason=decision.stop_reason)
    for estate in decision.start:
        if store.move(name, estate, "queued", ("pending",), dispatched_at=utcnow(), dispatches=1, reason=None):
            dispatch(name, estate)
    if finished(store.estates(name)):
        store.set_campaign(name, state="finished")


class WorkerContext:
    """What every task of this worker needs (set in the worker's main process, inherited by its pool)."""

    def __init__(self, journal_url: str, state_dir: str, settings: BackendSettings):
        self.journal_url = journal_url
        self.state_dir = str(Path(state_dir).resolve())
        self.settings = settings
        self.app: Any = None

    def journal(self) -> Journal:
        return Journal(Path(self.state_dir) / "runs.db", url=self.journal_url)

    def dispatch(self, campaign: str, estate: str) -> bool:
        return send(self.app, self.settings.queue, campaign, estate)


def run_campaign_estate(ctx: WorkerContext, campaign: str, estate: str, worker: str) -> str:
    """The task: run or resume one estate if it is still owed and this worker gets its lease."""
    journal = ctx.journal()
    try:
        return _run_owned(ctx, journal, campaign, estate, worker)
    finally:
        try:
            tick(journal, ctx.dispatch)  # the next estate need not wait for the timer
        finally:
            journal.close()


def _run_owned(ctx: WorkerContext, journal: Journal, name: str, estate: str, worker: str) -> str:
    store = CampaignStore(journal)
    campaign, row = store.campaign(name), store.estate(name, estate)
    if campaign is None or row is None or row["state"] not in ("queued", "running"):
        return f"{name}/{estate}: nothing to do ({row['state'] if row else 'unknown'})"
    now = _now()
    if now < moment(row["window_start"]):
        store.move(name, estate, "pending", ("queued",))
        return f"{name}/{estate}: its window has not opened"
    settings = json.loads(campaign["settings"] or "{}")
    lease_seconds = float(settings.get("lease_seconds", 120))
    token = leases.acquire(journal, estate, name, worker, lease_seconds)
    if token is None:
        return f"{name}/{estate}: held by another worker (duplicate message)"
    try:
        row = store.estate(name, estate)
        if row is None or row["state"] not in ("queued", "running"):
            return f"{name}/{estate}: nothing to do ({row['state'] if row else 'unknown'})"
        if now >= moment(row["window_end"]):
            late = "stopped" if row["run_id"] else "missed"
            store.move(name, estate, late, ("queued", "running"), ended_at=utcnow(),
                       reason="its window closed" + (f"; run {row['run_id']} is resumable" if row["run_id"] else ""))
            return f"{name}/{estate}: {late}"
        store.move(name, estate, "running", ("queued", "running"), worker=worker,
                   started_at=row["started_at"] or utcnow())
        return _run_with_lease(ctx, journal, store, campaign, row, token, lease_seconds, worker)
    finally:
        leases.release(journal, estate, token)


def _run_with_lease(ctx: WorkerContext, journal: Journal, store: CampaignStore, campaign: dict[str, Any],
                    row: dict[str, Any], token: str, lease_seconds: float, worker: str) -> str:
    name, estate = campaign["name"], row["estate"]
    settings = json.loads(campaign["settings"] or "{}")
    job = job_for(row, name, campaign["workdir"], ctx.state_dir, campaign["operator"], journal,
                  env={JOURNAL_URL_ENV: ctx.journal_url}, die_with_parent=True)
    log.info("campaign %s: %s: %s on %s", name, estate, f"resuming {job.resume_of}" if job.resume_of else "starting",
             worker)
    # the heartbeat shares the task's connection (the backend serialises its use): two connections
    # per running estate, this one and the run's own, three while the run waits at a gate
    with leases.Heartbeat(journal, estate, token, lease_seconds,
                          float(settings.get("heartbeat_seconds") or lease_seconds / 3)) as beat:
        def record(run_id: str) -> None:
            store.note(name, estate, run_id=run_id)
            leases.note_run(journal, estate, token, run_id)

        result = run_estate(job, record, fenced=beat.fenced)
    if beat.fenced.is_set():
        return f"{name}/{estate}: this worker lost the estate's lease; the run was stopped here"
    fields: dict[str, Any] = {"ended_at": utcnow(), "reason": result.reason or None}
    if result.run_id:
        fields["run_id"] = result.run_id
    store.move(name, estate, result.state, ("running",), **fields)
    log.info("campaign %s: %s: %s (run %s)", name, estate, result.state, result.run_id)
    return f"{name}/{estate}: {result.state}"


def start_ticking(ctx: WorkerContext, every: float) -> threading.Thread:
    """The worker's tick timer, in the worker's main process."""

    def loop() -> None:
        journal: Journal | None = None
        stop = threading.Event()
        while not stop.wait(every):
            try:
                journal = journal or ctx.journal()
                tick(journal, ctx.dispatch)
            except Exception as err:  # noqa: BLE001 - the database may be away for a moment: try again later
                log.warning("tick failed: %s", err)
                if journal is not None:
                    journal.close()
                journal = None

    thread = threading.Thread(target=loop, name="cutover-tick", daemon=True)
    thread.start()
    return thread


def run_worker(settings: BackendSettings, state_dir: str, concurrency: int, name: str | None,
               loglevel: str = "INFO") -> int:
    """`cutover worker`: a Celery worker (prefork pool) for the fleet's queue, plus the tick."""
    from celery import signals

    if not settings.journal:
        from engine.core.errors import UserError

        raise UserError("the worker needs the fleet's PostgreSQL journal",
                        hint=f"--journal postgresql://..., backend.journal in --config, or {JOURNAL_URL_ENV}")
    os.environ[JOURNAL_URL_ENV] = settings.journal  # every journal this worker opens is the fleet's
    ctx = WorkerContext(settings.journal, state_dir, settings)
    app = make_app(settings)
    ctx.app = app
    ctx.journal().close()  # reach the database (and create or migrate its schema) before taking work

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def estate_task(self: Any, campaign: str, estate: str) -> str:
        return run_campaign_estate(ctx, campaign, estate, f"{self.request.hostname}/{os.getpid()}")

    signals.worker_ready.connect(lambda **_: start_ticking(ctx, settings.tick_seconds), weak=False)
    node = name or f"cutover-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(["worker", f"--concurrency={concurrency}", "-n", node, "-Q", settings.queue,
                     f"--loglevel={loglevel}", "--without-gossip", "--without-mingle", "--without-heartbeat",
                     "-O", "fair"])
    return 0
