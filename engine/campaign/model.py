"""A campaign as the loader gives it: estates, their windows, the run options, the backend.

Immutable, with every time already an aware datetime (the estate's time zone kept for display)
and every path resolved against the campaign file's folder, so the planner, the local pool and
the Celery workers all read the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.core.errors import Location

#: estate states while the campaign still owes the estate something
ACTIVE = frozenset({"pending", "queued", "running"})
#: estate states the campaign is done with (a re-run of the campaign may pick some up again)
FINAL = frozenset({"succeeded", "failed", "stopped", "missed", "skipped", "refused"})
#: final states a new `campaign run` of the same campaign takes up again
RETAKEN = frozenset({"stopped", "missed", "skipped", "refused"})


@dataclass(frozen=True, slots=True)
class Window:
    """When an estate may run: no start before `start`, no start after `end`, stopped at `end`."""

    timezone: str
    start: dt.datetime
    end: dt.datetime

    def is_open(self, now: dt.datetime) -> bool:
        return self.start <= now < self.end

    def local(self, moment: dt.datetime) -> str:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

    def describe(self) -> str:
        end = self.local(self.end)
        if end[:10] == self.local(self.start)[:10]:
            end = end[11:]
        return f"{self.local(self.start)} -> {end} {self.timezone}"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What every `cutover run` of an estate gets on its command line."""

    forks: int | None = None
    extra_vars: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    approve: tuple[str, ...] = ()
    vault_id: tuple[str, ...] = ()
    allow_unprotected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"forks": self.forks, "extra_vars": dict(self.extra_vars), "approve": list(self.approve),
                "vault_id": list(self.vault_id), "allow_unprotected": self.allow_unprotected}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunOptions:
        return cls(forks=data.get("forks"), extra_vars=MappingProxyType(dict(data.get("extra_vars") or {})),
                   approve=tuple(data.get("approve") or ()), vault_id=tuple(data.get("vault_id") or ()),
                   allow_unprotected=bool(data.get("allow_unprotected")))


@dataclass(frozen=True, slots=True)
class EstateEntry:
    """One estate of the campaign (its name is the inventory's `estate:`)."""

    estate: str
    inventory: str
    playbook: str
    window: Window
    run: RunOptions
    position: int
    expected_minutes: float | None = None
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """Celery and PostgreSQL settings (ignored by the local pool).

    The visibility timeout is longer than any estate on purpose: Redis would otherwise deliver a
    long-running estate's message to a second worker (harmless, the lease refuses it, but noisy).
    A dead worker's estate is taken up after `lease_seconds` by the workers' tick, not by Redis.
    """

    kind: str = "local"
    broker: str | None = None
    journal: str | None = None
    queue: str = "cutover"
    visibility_timeout: int = 172800
    lease_seconds: int = 120
    heartbeat_seconds: float | None = None
    tick_seconds: float = 15.0
    requeue_after: int = 600

    @property
    def heartbeat(self) -> float:
        return self.heartbeat_seconds or max(self.lease_seconds / 3.0, 0.5)


@dataclass(frozen=True, slots=True)
class Campaign:
    name: str
    path: str
    workdir: str
    estates: tuple[EstateEntry, ...]
    description: str = ""
    operator: str | None = None
    concurrency: int = 1
    stop_after_failures: int | None = None
    backend: BackendSettings = field(default_factory=BackendSettings)

    def estate(self, name: str) -> EstateEntry:
        for entry in self.estates:
            if entry.estate == name:
                return entry
        raise KeyError(name)
