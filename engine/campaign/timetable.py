"""`cutover campaign plan`: which estate runs when, before anything runs.

The campaign's own rule, simulated: estates become ready when their window opens (in file
order when several open together), at most `concurrency` run at once, an estate takes
`expected_minutes` (or, when that is unknown, may use its whole window). What cannot fit is
said plainly: an estate that would wait past its window's end is missed, one expected to run
past its end would be stopped there (resumable).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from dataclasses import dataclass

from engine.campaign.model import Campaign, EstateEntry


@dataclass(frozen=True, slots=True)
class Slot:
    entry: EstateEntry
    start: dt.datetime | None
    end: dt.datetime | None
    note: str = ""


def timetable(campaign: Campaign, now: dt.datetime | None = None) -> list[Slot]:
    """Each estate with its predicted start and end (None when it cannot start in its window)."""
    now = now or dt.datetime.now(dt.UTC)
    ends: list[dt.datetime] = []
    slots: list[Slot] = []
    for entry in sorted(campaign.estates, key=lambda e: (e.window.start, e.position)):
        window = entry.window
        if now >= window.end:
            slots.append(Slot(entry, None, None, "window already closed: it will not start"))
            continue
        ready = max(window.start, now)
        while ends and ends[0] <= ready:
            heapq.heappop(ends)
        start = ready if len(ends) < campaign.concurrency else max(ready, heapq.heappop(ends))
        if start >= window.end:
            slots.append(Slot(entry, None, None, "no free slot before its window closes: it would be missed"))
            continue
        note = f"waits {_minutes(start - ready)} for a free slot" if start > ready else ""
        if entry.expected_minutes:
            end = start + dt.timedelta(minutes=entry.expected_minutes)
            if end > window.end:
                note = _join(note, f"expected to run {_minutes(end - window.end)} past its window: stopped at "
                                   "the end, resumable")
                end = window.end
        else:
            end = window.end
            note = _join(note, "no expected_minutes: may use its whole window")
        heapq.heappush(ends, end)
        slots.append(Slot(entry, start, end, note))
    return slots


def _minutes(delta: dt.timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _utc(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def render_text(campaign: Campaign, slots: list[Slot]) -> str:
    stop = (f"; no new estate after {campaign.stop_after_failures} failed"
            if campaign.stop_after_failures else "")
    lines = [f"campaign {campaign.name}: {len(campaign.estates)} estates, {campaign.concurrency} at once{stop}"]
    if campaign.description:
        lines.append(f"  {campaign.description}")
    width = max([len(s.entry.estate) for s in slots] + [6])
    window_width = max([len(s.entry.window.describe()) for s in slots] + [6])
    lines.append(f"  {'#':>2}  {'estate':<{width}}  {'window':<{window_width}}  {'starts (UTC)':<16}  "
                 f"{'ends by (UTC)':<16}  note")
    for number, slot in enumerate(slots, 1):
        lines.append(f"  {number:>2}  {slot.entry.estate:<{width}}  {slot.entry.window.describe():<{window_width}}  "
                     f"{_utc(slot.start):<16}  {_utc(slot.end):<16}  {slot.note}".rstrip())
    return "\n".join(lines) + "\n"


def render_json(campaign: Campaign, slots: list[Slot]) -> str:
    return json.dumps({
        "format": "cutover-campaign-plan/1",
        "campaign": campaign.name,
        "concurrency": campaign.concurrency,
        "stop_after_failures": campaign.stop_after_failures,
        "estates": [{
            "estate": s.entry.estate, "inventory": s.entry.inventory, "playbook": s.entry.playbook,
            "timezone": s.entry.window.timezone, "window_start": s.entry.window.start.isoformat(),
            "window_end": s.entry.window.end.isoformat(),
            "start": s.start.isoformat() if s.start else None, "end": s.end.isoformat() if s.end else None,
            "note": s.note,
        } for s in slots],
    }, indent=2) + "\n"
