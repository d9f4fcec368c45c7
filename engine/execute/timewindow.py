"""Time windows (`not_before`, `not_after`, `deadline`) in the estate's time zone.

`HH:MM` means that time on the DAY OF THE RUN in the estate's zone: the day the run started,
recorded in the journal then (a note `run day: YYYY-MM-DD in ZONE`) and read back when it
resumes. A vendor's "by 15:00 on the same day" is the day of the update, so a run resumed on
a later day does not get a new 15:00: its deadline has passed. An ISO-8601 value without an
offset is read in the estate's zone too. "Now" is the controller's clock (engine/core/clock.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core import clock
from engine.core.errors import Location, UserError

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
#: the journal note that fixes the run's day (written at start, read back on resume)
_DAY_NOTE = re.compile(r"^run day: (\d{4}-\d{2}-\d{2}) in (\S+)")


def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown time zone {name!r}", hint="an IANA name such as Europe/Paris") from None


def run_day(tz: dt.tzinfo, now: dt.datetime | None = None) -> dt.date:
    """The date it is now in the estate's zone: the day a starting run is the run of."""
    return (now or clock.now()).astimezone(tz).date()


def day_note(day: dt.date, zone_name: str, zone_source: str) -> str:
    """The journal note recording the run's day (and where its zone came from)."""
    return f"run day: {day.isoformat()} in {zone_name} ({zone_source}); HH:MM time windows are on this day"


def recorded_day(notes: Iterable[str]) -> dt.date | None:
    """The run's day from its journal notes (None for a run recorded before days were)."""
    for note in notes:
        found = _DAY_NOTE.match(str(note))
        if found:
            return dt.date.fromisoformat(found.group(1))
    return None


def resolve(
    value: str,
    tz: dt.tzinfo,
    now: dt.datetime,
    location: Location | None = None,
    day: dt.date | None = None,
) -> dt.datetime:
    """The moment a window value names, as an aware datetime (HH:MM: on `day`, else today)."""
    text = str(value).strip()
    found = _HHMM.match(text)
    if found:
        on = day or now.astimezone(tz).date()
        return dt.datetime(on.year, on.month, on.day, int(found.group(1)), int(found.group(2)), tzinfo=tz)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"bad time {text!r}", location, hint="HH:MM (the run's day, estate time zone) or ISO-8601"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def window_problem(
    not_before: str | None,
    not_after: str | None,
    deadline: str | None,
    tz: dt.tzinfo,
    now: dt.datetime | None = None,
    location: Location | None = None,
    day: dt.date | None = None,
    late: str | None = None,
) -> str | None:
    """Why a step may not start now, or None. `late`: what to do once it is too late (a gate's
    `late:` text, the vendor's words), added to the reason of a passed `not_after`/`deadline`."""
    now = now or clock.now()
    local = now.astimezone(tz)
    shown = f"{local:%Y-%m-%d %H:%M}" if day and local.date() != day else f"{local:%H:%M}"
    after = f"; {late}" if late else ""
    if not_before:
        start = resolve(not_before, tz, now, location, day)
        if now < start:
            return f"may not start before {start.astimezone(tz):%Y-%m-%d %H:%M %Z} (now {shown})"
    if not_after:
        end = resolve(not_after, tz, now, location, day)
        if now > end:
            return f"may not start after {end.astimezone(tz):%Y-%m-%d %H:%M %Z} (now {shown}){after}"
    if deadline:
        due = resolve(deadline, tz, now, location, day)
        if now > due:
            of_run = " (the day of the run)" if day else ""
            return f"deadline {due.astimezone(tz):%Y-%m-%d %H:%M %Z}{of_run} has passed (now {shown}){after}"
    return None


def late_text(task: object) -> str | None:
    """A gate task's `late:` argument: what the vendor says to do once its deadline has passed."""
    if getattr(task, "module", None) != "gate":
        return None
    args = getattr(task, "args", None)
    value = args.get("late") if isinstance(args, dict) or hasattr(args, "get") else None
    return str(value) if value else None
