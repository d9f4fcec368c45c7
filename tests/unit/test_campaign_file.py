"""campaign.yml: loaded with the located YAML loader and its schema; `campaign plan` says who runs when."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from engine.campaign.loader import load_campaign
from engine.campaign.policy import decide
from engine.campaign.timetable import timetable
from engine.core.errors import UserError
from engine.load.schema import load_schema
from tests.support.runs import run_cli

ROOT = Path(__file__).resolve().parents[2]


def estate(work: Path, name: str, zone: str = "Europe/Paris") -> str:
    (work / f"{name}.yml").write_text(f"estate: {name}\ntimezone: {zone}\nhosts:\n  app1: {{connection: local}}\n")
    return f"{name}.yml"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "upgrade.yml").write_text("- name: up\n  hosts: all\n  tasks:\n    - debug: {msg: hi}\n")
    for name, zone in (("acme", "Europe/Paris"), ("bolt", "America/New_York"), ("coda", "Europe/Paris")):
        estate(tmp_path, name, zone)
    return tmp_path


#: a campaign's first lines, for the tests that vary its estates
HEADER = """\
        campaign: x
        playbook: upgrade.yml
        window: {start: "2026-05-02 20:00", end: "2026-05-03 01:00"}
"""  # indented like the tests' own text, which write() dedents


def write(work: Path, text: str) -> Path:
    path = work / "campaign.yml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_campaign(path)
    return caught.value.render()


def test_a_campaign_loads_with_windows_in_each_estate_s_own_time_zone(work):
    path = write(work, """\
        campaign: spring
        playbook: upgrade.yml
        concurrency: 2
        stop: {after_failures: 2}
        window: {start: 2026-05-02 20:00:00, end: "2026-05-03 06:00"}
        run: {approve: [backup_ok], extra_vars: {target_version: "7.3"}}
        estates:
          - inventory: acme.yml
          - inventory: bolt.yml
            run: {approve: [signoff], extra_vars: {licence: B}}
          - inventory: coda.yml
            window: {timezone: UTC, start: "2026-05-09T18:00+00:00", end: "2026-05-09T23:00+00:00"}
        """)
    campaign = load_campaign(path)
    acme, bolt, coda = campaign.estates
    assert (campaign.name, campaign.concurrency, campaign.stop_after_failures) == ("spring", 2, 2)
    assert acme.window.start == dt.datetime(2026, 5, 2, 18, 0, tzinfo=dt.UTC)  # 20:00 in Paris (CEST)
    assert bolt.window.start == dt.datetime(2026, 5, 3, 0, 0, tzinfo=dt.UTC)  # 20:00 in New York (EDT)
    assert coda.window.timezone == "UTC" and coda.window.end.hour == 23
    assert bolt.run.approve == ("backup_ok", "signoff")
    assert dict(bolt.run.extra_vars) == {"target_version": "7.3", "licence": "B"}
    assert campaign.workdir == str(work.resolve())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("campaign: x\nestates: []\n", "campaign.yml:2:10: campaign.estates"),
        ("campaign: x\nplaybook: upgrade.yml\nconcurency: 2\nestates: [{inventory: acme.yml}]\n",
         "campaign.yml:3:1: unknown key 'concurency'"),
        ("campaign: x\nplaybook: upgrade.yml\nwindow: {start: '2026-05-02 20:00', end: '2026-05-02 19:00'}\n"
         "estates: [{inventory: acme.yml}]\n", "campaign.yml:3:42: the window ends"),
        ("campaign: x\nplaybook: upgrade.yml\nwindow: {timezone: Mars/Olympus, start: '2026-05-02 20:00',"
         " end: '2026-05-03 01:00'}\nestates: [{inventory: acme.yml}]\n", "campaign.yml:3:20: unknown time zone"),
        ("campaign: x\nplaybook: upgrade.yml\nwindow: {start: 'saturday night', end: '2026-05-03 01:00'}\n"
         "estates: [{inventory: acme.yml}]\n", "campaign.yml:3:17: bad time 'saturday night'"),
        ("campaign: x\nplaybook: upgrade.yml\nestates:\n  - inventory: acme.yml\n",
         "campaign.yml:4:5: this estate has no maintenance window"),
        ("campaign: x\nplaybook: nope.yml\nwindow: {start: '2026-05-02 20:00', end: '2026-05-03 01:00'}\n"
         "estates: [{inventory: missing.yml}]\n", "campaign.yml:4:23: inventory not found: missing.yml"),
        ("campaign: x\nplaybook: upgrade.yml\nwindow: {start: '2026-05-02 20:00', end: '2026-05-03 01:00'}\n"
         "estates:\n  - inventory: acme.yml\n  - inventory: ./acme.yml\n",
         "campaign.yml:6:5: estate 'acme' is in the campaign twice (first at"),
        ("campaign: x\nplaybook: upgrade.yml\nrun: {vault_id: [prod@prompt]}\n"
         "window: {start: '2026-05-02 20:00', end: '2026-05-03 01:00'}\nestates: [{inventory: acme.yml}]\n",
         "needs a prompt, which a campaign cannot answer"),
        ("campaign: x\nplaybook: upgrade.yml\nwindow: {start: '2026-05-02 20:00', end: '2026-05-03 01:00'}\n"
         "estates:\n  - inventory: acme.yml\n    run:\n      extra_vars:\n        db_password: !vault |\n"
         "          $ANSIBLE_VAULT;1.1;AES256\n          3132\n",
         "campaign.yml:7:7: a vault value in a campaign's extra_vars would be passed on a command line"),
    ],
    ids=["no-estates", "typo", "end-before-start", "bad-zone", "bad-time", "no-window", "missing-files",
         "twice", "vault-prompt", "vault-on-a-command-line"],
)
def test_a_broken_campaign_is_located(work, text, expected):
    assert expected in problems(write(work, text))


def test_every_problem_is_reported_at_once_and_the_cli_exits_2_without_a_traceback(work):
    path = write(work, """\
        campaign: x
        playbook: nope.yml
        window: {start: "2026-05-02 20:00", end: "2026-05-03 01:00"}
        estates:
          - inventory: missing.yml
          - inventory: acme.yml
        """)
    for action in ("plan", "validate", "run"):
        result = run_cli(["campaign", action, str(path)], work)
        assert result.rc == 2 and "Traceback" not in result.err
        assert "campaign.yml:5:16: inventory not found: missing.yml" in result.err
        assert "campaign.yml:2:11: playbook not found: nope.yml" in result.err
    assert not (work / ".cutover").exists(), "nothing half-done"


def test_an_estate_inventory_mistake_is_located_in_the_inventory(work):
    (work / "acme.yml").write_text("estate: acme\nhosts:\n  app1: {connection: telnet}\n")
    path = write(work, HEADER + """\
        estates: [{inventory: acme.yml}]
        """)
    assert "acme.yml:3:22: hosts.app1.connection" in problems(path)


def test_validate_checks_every_playbook_with_its_inventory(work):
    (work / "bad.yml").write_text("- name: up\n  hosts: all\n  tasks:\n    - debgu: {msg: hi}\n")
    path = write(work, HEADER + """\
        estates:
          - inventory: acme.yml
          - {inventory: bolt.yml, playbook: bad.yml}
        """)
    result = run_cli(["campaign", "validate", str(path)], work)
    assert result.rc == 2
    assert "acme: ok" in result.out and "bolt: NOT valid" in result.out
    assert "bad.yml:4:7:" in result.out and "debug" in result.out  # located, with the did-you-mean
    assert "1 of 2 estates valid" in result.out


def test_the_plan_shows_who_runs_when_with_the_concurrency_and_the_windows(work):
    for name in ("dune", "echo"):
        estate(work, name)
    path = write(work, """\
        campaign: weekend
        playbook: upgrade.yml
        concurrency: 2
        window: {timezone: UTC, start: "2026-05-02 20:00", end: "2026-05-03 02:00"}
        estates:
          - {inventory: acme.yml, expected_minutes: 120}
          - {inventory: bolt.yml, expected_minutes: 60}
          - {inventory: coda.yml, expected_minutes: 90}
          - {inventory: dune.yml, expected_minutes: 300}
          - inventory: echo.yml
            window: {timezone: UTC, start: "2026-05-01 20:00", end: "2026-05-01 23:00"}
        """)
    campaign = load_campaign(path)
    now = dt.datetime(2026, 5, 2, 12, 0, tzinfo=dt.UTC)
    slots = {s.entry.estate: s for s in timetable(campaign, now)}
    utc = lambda h, m=0: dt.datetime(2026, 5, 2, h, m, tzinfo=dt.UTC) if h >= 12 else \
        dt.datetime(2026, 5, 3, h, m, tzinfo=dt.UTC)  # noqa: E731
    assert (slots["acme"].start, slots["acme"].end) == (utc(20), utc(22))
    assert (slots["bolt"].start, slots["bolt"].end) == (utc(20), utc(21))
    assert (slots["coda"].start, slots["coda"].end) == (utc(21), utc(22, 30))  # waits for bolt's slot
    assert slots["coda"].note == "waits 1 h 00 min for a free slot"
    assert slots["dune"].start == utc(22) and slots["dune"].end == utc(2)
    assert slots["dune"].note.startswith("waits 2 h 00 min for a free slot; expected to run 1 h 00 min past its window")
    assert slots["echo"].start is None and "window already closed" in slots["echo"].note
    text = run_cli(["campaign", "plan", str(path)], work).out
    assert "campaign weekend: 5 estates, 2 at once" in text
    assert "coda    2026-05-02 20:00 -> 2026-05-03 02:00 UTC" in text
    data = json.loads(run_cli(["campaign", "plan", str(path), "--format", "json"], work).out)
    assert [e["estate"] for e in data["estates"]][:2] == ["echo", "acme"]


def test_the_rules_never_start_an_estate_outside_its_window_or_beyond_the_concurrency():
    def row(name, state, start, end, position):
        return {"estate": name, "state": state, "window_start": start, "window_end": end, "position": position}

    now = dt.datetime(2026, 5, 2, 21, 0, tzinfo=dt.UTC)
    rows = [
        row("early", "pending", "2026-05-02T22:00+00:00", "2026-05-03T02:00+00:00", 0),
        row("closed", "pending", "2026-05-02T18:00+00:00", "2026-05-02T20:59+00:00", 1),
        row("one", "pending", "2026-05-02T20:00+00:00", "2026-05-03T02:00+00:00", 2),
        row("two", "pending", "2026-05-02T20:00+00:00", "2026-05-03T02:00+00:00", 3),
        row("busy", "running", "2026-05-02T20:00+00:00", "2026-05-03T02:00+00:00", 4),
    ]
    decision = decide(rows, concurrency=2, stop_after_failures=None, now=now)
    assert decision.start == ["one"] and decision.missed == ["closed"] and not decision.skipped
    failed = [*rows, row("bad", "failed", "2026-05-02T20:00+00:00", "2026-05-03T02:00+00:00", 5)]
    decision = decide(failed, concurrency=9, stop_after_failures=1, now=now)
    assert decision.start == [] and decision.skipped == ["one", "two", "early"]
    assert decision.stop_reason == "1 estate(s) failed (stop after 1): no new estate starts"


def test_every_campaign_keyword_is_described_and_documented():
    from jsonschema import Draft202012Validator

    schema = load_schema("campaign")
    Draft202012Validator.check_schema(schema)
    doc = (ROOT / "docs" / "fleet.md").read_text(encoding="utf-8")

    def walk(node: dict, where: str) -> None:
        for key, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{where}.{key} has no description"
            assert f"`{key}`" in doc, f"docs/fleet.md does not explain `{key}`"
            walk(prop, f"{where}.{key}")

    walk(schema, "campaign")
    for name, sub in schema["$defs"].items():
        walk(sub, name)
