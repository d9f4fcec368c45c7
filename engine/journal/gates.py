"""Gates answered through the journal: a run waits, anyone who shares the journal answers.

A run started with `--gate-wait SECONDS` that reaches a gate not approved on its command line
records the gate as waiting (`gate_requests`) and polls `gate_answers` until an answer comes or
the time is up. `cutover approve RUN GATE --as NAME` writes that answer from any terminal: on
the same machine for an SQLite journal, on any operator's machine for a fleet's PostgreSQL
journal. The answer names who gave it and from where; the gate's own journal row and the
report then show that name, as for an answer typed at a prompt.

A refusal answers the gate too (the gate fails, as when refused at a prompt). An approval given
before the run reaches the gate is kept for it; an earlier refusal is dropped when the gate is
asked again (a resumed run asks again, and must get a fresh answer).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from engine.api.module import Gatekeeper, utcnow
from engine.journal.store import Journal, run_in_this_process

#: how often a waiting gate looks for its answer
POLL_SECONDS = 1.0


def ask(journal: Journal, run_id: str, gate_id: str, host: str | None, prompt: str) -> None:
    """Record that `run_id` waits at `gate_id` (an earlier refusal no longer counts)."""
    with journal.transaction() as db:
        db.execute("DELETE FROM gate_answers WHERE run_id = ? AND gate_id = ? AND approved = 0", (run_id, gate_id))
        db.execute("DELETE FROM gate_requests WHERE run_id = ? AND gate_id = ?", (run_id, gate_id))
        db.execute(
            "INSERT INTO gate_requests (run_id, gate_id, host, prompt, asked_at, controller) VALUES (?,?,?,?,?,?)",
            (run_id, gate_id, host, journal.mask(prompt), utcnow(), socket.gethostname()),
        )


def answer(
    journal: Journal, run_id: str, gate_id: str, approved: bool, by: str, comment: str = ""
) -> dict[str, Any]:
    """Record an answer (the newest answer wins until the gate takes it)."""
    row = {"approved": int(approved), "by_whom": by, "at": utcnow(), "comment": comment, "from_host": socket.gethostname()}
    with journal.transaction() as db:
        db.execute("DELETE FROM gate_answers WHERE run_id = ? AND gate_id = ?", (run_id, gate_id))
        db.execute(
            "INSERT INTO gate_answers (run_id, gate_id, approved, by_whom, at, comment, from_host)"
            " VALUES (?,?,?,?,?,?,?)",
            (run_id, gate_id, row["approved"], by, row["at"], journal.mask(comment), row["from_host"]),
        )
    return row


def answer_for(journal: Journal, run_id: str, gate_id: str) -> dict[str, Any] | None:
    return journal.query_one("SELECT * FROM gate_answers WHERE run_id = ? AND gate_id = ?", (run_id, gate_id))


def waiting(journal: Journal, run_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Gates some run waits at now (no answer yet), oldest first."""
    rows = journal.query(
        "SELECT r.* FROM gate_requests r LEFT JOIN gate_answers a ON a.run_id = r.run_id AND a.gate_id = r.gate_id"
        " WHERE a.run_id IS NULL ORDER BY r.asked_at",
        (),
    )
    return [r for r in rows if run_ids is None or r["run_id"] in run_ids]


def _done_waiting(journal: Journal, run_id: str, gate_id: str) -> None:
    journal.execute("DELETE FROM gate_requests WHERE run_id = ? AND gate_id = ?", (run_id, gate_id))


class JournalGatekeeper(Gatekeeper):
    """Flags first (`--approve`), then the journal: wait up to `wait` seconds for `cutover approve`."""

    def __init__(self, state_dir: str | Path, estate: str, fallback: Gatekeeper, wait: float,
                 poll: float = POLL_SECONDS):
        self.path = Path(state_dir) / "runs.db"
        self.estate = estate
        self.fallback = fallback
        self.wait = wait
        self.poll = poll

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        given = self.fallback.approve(gate_id, prompt, host)
        run_id = run_in_this_process(self.estate)
        if given.get("approved") or run_id is None:
            return given
        journal = Journal(self.path)
        try:
            ask(journal, run_id, gate_id, host, prompt)
            until = time.monotonic() + self.wait
            while True:
                found = answer_for(journal, run_id, gate_id)
                if found is not None:
                    _done_waiting(journal, run_id, gate_id)
                    return {"approved": bool(found["approved"]), "by": found["by_whom"], "at": found["at"],
                            "comment": found["comment"] or ""}
                if time.monotonic() >= until:
                    _done_waiting(journal, run_id, gate_id)
                    return {"approved": False, "by": None, "at": utcnow(),
                            "comment": f"no answer within {self.wait:g} s: `cutover approve {run_id} {gate_id}` "
                                       "and resume the run"}
                time.sleep(self.poll)
        finally:
            journal.close()
