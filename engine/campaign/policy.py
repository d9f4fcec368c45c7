"""The campaign's rules applied to where its estates stand: what starts now, what is missed.

Pure: it reads estate rows (as the store keeps them) and the time, and says what to do, so the
local pool and the Celery workers' tick decide exactly alike. No estate starts before its window
opens or after it ends; at most `concurrency` estates are queued or running; once the stop rule
holds, estates that have not started are skipped (running ones finish).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BUSY = frozenset({"queued", "running"})


@dataclass
class Decision:
    start: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stop_reason: str | None = None


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def stop_reason(rows: Iterable[Mapping[str, Any]], stop_after_failures: int | None) -> str | None:
    failed = sum(1 for r in rows if r["state"] == "failed")
    if stop_after_failures and failed >= stop_after_failures:
        return f"{failed} estate(s) failed (stop after {stop_after_failures}): no new estate starts"
    return None


def decide(rows: list[Mapping[str, Any]], concurrency: int, stop_after_failures: int | None,
           now: dt.datetime) -> Decision:
    decision = Decision(stop_reason=stop_reason(rows, stop_after_failures))
    busy = sum(1 for r in rows if r["state"] in BUSY)
    for row in sorted(rows, key=lambda r: (moment(r["window_start"]), r["position"])):
        if row["state"] != "pending":
            continue
        if now >= moment(row["window_end"]):
            decision.missed.append(row["estate"])
        elif decision.stop_reason:
            decision.skipped.append(row["estate"])
        elif moment(row["window_start"]) <= now and busy < concurrency:
            decision.start.append(row["estate"])
            busy += 1
    return decision


def next_event(rows: list[Mapping[str, Any]], now: dt.datetime) -> dt.datetime | None:
    """The next moment a pending estate's window opens or closes (when to look again)."""
    times = []
    for row in rows:
        if row["state"] == "pending":
            times += [t for t in (moment(row["window_start"]), moment(row["window_end"])) if t > now]
    return min(times, default=None)


def finished(rows: list[Mapping[str, Any]]) -> bool:
    return all(r["state"] not in BUSY | {"pending"} for r in rows)
