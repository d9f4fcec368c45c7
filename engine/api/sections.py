"""What every product section needs: located lookups into it, and the estate of each loaded inventory.

A product section (`<product>:` in the inventory) is a raw mapping from the loader (`LDict`, which knows
the file:line:col of each key and value). Rules point at those places; modules read values with
defaults. And a module's `protects()`/`destroys()` hooks see only their arguments and a host:
`LoadedEstates` finds the estate of the inventory that host was read from, which the estate rule
remembered when that inventory loaded, so the planner sees the same resources the module uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from engine.core.errors import Location, Problem
from engine.core.model import Host, Inventory


def setting(section: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    """The value at `path` in the section, or `default` when any key on the way is missing."""
    node: Any = section
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def location(
    section: Mapping[str, Any], fallback: Location | None, *path: str, value: bool = False
) -> Location | None:
    """file:line:col of the key at `path` (of its value with `value=True`); the nearest known place."""
    node: Any = section
    where = getattr(node, "loc", None) or fallback
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return where
        finder = getattr(node, "value_loc" if value else "key_loc", None)
        where = (finder(key) if finder else None) or where
        node = node[key]
    return where


class _HasInventory(Protocol):
    inventory: Inventory


E = TypeVar("E", bound=_HasInventory)


class LoadedEstates(Generic[E]):
    """The checked estate of every inventory loaded in this process, by the inventory's path."""

    def __init__(self, parse: Callable[[Inventory], tuple[E | None, list[Problem]]]):
        self.parse = parse
        self.by_path: dict[str, E] = {}

    def remember(self, estate: E) -> None:
        """Keep the estate of the inventory just loaded (its rules passed)."""
        self.by_path[estate.inventory.path] = estate

    def of(self, inventory: Inventory) -> E | None:
        """The estate of an inventory, or None when it has no section for this product."""
        known = self.by_path.get(inventory.path)
        if known is not None and known.inventory is inventory:
            return known
        estate, problems = self.parse(inventory)
        if estate is not None and not problems:
            self.remember(estate)
        return estate

    def for_host(self, host: Host) -> E | None:
        """The estate a host belongs to, from the inventory file it was read from (planner hooks)."""
        if host.location is None:
            return None
        estate = self.by_path.get(host.location.file)
        if estate is None or host.name not in estate.inventory.hosts:
            return None
        return estate
