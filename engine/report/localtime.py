"""Times as the estate reads them: the journal keeps UTC, people read the estate's own zone.

An operator in Paris reading `cutover runs`, and the client signing the report, compare the
times with their maintenance window, which is set in the estate's time zone (the inventory's
`timezone:`, recorded with the run's plan). Every time shown carries its offset, so nobody has
to guess which clock it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def run_timezone(run: Mapping[str, Any]) -> str:
    """The estate's time zone recorded with a run (its plan, stored as JSON or read back), else UTC."""
    plan = run.get("plan")
    if isinstance(plan, str):
        import json

        try:
            plan = json.loads(plan)
        except ValueError:
            plan = None
    return str(plan.get("timezone") or "UTC") if isinstance(plan, dict) else "UTC"


def local_time(text: str | None, zone: str) -> str:
    """`2026-05-09 22:14:03 +02:00` for an ISO time in the journal, `-` when there is none."""
    if not text:
        return "-"
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        tz: dt.tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"


def duration_text(seconds: float | None) -> str:
    """`2 h 05 min`, `3 min 07 s`, `4.2 s`: a duration as a person reads it."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    if hours:
        return f"{hours} h {rest // 60:02d} min"
    return f"{rest // 60} min {rest % 60:02d} s"


def run_duration(run: Mapping[str, Any]) -> float | None:
    """Seconds from a run's start to its end (None while it runs)."""
    from engine.report.timeline import parse_time

    start, end = parse_time(run.get("started")), parse_time(run.get("ended"))
    return None if start is None or end is None else max(0.0, end - start)
