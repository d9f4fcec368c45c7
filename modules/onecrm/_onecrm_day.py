"""The same-day rules of visual4's guide for customers without a service contract.

Why one place: three steps depend on "the day of the update" and must agree on it: the live
update may not start too late to be tested that day, the 15:00 / 16:00 deadlines are on that
day (the engine anchors HH:MM windows on the run's recorded day, engine/execute/timewindow.py),
and a restore asked for on that day is free while a later one is charged. The day is the one the
update run recorded in the journal when it started (`ctx.run.run_day`; for a rollback of an
earlier run, `ctx.run.from_run_day`), never "today" at the time a resumed step runs.
The guide's own words are quoted where the operator must decide.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from engine.api.module import ModuleFailed, TaskContext
from engine.core import clock
from modules.onecrm import _onecrm as one

GUIDE = "visual4, 1crm-update-guide-de"
TESTED_BY = "Bis spätestens 15 Uhr am selben Tag: Testen Sie alle Funktionen des Systems."
REPORT_BY = (
    "Bis spätestens 16:00 Uhr am selben Tag: Fehler und Probleme visual4 melden und ggf. System "
    "auf das Backup zurücksetzen lassen: support@visual4.de."
)
CHARGE = (
    "Für das Wiederherstellen von Backups, die über einen Tag hinaus gehen, berechnet visual4 "
    "allerdings pauschal 250 €. Wenn Sie noch am selben Tag eine Systemherstellung anfordern, an dem "
    "Sie das Update installiert haben, dann erhalten Sie die Wiederherstellung kostenlos."
)
CHARGE_EUR = 250
#: the guide gives no start time; an update started after the 15:00 test deadline cannot be
#: tested the same day, so without a contract that is the latest start unless the estate sets one
DEFAULT_LATEST_START = "15:00"


def latest_start(ctx: TaskContext, st: one.Site) -> str | None:
    """The site's latest start of the live update (HH:MM), None when there is none."""
    given = st.get("latest_start")
    if given:
        return str(given)
    if st.name == "live" and not one.estate(ctx).service_contract:
        return DEFAULT_LATEST_START
    return None


def refuse_late_start(ctx: TaskContext, st: one.Site) -> None:
    """ModuleFailed when the live update would start after its latest start on the run's day."""
    latest = latest_start(ctx, st)
    if latest is None:
        return
    limit = one.at(ctx, one.run_day(ctx), latest)
    now = clock.now()
    if now <= limit:
        return
    zone = one.zone_name(ctx)
    source = "onecrm.live.latest_start" if st.get("latest_start") else "default: the 15:00 test deadline"
    raise ModuleFailed(
        f"the {st.name} update may not start after {one.local_text(limit, zone)} ({source}); now "
        f'{one.local_text(now, zone)}. The guide: "{TESTED_BY}" Start it on another morning.'
    )


def update_day(ctx: TaskContext) -> tuple[_dt.date | None, str]:
    """The day of the update a restore undoes, and how it is known."""
    if ctx.run.from_run_day:
        return _dt.date.fromisoformat(ctx.run.from_run_day), "recorded by the rolled-back run"
    updated = any(a.kind == one.UPDATE_BACKUP_KIND for arts in ctx.run.artifacts.values() for a in arts)
    if updated:
        return one.run_day(ctx), "recorded by this run"
    return None, "no update run is named (--from-run)"


def restore_terms(ctx: TaskContext) -> dict[str, Any]:
    """Whether visual4 restores for free (same day as the update) or charges 250 €, and why."""
    day, how = update_day(ctx)
    now = one.today(ctx)
    terms: dict[str, Any] = {
        "update_day": day.isoformat() if day else None,
        "today": now.isoformat(),
        "timezone": one.zone_name(ctx),
        "guide": CHARGE,
    }
    if day is None:
        terms.update(free=None, charge_eur=None)
        verdict = f"the day of the update is not known ({how}): a provider's restore may be charged"
    elif day == now:
        terms.update(free=True, charge_eur=0)
        verdict = f"free: today ({now}) is the day of the update ({how})"
    else:
        terms.update(free=False, charge_eur=CHARGE_EUR)
        verdict = (
            f"charged {CHARGE_EUR} €: the update was on {day} ({how}), today is {now} ({terms['timezone']})"
        )
    terms["msg"] = f'restore by visual4 {verdict}. The guide ({GUIDE}): "{CHARGE}"'
    return terms
