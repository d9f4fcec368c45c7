"""The controller's clock: the one place the engine and the modules read "now" from.

Why one place: same-day rules (a vendor's "by 15:00 on the day of the update", "a restore asked
for the same day is free") compare the moment a run started with the moment a step runs. Tests
must show a run resumed on the next day without waiting a day or faking the system clock, so
they set this clock (`frozen`) and every reader (the scheduler's time windows, the modules'
same-day checks, the run's recorded day) sees the same moment. Timestamps of the journal keep
the wall clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path

Clock = Callable[[], dt.datetime]


def _wall() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_source: list[Clock] = [_wall]


def now() -> dt.datetime:
    """The current moment (aware, UTC) by the controller's clock."""
    return _source[0]()


@contextlib.contextmanager
def frozen(moment: dt.datetime) -> Iterator[None]:
    """Within the block the clock says `moment` (aware) for every reader of this process."""
    if moment.tzinfo is None:
        raise ValueError("a frozen moment needs a time zone")
    previous = _source[0]
    _source[0] = lambda: moment.astimezone(dt.UTC)
    try:
        yield
    finally:
        _source[0] = previous


#: names of UTC itself, said as "UTC"
_UTC_NAMES = frozenset({"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"})


def controller_zone() -> str:
    """The controller's IANA zone (`TZ`, else what /etc/localtime links to), UTC when unknown."""
    name = _zone_name()
    return "UTC" if name in _UTC_NAMES else name


def _zone_name() -> str:
    given = os.environ.get("TZ", "").lstrip(":")
    if given and "/" in given and not given.startswith("/"):
        return given
    try:
        target = Path("/etc/localtime").resolve()
    except OSError:
        return "UTC"
    parts = target.parts
    if "zoneinfo" in parts:
        name = "/".join(parts[parts.index("zoneinfo") + 1 :])
        return name or "UTC"
    return "UTC"
