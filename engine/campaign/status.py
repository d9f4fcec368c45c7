"""Where a campaign stands, as data: read by `campaign status` and the status page alike.

Everything comes from the journal's database (the campaign's rows, each run's nodes, the gates
waiting), so any machine that shares the journal sees the same thing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.campaign.store import CampaignStore
from engine.core.errors import UserError
from engine.journal.gates import waiting
from engine.journal.store import Journal


def _elapsed(start: str | None, end: str | None, now: dt.datetime) -> str:
    if not start:
        return ""
    began = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ended = dt.datetime.fromisoformat(end.replace("Z", "+00:00")) if end else now
    seconds = max(0, int((ended - began).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def current_steps(journal: Journal, run_id: str) -> list[str]:
    rows = journal.query("SELECT host, task FROM nodes WHERE run_id = ? AND status = 'running' ORDER BY started",
                         (run_id,))
    return [f"{r['task']} on {r['host']}" for r in rows]


def campaign_status(journal: Journal, name: str, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    store = CampaignStore(journal)
    campaign = store.campaign(name)
    if campaign is None:
        known = ", ".join(c["name"] for c in store.campaigns()) or "none yet"
        raise UserError(f"no campaign {name!r} in {journal.describe()}", hint=f"campaigns recorded: {known}")
    rows = store.estates(name)
    run_ids = [r["run_id"] for r in rows if r["run_id"]]
    gates = waiting(journal, run_ids)
    estates = []
    for row in rows:
        run = journal.run(row["run_id"]) if row["run_id"] else None
        estates.append({
            "estate": row["estate"],
            "state": row["state"],
            "run_id": row["run_id"],
            "run_status": run["status"] if run else None,
            "worker": row["worker"],
            "window": {"timezone": row["timezone"], "start": row["window_start"], "end": row["window_end"]},
            "started": row["started_at"],
            "ended": row["ended_at"],
            "elapsed": _elapsed(row["started_at"], row["ended_at"] if row["state"] != "running" else None, now),
            "current": current_steps(journal, row["run_id"]) if row["run_id"] and row["state"] == "running" else [],
            "gates_waiting": [{"gate": g["gate_id"], "host": g["host"], "prompt": g["prompt"], "since": g["asked_at"]}
                              for g in gates if g["run_id"] == row["run_id"]],
            "reason": row["reason"],
        })
    counts: dict[str, int] = {}
    for e in estates:
        counts[e["state"]] = counts.get(e["state"], 0) + 1
    return {"campaign": name, "state": campaign["state"], "backend": campaign["backend"],
            "operator": campaign["operator"], "concurrency": campaign["concurrency"],
            "journal": journal.describe(), "counts": counts, "estates": estates,
            "at": now.isoformat(timespec="seconds")}


def render_text(status: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(status["counts"].items()))
    lines = [f"campaign {status['campaign']} ({status['state']}, {status['backend']}): {counts}"]
    width = max([len(e["estate"]) for e in status["estates"]] + [6])
    for e in status["estates"]:
        run = e["run_id"] or "-"
        line = f"  {e['estate']:<{width}}  {e['state']:<10} {e['elapsed'] or '-':>9}  {run}"
        if e["current"]:
            line += f"  now: {'; '.join(e['current'])}"
        for gate in e["gates_waiting"]:
            line += f"  GATE {gate['gate']} waits (cutover approve {run} {gate['gate']} --as NAME)"
        if e["reason"] and e["state"] != "running":
            line += f"  -- {e['reason']}"
        lines.append(line)
    return "\n".join(lines) + "\n"
