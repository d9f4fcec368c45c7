"""Read `campaign.yml`: the project's located YAML, its JSON Schema, then what a schema cannot say.

Every mistake is collected and reported together at `file:line:col` (exit 2): an inventory or
playbook that does not exist, an estate named twice, a window that ends before it starts or
names an unknown time zone, a vault password source that would need a prompt. Each estate's
inventory is loaded here (its `estate:` names the estate, its `timezone:` is the window's
default), so a campaign that loads is one whose estates are all known.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.campaign.model import BackendSettings, Campaign, EstateEntry, RunOptions, Window
from engine.core.errors import Location, Problem, UserError
from engine.load.schema import load_schema, validate
from engine.load.templating import _contains_encrypted as contains_encrypted
from engine.load.yaml_marks import LDict, LList, load_file, location_of

BROKER_URL_ENV = "CUTOVER_BROKER_URL"


def load_campaign(path: str | Path, keyring: Any = None) -> Campaign:
    """The campaign of `path`, or UserError listing every problem found."""
    where = Location(str(path), 1, 1)
    doc = load_file(path, keyring).value
    if not isinstance(doc, dict):
        raise UserError("a campaign file must be a mapping (campaign:, estates:, ...)", getattr(doc, "loc", where),
                        hint="see docs/fleet.md for an example")
    _times_as_text(doc)
    problems = validate(doc, load_schema("campaign"), where, root="campaign")
    if problems:
        raise UserError.many(problems)
    reader = _Reader(Path(path), keyring)
    estates = reader.estates(doc)
    if reader.problems:
        raise UserError.many(reader.problems)
    stop = doc.get("stop") or {}
    return Campaign(
        name=str(doc["campaign"]),
        path=str(Path(path).resolve()),
        workdir=str(reader.base),
        estates=tuple(estates),
        description=str(doc.get("description") or ""),
        operator=doc.get("operator"),
        concurrency=int(doc.get("concurrency") or 1),
        stop_after_failures=stop.get("after_failures"),
        backend=_backend(doc.get("backend") or {}),
    )


def _times_as_text(doc: Any) -> None:
    """YAML reads an unquoted `2026-05-02 20:00:00` as a timestamp: take it as the text it was."""
    windows = [doc.get("window")] + [e.get("window") for e in doc.get("estates") or [] if isinstance(e, dict)]
    for window in windows:
        if isinstance(window, dict):
            for key in ("start", "end"):
                value = window.get(key)
                if isinstance(value, dt.datetime | dt.date):
                    window[key] = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()


def _backend(doc: Mapping[str, Any]) -> BackendSettings:
    defaults = BackendSettings()
    return BackendSettings(
        kind=str(doc.get("kind", defaults.kind)),
        broker=doc.get("broker") or os.environ.get(BROKER_URL_ENV) or None,
        journal=doc.get("journal") or os.environ.get("CUTOVER_JOURNAL_URL") or None,
        queue=str(doc.get("queue", defaults.queue)),
        visibility_timeout=int(doc.get("visibility_timeout", defaults.visibility_timeout)),
        lease_seconds=int(doc.get("lease_seconds", defaults.lease_seconds)),
        heartbeat_seconds=doc.get("heartbeat_seconds"),
        tick_seconds=float(doc.get("tick_seconds", defaults.tick_seconds)),
        requeue_after=int(doc.get("requeue_after", defaults.requeue_after)),
    )


class _Reader:
    """Resolves the estates one by one, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, keyring: Any):
        self.file = str(path)
        self.base = path.resolve().parent
        self.keyring = keyring
        self.problems: list[Problem] = []

    def estates(self, doc: LDict) -> list[EstateEntry]:
        out: list[EstateEntry] = []
        seen: dict[str, Location | None] = {}
        items: LList = doc["estates"]
        default_run = self.run_options(doc.get("run") or {}, RunOptions(), location_of(doc, "run"))
        for index, item in enumerate(items):
            entry = self.estate(doc, item, index, default_run, items.item_loc(index))
            if entry is None:
                continue
            if entry.estate in seen:
                self.problems.append(Problem(
                    f"estate {entry.estate!r} is in the campaign twice (first at {seen[entry.estate]})",
                    entry.location, hint="one entry per estate; an estate runs once per campaign"))
                continue
            seen[entry.estate] = entry.location
            out.append(entry)
        return out

    def estate(self, doc: LDict, item: LDict, index: int, default_run: RunOptions,
               where: Location | None) -> EstateEntry | None:
        inventory_text = str(item["inventory"])
        inventory = self.inventory(inventory_text, item.value_loc("inventory"))
        playbook_text = item.get("playbook") or doc.get("playbook")
        if playbook_text is None:
            self.problems.append(Problem("this estate has no playbook", where,
                                         hint="set `playbook:` on the estate or for the whole campaign"))
        elif not (self.base / str(playbook_text)).is_file():
            at = item.value_loc("playbook") if "playbook" in item else doc.value_loc("playbook")
            self.problems.append(Problem(f"playbook not found: {playbook_text}", at,
                                         hint=f"paths are relative to the campaign file's folder ({self.base})"))
        window_doc = item.get("window") or doc.get("window")
        if window_doc is None:
            self.problems.append(Problem("this estate has no maintenance window", where,
                                         hint="set `window: {start: ..., end: ...}` on the estate or for the campaign"))
            return None
        if inventory is None or playbook_text is None:
            return None
        window = self.window(window_doc, inventory.timezone)
        run = self.run_options(item.get("run") or {}, default_run, item.value_loc("run") if "run" in item else where)
        if window is None:
            return None
        return EstateEntry(
            estate=inventory.name, inventory=inventory_text, playbook=str(playbook_text), window=window, run=run,
            position=index, expected_minutes=item.get("expected_minutes"), location=where,
        )

    def inventory(self, text: str, where: Location | None) -> Any:
        from engine.load.inventory import load_inventory

        path = self.base / text
        if not path.is_file():
            self.problems.append(Problem(f"inventory not found: {text}", where,
                                         hint=f"paths are relative to the campaign file's folder ({self.base})"))
            return None
        try:
            return load_inventory(path, self.keyring)
        except UserError as err:
            self.problems.extend(err.problems)
            return None

    def window(self, doc: LDict, estate_zone: str) -> Window | None:
        zone_name = str(doc.get("timezone") or estate_zone or "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problems.append(Problem(f"unknown time zone {zone_name!r}", doc.value_loc("timezone") or doc.loc,
                                         hint="an IANA name such as Europe/Paris"))
            return None
        start, end = (self.moment(doc, key, zone) for key in ("start", "end"))
        if start is None or end is None:
            return None
        if end <= start:
            self.problems.append(Problem(
                f"the window ends ({doc['end']}) before it starts ({doc['start']})", doc.value_loc("end"),
                hint="end is the latest end of the run, after start"))
            return None
        return Window(zone_name, start, end)

    def moment(self, doc: LDict, key: str, zone: ZoneInfo) -> dt.datetime | None:
        text = str(doc[key]).strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            self.problems.append(Problem(f"bad time {text!r}", doc.value_loc(key),
                                         hint="YYYY-MM-DD HH:MM in the window's time zone, or ISO-8601 with an offset"))
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    def run_options(self, doc: Mapping[str, Any], base: RunOptions, where: Location | None) -> RunOptions:
        for source in doc.get("vault_id") or ():
            if str(source).split("@", 1)[-1] == "prompt":
                self.problems.append(Problem(f"vault source {source!r} needs a prompt, which a campaign cannot answer",
                                             where, hint="use ID@FILE, ID@env:VAR or ID@exec:SCRIPT"))
        if contains_encrypted(doc.get("extra_vars")):  # -e JSON is on a command line any user can read
            self.problems.append(Problem(
                "a vault value in a campaign's extra_vars would be passed on a command line", where,
                hint="keep secrets in the estate's inventory (!vault values there stay encrypted until used)"))
        extra = dict(base.extra_vars)
        extra.update(doc.get("extra_vars") or {})
        return RunOptions(
            forks=doc.get("forks", base.forks),
            extra_vars=MappingProxyType(extra),
            approve=tuple(dict.fromkeys([*base.approve, *(doc.get("approve") or ())])),
            vault_id=tuple(dict.fromkeys([*base.vault_id, *(doc.get("vault_id") or ())])),
            allow_unprotected=bool(doc.get("allow_unprotected", base.allow_unprotected)),
        )

