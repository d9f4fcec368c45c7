"""`cutover campaign run FILE`: the whole campaign from one machine, no server.

A thread pool of `concurrency` threads, each waiting on one estate's `cutover run` process; the
journals are the usual SQLite ones of the state dir (or the fleet's database when
CUTOVER_JOURNAL_URL says so), and the campaign's state is kept next to them, so a campaign
whose process was stopped is taken up again by running the same command: estates done stay
done, a run stopped at its window's end or left by a dead process is resumed.

Between events the driver sleeps until the next window opens or closes, or an estate ends.
Ctrl-C reaches the runs too (same process group): they stop gracefully and are recorded
resumable; the driver starts nothing more and waits for them.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from engine.api.module import utcnow
from engine.campaign.estate_run import EstateJob, EstateResult, run_estate
from engine.campaign.model import Campaign, RunOptions
from engine.campaign.policy import decide, finished, moment, next_event
from engine.campaign.store import CampaignStore
from engine.core.errors import RefusedError
from engine.journal.store import Journal

#: the longest the driver sleeps without looking at the time again
MAX_SLEEP = 30.0


def job_for(row: dict[str, Any], campaign: str, workdir: str, state_dir: str, operator: str,
            journal: Journal, **extra: Any) -> EstateJob:
    """The run of a campaign estate: resume its recorded run unless that one already succeeded."""
    resume_of = None
    if row.get("run_id"):
        run = journal.run(row["run_id"])
        if run is not None and run["status"] != "succeeded":
            resume_of = row["run_id"]
    return EstateJob(
        campaign=campaign, estate=row["estate"], playbook=row["playbook"], inventory=row["inventory"],
        workdir=workdir, state_dir=state_dir, operator=operator,
        run=RunOptions.from_dict(json.loads(row["args"] or "{}")), window_end=moment(row["window_end"]),
        resume_of=resume_of, **extra,
    )


class LocalCampaign:
    def __init__(self, campaign: Campaign, journal: Journal, state_dir: str, operator: str,
                 say: Callable[[str], None] = print, retry_failed: bool = False,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)):
        self.campaign = campaign
        self.journal = journal
        self.store = CampaignStore(journal)
        self.state_dir = str(Path(state_dir).resolve())
        self.operator = operator
        self.say = say
        self.retry_failed = retry_failed
        self.clock = clock

    def refusals(self) -> list[str]:
        from engine.execute.lock import describe, inspect_lock

        problems = self.store.conflicts(self.campaign)
        for entry in self.campaign.estates:
            status, holder = inspect_lock(self.state_dir, entry.estate)
            if status == "held":
                problems.append(f"estate {entry.estate!r} is locked by {describe(holder)}")
        return problems

    def run(self) -> int:
        name = self.campaign.name
        problems = self.refusals()
        if problems:
            raise RefusedError(f"campaign {name} refused:\n  " + "\n  ".join(problems))
        self.store.register(self.campaign, "local", self.operator, self.retry_failed)
        for row in self.store.estates(name):  # left busy by an earlier process of this campaign
            if row["state"] in ("queued", "running"):
                self.store.move(name, row["estate"], "pending", when_in=("queued", "running"))
        interrupted = False
        with ThreadPoolExecutor(max_workers=self.campaign.concurrency, thread_name_prefix="estate") as pool:
            running: dict[Future, str] = {}
            try:
                self._drive(pool, running)
            except KeyboardInterrupt:
                interrupted = True
                self.say("interrupted: no new estate starts; the running ones stop gracefully")
            for future in list(running):
                self._ended(running.pop(future), future)
        return self._summary(interrupted)

    def _drive(self, pool: ThreadPoolExecutor, running: dict[Future, str]) -> None:
        name, campaign = self.campaign.name, self.campaign
        while True:
            rows = self.store.estates(name)
            now = self.clock()
            decision = decide(rows, campaign.concurrency, campaign.stop_after_failures, now)
            for estate in decision.missed:
                self.store.move(name, estate, "missed", ("pending",), ended_at=utcnow(),
                                reason="its window closed before it could start")
                self.say(f"{estate}: missed (its window closed before it could start)")
            for estate in decision.skipped:
                self.store.move(name, estate, "skipped", ("pending",), ended_at=utcnow(), reason=decision.stop_reason)
                self.say(f"{estate}: skipped ({decision.stop_reason})")
            by_estate = {r["estate"]: r for r in rows}
            for estate in decision.start:
                if self.store.move(name, estate, "running", ("pending",), started_at=utcnow(),
                                   worker=socket.gethostname(), reason=None):
                    job = job_for(by_estate[estate], name, campaign.workdir, self.state_dir, self.operator,
                                  self.journal)
                    self.say(f"{estate}: {'resuming run ' + job.resume_of if job.resume_of else 'starting'}")
                    running[pool.submit(self._run_one, job)] = estate
            rows = self.store.estates(name)
            if not running and finished(rows):
                return
            wake = next_event(rows, now)
            timeout = MAX_SLEEP if wake is None else min(MAX_SLEEP, max(0.05, (wake - now).total_seconds()))
            if not running:
                time.sleep(timeout)  # nothing runs: wait for the next window
                continue
            done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                self._ended(running.pop(future), future)

    def _run_one(self, job: EstateJob) -> EstateResult:
        def record(run_id: str) -> None:
            self.store.note(self.campaign.name, job.estate, run_id=run_id)

        return run_estate(job, record, clock=self.clock)

    def _ended(self, estate: str, future: Future) -> None:
        try:
            result = future.result()
        except Exception as err:  # noqa: BLE001 - one estate's trouble must not stop the others
            result = EstateResult("failed", None, f"the campaign could not run it: {type(err).__name__}: {err}")
        fields: dict[str, Any] = {"ended_at": utcnow(), "reason": result.reason or None}
        if result.run_id:
            fields["run_id"] = result.run_id
        self.store.move(self.campaign.name, estate, result.state, ("running",), **fields)
        run = f" (run {result.run_id})" if result.run_id else ""
        self.say(f"{estate}: {result.state}{run}" + (f": {result.reason}" if result.reason else ""))

    def _summary(self, interrupted: bool) -> int:
        rows = self.store.estates(self.campaign.name)
        state = "interrupted" if interrupted else "finished"
        self.store.set_campaign(self.campaign.name, state=state)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        self.say(f"campaign {self.campaign.name} {state}: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        if interrupted:
            return 130
        return 0 if all(r["state"] == "succeeded" for r in rows) else 1
