"""Time windows (`not_before`, `not_after`, `deadline`) in the estate's time zone.

`HH:MM` means that time today in the estate's zone (a vendor's "by 15:00 the same day");
an ISO-8601 value without an offset is read in the estate's zone too.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.errors import Location, UserError

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown time zone {name!r}", hint="an IANA name such as Europe/Paris") from None


def resolve(value: str, tz: dt.tzinfo, now: dt.datetime, location: Location | None = None) -> dt.datetime:
    """The moment a window value names, as an aware datetime."""
    text = str(value).strip()
    found = _HHMM.match(text)
    if found:
        local_now = now.astimezone(tz)
        return local_now.replace(
            hour=int(found.group(1)), minute=int(found.group(2)), second=0, microsecond=0
        )
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"bad time {text!r}", location, hint="HH:MM (today, estate time zone) or ISO-8601"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def window_problem(
    not_before: str | None,
    not_after: str | None,
    deadline: str | None,
    tz: dt.tzinfo,
    now: dt.datetime | None = None,
    location: Location | None = None,
) -> str | None:
    """Why a step may not start now, or None."""
    now = now or dt.datetime.now(dt.UTC)
    local = now.astimezone(tz)
    if not_before:
        start = resolve(not_before, tz, now, location)
        if now < start:
            return f"may not start before {start.astimezone(tz):%Y-%m-%d %H:%M %Z} (now {local:%H:%M})"
    if not_after:
        end = resolve(not_after, tz, now, location)
        if now > end:
            return f"may not start after {end.astimezone(tz):%Y-%m-%d %H:%M %Z} (now {local:%H:%M})"
    if deadline:
        due = resolve(deadline, tz, now, location)
        if now > due:
            return f"deadline {due.astimezone(tz):%Y-%m-%d %H:%M %Z} has passed (now {local:%H:%M})"
    return None
