"""Another estate's inventory, for a product that compares two estates (a test estate and its live one).

Products and modules do not import the load stage: it lends its loader here when it is imported
(engine/load/inventory.py), so another inventory is read exactly as the engine reads any (schema,
product sections, estate rules; each mistake a UserError at its file:line:col).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.model import Inventory

Loader = Callable[[str | Path, Any], Inventory]
_LOADER: list[Loader] = []


def provide(loader: Loader) -> None:
    """The load stage's inventory loader (called once, by engine/load/inventory.py)."""
    _LOADER[:] = [loader]


def load_inventory(path: str | Path, keyring: Any = None) -> Inventory:
    """The inventory at `path`, loaded and checked as the engine loads every inventory."""
    if not _LOADER:
        raise RuntimeError("no inventory loader: engine.load.inventory provides it when it is imported")
    return _LOADER[0](path, keyring)
