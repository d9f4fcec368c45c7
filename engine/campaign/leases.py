"""The fleet's estate locks: one lease row per estate in PostgreSQL, kept alive by heartbeats.

A worker that starts an estate takes its lease (a random token, an expiry `lease_seconds`
ahead of the DATABASE's clock, so workers' clocks do not matter) and renews it every
`heartbeat_seconds`. A lease is taken only when there is none or it has expired, in one
statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now()`), so of two workers
handed the same estate by a redelivered or duplicated message exactly one gets it. The other
returns at once: the lease and the journal decide what runs, not the broker.

A worker that dies stops renewing; once the lease has expired the estate may be taken by any
worker, which resumes the estate's run from its journal (steps recorded done never run again).
A worker whose renewal finds the lease gone or taken (it was partitioned away for longer than
the lease) is fenced: it stops its run at once.

Why a lease row and not a session-level advisory lock: an advisory lock is freed the moment
its connection drops, including a brief network cut of a worker that is still running the
estate; a lease survives that for `lease_seconds`, and its holder and expiry can be shown.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from engine.journal.store import Journal


def acquire(journal: Journal, estate: str, campaign: str, holder: str, lease_seconds: float) -> str | None:
    """A new token when the estate was free (or its lease had expired), else None."""
    token = secrets.token_hex(16)
    rows = journal.query(
        "INSERT INTO estate_leases (estate, campaign, holder, token, expires_at)"
        " VALUES (?, ?, ?, ?, now() + ? * interval '1 second')"
        " ON CONFLICT (estate) DO UPDATE SET campaign = excluded.campaign, holder = excluded.holder,"
        " token = excluded.token, run_id = NULL, acquired_at = now(), renewed_at = now(),"
        " expires_at = excluded.expires_at WHERE estate_leases.expires_at < now() RETURNING token",
        (estate, campaign, holder, token, float(lease_seconds)),
    )
    return token if rows else None


def renew(journal: Journal, estate: str, token: str, lease_seconds: float) -> bool:
    """Push the expiry on; False when the lease is no longer this token's (fenced)."""
    return journal.execute(
        "UPDATE estate_leases SET renewed_at = now(), expires_at = now() + ? * interval '1 second'"
        " WHERE estate = ? AND token = ?",
        (float(lease_seconds), estate, token),
    ) > 0


def note_run(journal: Journal, estate: str, token: str, run_id: str) -> None:
    journal.execute("UPDATE estate_leases SET run_id = ? WHERE estate = ? AND token = ?", (run_id, estate, token))


def release(journal: Journal, estate: str, token: str) -> None:
    journal.execute("DELETE FROM estate_leases WHERE estate = ? AND token = ?", (estate, token))


def live(journal: Journal, estates: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Leases that have not expired, by estate (with `seconds_left` by the database's clock)."""
    rows = journal.query(
        "SELECT estate, campaign, run_id, holder, EXTRACT(EPOCH FROM expires_at - now()) AS seconds_left"
        " FROM estate_leases WHERE expires_at >= now()",
        (),
    )
    return {r["estate"]: r for r in rows if estates is None or r["estate"] in estates}


class Heartbeat:
    """Renews a lease from a thread until stopped; sets `fenced` when the lease was lost."""

    def __init__(self, journal: Journal, estate: str, token: str, lease_seconds: float, every: float):
        self.journal, self.estate, self.token = journal, estate, token
        self.lease_seconds, self.every = lease_seconds, every
        self.fenced = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{estate}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        failures = 0
        while not self._stop.wait(self.every):
            try:
                if not renew(self.journal, self.estate, self.token, self.lease_seconds):
                    self.fenced.set()
                    return
                failures = 0
            except Exception:  # noqa: BLE001 - the database may be briefly unreachable: keep trying
                failures += 1
                if failures * self.every >= self.lease_seconds:  # surely expired by now: stop the run
                    self.fenced.set()
                    return
