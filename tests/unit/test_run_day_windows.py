"""HH:MM time windows are on the day the run started, not on the day a resumed step runs.

visual4's 1CRM guide: "Bis spätestens 15 Uhr am selben Tag" / "Bis spätestens 16:00 Uhr am
selben Tag": the day of the update. The run records its day in the journal when it starts
(`run day: ...` note) and the scheduler anchors HH:MM on it.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from engine.core import clock
from engine.execute.timewindow import day_note, late_text, recorded_day, resolve, run_day, window_problem
from modules import _production as production

BERLIN = ZoneInfo("Europe/Berlin")
UPDATE_DAY = dt.date(2026, 12, 4)


def test_a_deadline_on_the_run_day_has_passed_the_next_morning() -> None:
    next_morning = dt.datetime(2026, 12, 5, 10, 0, tzinfo=BERLIN)

    problem = window_problem(None, None, "15:00", BERLIN, next_morning, day=UPDATE_DAY, late="ask visual4")

    assert problem == (
        "deadline 2026-12-04 15:00 CET (the day of the run) has passed (now 2026-12-05 10:00); ask visual4"
    )
    # the same morning of the run's day the deadline is ahead
    assert (
        window_problem(None, None, "15:00", BERLIN, next_morning - dt.timedelta(days=1), day=UPDATE_DAY)
        is None
    )


def test_hhmm_resolves_on_the_given_day_in_the_estate_zone() -> None:
    later = dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC)
    assert resolve("16:00", BERLIN, later, day=UPDATE_DAY) == dt.datetime(2026, 12, 4, 16, 0, tzinfo=BERLIN)


def test_the_day_note_reads_back() -> None:
    note = day_note(UPDATE_DAY, "Europe/Berlin", "the inventory's timezone")
    assert recorded_day(["something else", note]) == UPDATE_DAY
    assert recorded_day(["no day here"]) is None


def test_the_clock_can_be_frozen_for_every_reader() -> None:
    moment = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)  # already the 5th in Berlin
    with clock.frozen(moment):
        assert clock.now() == moment
        assert run_day(BERLIN) == dt.date(2026, 12, 5)
    assert clock.now() != moment


def test_late_text_is_a_gate_tasks_own() -> None:
    assert late_text(SimpleNamespace(module="gate", args={"late": "call visual4"})) == "call visual4"
    assert late_text(SimpleNamespace(module="command", args={"late": "x"})) is None


def test_production_is_the_inventorys_word_and_never_a_test_estates() -> None:
    def inventory(top: dict, target: dict, sagecrm: dict | None = None) -> SimpleNamespace:
        products = {"sagecrm": sagecrm} if sagecrm is not None else {}
        return SimpleNamespace(source=top, databases={"crm": target}, products=products)

    assert production.is_production(inventory({}, {"production": True}), "crm")
    assert production.is_production(inventory({"production": True}, {}), "crm")
    assert not production.is_production(inventory({"production": True}, {"production": False}), "crm")
    assert not production.is_production(inventory({}, {}), "crm")
    # a Sage CRM test estate restored from production's backup is not production
    mirror = inventory({"production": True}, {"production": True}, {"mirror_of": "../live.yml"})
    assert not production.is_production(mirror, "crm")
