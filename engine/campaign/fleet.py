"""`cutover campaign run --backend celery`: hand a campaign to the fleet's workers.

The campaign and its estates are recorded in the fleet's PostgreSQL journal (refused, exit 3,
when another active campaign owes one of its estates something), then one tick queues the
estates whose window is open. From there on the workers carry it: the operator's machine may
go away. `--wait` stays and prints each estate's changes until the campaign ends.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.campaign.celery_app import make_app, send
from engine.campaign.model import Campaign
from engine.campaign.store import CampaignStore
from engine.campaign.worker import tick
from engine.core.errors import RefusedError, UserError
from engine.journal.store import Journal

#: key of the transaction-level advisory lock that makes "no conflict, then register" one step
SUBMIT_LOCK = 0x637574_7375626D  # "cutsubm"
POLL_SECONDS = 2.0


def submit(campaign: Campaign, operator: str, retry_failed: bool = False, wait: bool = False) -> int:
    settings = campaign.backend
    if not settings.journal:
        raise UserError("the celery backend needs the fleet's PostgreSQL journal",
                        hint="backend: {journal: postgresql://user@host/db} in the campaign file, [campaign] journal in "
                        "cutover.toml, or CUTOVER_JOURNAL_URL")
    app = make_app(settings)
    journal = Journal(Path(".cutover") / "runs.db", url=settings.journal)
    try:
        store = CampaignStore(journal)
        with journal.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (SUBMIT_LOCK,))
            problems = store.conflicts(campaign)
            if problems:
                raise RefusedError(f"campaign {campaign.name} refused:\n  " + "\n  ".join(problems))
            store.register(campaign, "celery", operator, retry_failed)
        tick(journal, lambda name, estate: send(app, settings.queue, name, estate))
        print(f"campaign {campaign.name}: {len(campaign.estates)} estates handed to the workers of "
              f"{settings.queue} ({journal.describe()})")
        print(f"  cutover campaign status {campaign.name}   cutover runs --campaign {campaign.name}")
        return _follow(store, campaign.name) if wait else 0
    finally:
        journal.close()


def _follow(store: CampaignStore, name: str) -> int:
    seen: dict[str, tuple[str, str | None]] = {}
    while True:
        rows = store.estates(name)
        for row in rows:
            now = (row["state"], row["run_id"])
            if seen.get(row["estate"]) != now:
                seen[row["estate"]] = now
                run = f" (run {row['run_id']})" if row["run_id"] else ""
                why = f": {row['reason']}" if row["reason"] and row["state"] not in ("running", "queued") else ""
                print(f"{time.strftime('%H:%M:%S')} {row['estate']}: {row['state']}{run}{why}", flush=True)
        campaign = store.campaign(name)
        if campaign is None or campaign["state"] != "active":
            return 0 if all(r["state"] == "succeeded" for r in rows) else 1
        time.sleep(POLL_SECONDS)
