"""A product's own lock on an estate, held beside the host markers for the whole run.

The engine takes a marker on every host of the estate before the first step
(engine/execute/estate_markers.py). A product may hold the estate in its own store too, where
tools that are not cutover look (Sage CRM: an application lock in the CRM database, held by a
session the run keeps open, so SQL Server frees it when the session ends however the run ends).
It declares `Plugin.estate_locks`: functions `(EstateLockRequest) -> HeldLock | None` (None: nothing
to lock for this inventory), imported only for an inventory with the product's section. One that
cannot take its lock raises `engine.core.errors.RefusedError` naming why; the engine then releases
everything already taken and refuses the run. Check runs, `plan` and `validate` take none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from engine.core.model import Inventory


@dataclass(frozen=True, slots=True)
class EstateLockRequest:
    """What a product's lock function is given: the estate, its databases (templates rendered, vault
    values decrypted, in memory only) and the holder the markers carry (run id, operator, ...)."""

    inventory: Inventory
    databases: Mapping[str, Mapping[str, Any]]
    holder: Mapping[str, Any]


class HeldLock(Protocol):
    """A product lock while the run holds it."""

    #: what the refusal and the journal call it, e.g. "application lock 'cutover estate x' in CRM"
    label: str

    def beat(self) -> None:
        """Called with each heartbeat (from the heartbeat thread): keep the lock alive if it needs it."""

    def release(self) -> None:
        """Free the lock; called once when the run ends, however it ends."""
