"""Where a campaign and each of its estates stand, kept in the journal's own database.

So the campaign is as durable and as shared as the runs: SQLite in the state dir for the local
pool, the fleet's PostgreSQL for Celery workers (every operator's machine sees it). State
changes are compare-and-set (`UPDATE ... WHERE state IN (...)`): two workers, or a worker and a
tick, cannot both move an estate on.

Estate states: pending (waits for its window and a free slot), queued (sent to a worker),
running, then succeeded, failed, stopped (its window ended mid-run: resumable), missed (the
window closed before it could start), skipped (the stop rule held), refused (the estate was
locked by a run outside the campaign).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from typing import Any

from engine.api.module import utcnow
from engine.campaign.model import ACTIVE, RETAKEN, Campaign
from engine.journal.store import Journal


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def campaign_settings(campaign: Campaign) -> dict[str, Any]:
    """What the workers need to know of a campaign's backend settings (kept with the campaign)."""
    backend = campaign.backend
    return {"lease_seconds": backend.lease_seconds, "heartbeat_seconds": backend.heartbeat,
            "requeue_after": backend.requeue_after}


class CampaignStore:
    def __init__(self, journal: Journal):
        self.journal = journal

    # --- a campaign ------------------------------------------------------------------------------
    def register(self, campaign: Campaign, backend: str, operator: str, retry_failed: bool = False) -> None:
        """Record the campaign (or take it up again): new estates pending, retaken ones pending again."""
        now = utcnow()
        retaken = set(RETAKEN) | ({"failed"} if retry_failed else set())
        with self.journal.transaction() as db:
            db.execute(
                "INSERT INTO campaigns (name, file, workdir, backend, operator, state, concurrency,"
                " stop_after_failures, created, updated, reason, driver, driver_pid, settings)"
                " VALUES (?,?,?,?,?,'active',?,?,?,?,NULL,?,?,?) ON CONFLICT (name) DO UPDATE SET"
                " file = excluded.file, workdir = excluded.workdir, backend = excluded.backend,"
                " operator = excluded.operator, state = 'active', concurrency = excluded.concurrency,"
                " stop_after_failures = excluded.stop_after_failures, updated = excluded.updated, reason = NULL,"
                " driver = excluded.driver, driver_pid = excluded.driver_pid, settings = excluded.settings",
                (campaign.name, campaign.path, campaign.workdir, backend, operator, campaign.concurrency,
                 campaign.stop_after_failures, now, now, socket.gethostname(), os.getpid(),
                 json.dumps(campaign_settings(campaign))),
            )
            for entry in campaign.estates:
                values = (entry.playbook, entry.inventory, json.dumps(entry.run.to_dict(), default=str),
                          entry.window.timezone, entry.window.start.isoformat(), entry.window.end.isoformat(),
                          entry.position)
                found = db.execute("SELECT state FROM campaign_estates WHERE campaign = ? AND estate = ?",
                                   (campaign.name, entry.estate)).fetchone()
                if found is None:
                    db.execute(
                        "INSERT INTO campaign_estates (playbook, inventory, args, timezone, window_start, window_end,"
                        " position, campaign, estate, state, dispatches) VALUES (?,?,?,?,?,?,?,?,?,'pending',0)",
                        (*values, campaign.name, entry.estate),
                    )
                    continue
                again = found[0] in retaken
                db.execute(
                    "UPDATE campaign_estates SET playbook = ?, inventory = ?, args = ?, timezone = ?,"
                    " window_start = ?, window_end = ?, position = ?"
                    + (", state = 'pending', reason = NULL, ended_at = NULL" if again else "")
                    + " WHERE campaign = ? AND estate = ?",
                    (*values, campaign.name, entry.estate),
                )

    def conflicts(self, campaign: Campaign) -> list[str]:
        """Why this campaign may not run now: another live campaign owes one of its estates something."""
        here = socket.gethostname()
        problems = []
        own = self.campaign(campaign.name)
        if own and own["state"] == "active" and own["backend"] == "local" and own["driver"] == here \
                and own["driver_pid"] != os.getpid() and _alive(own["driver_pid"]):
            problems.append(f"campaign {campaign.name} is already running here (pid {own['driver_pid']})")
        for entry in campaign.estates:
            rows = self.journal.query(
                "SELECT e.campaign, e.state, e.run_id, c.backend, c.driver, c.driver_pid FROM campaign_estates e"
                " JOIN campaigns c ON c.name = e.campaign WHERE e.estate = ? AND e.campaign <> ?"
                " AND c.state = 'active' AND e.state IN ('pending', 'queued', 'running')",
                (entry.estate, campaign.name),
            )
            for row in rows:
                if row["backend"] == "local" and row["driver"] == here and not _alive(row["driver_pid"]):
                    continue  # that campaign's process is gone: its claim is stale
                run = f" (run {row['run_id']})" if row["run_id"] else ""
                problems.append(f"estate {entry.estate!r} belongs to campaign {row['campaign']}, "
                                f"{row['state']}{run}")
        return problems

    def campaign(self, name: str) -> dict[str, Any] | None:
        return self.journal.query_one("SELECT * FROM campaigns WHERE name = ?", (name,))

    def campaigns(self, active_only: bool = False) -> list[dict[str, Any]]:
        where = " WHERE state = 'active'" if active_only else ""
        return self.journal.query(f"SELECT * FROM campaigns{where} ORDER BY created DESC", ())

    def set_campaign(self, name: str, **fields: Any) -> None:
        fields["updated"] = utcnow()
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.journal.execute(f"UPDATE campaigns SET {sets} WHERE name = ?", (*fields.values(), name))

    # --- its estates -----------------------------------------------------------------------------
    def estates(self, name: str) -> list[dict[str, Any]]:
        return self.journal.query("SELECT * FROM campaign_estates WHERE campaign = ? ORDER BY position", (name,))

    def estate(self, name: str, estate: str) -> dict[str, Any] | None:
        return self.journal.query_one("SELECT * FROM campaign_estates WHERE campaign = ? AND estate = ?",
                                      (name, estate))

    def move(self, name: str, estate: str, to: str, when_in: Iterable[str] | None = None, **fields: Any) -> bool:
        """Set an estate's state (and fields) if it is in one of `when_in`; True when it moved."""
        fields["state"] = to
        sets = ", ".join(f"{k} = ?" for k in fields)
        params: list[Any] = [*fields.values(), name, estate]
        guard = ""
        if when_in is not None:
            states = list(when_in)
            guard = f" AND state IN ({', '.join('?' * len(states))})"
            params += states
        return self.journal.execute(
            f"UPDATE campaign_estates SET {sets} WHERE campaign = ? AND estate = ?{guard}", params) > 0

    def note(self, name: str, estate: str, **fields: Any) -> None:
        """Fields of an estate that do not change its state (its run id, its worker)."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.journal.execute(f"UPDATE campaign_estates SET {sets} WHERE campaign = ? AND estate = ?",
                             (*fields.values(), name, estate))

    def owed(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.estates(name) if r["state"] in ACTIVE]
