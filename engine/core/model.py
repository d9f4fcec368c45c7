"""The engine's immutable model: what the loader and validator produce and the planner reads.

Every object that came from a file keeps its `Location`, so later stages (templating, planning,
estate rules) can still point the operator at the exact line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.core.errors import Location

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY



@dataclass(frozen=True, slots=True)
class Host:
    """One machine of an estate with its resolved roles, groups, variables and connection settings.

    `address` is where the host is reached (its name unless the inventory says otherwise);
    `settings` holds the rest of how to reach it (`connection`, `port`, `user`, `password`, and
    the per-transport dicts `ssh`, `winrm`, `sim`); `vars` the variables after estate < group <
    host precedence. Whether a host is Windows or simulated is its connection's to say
    (`engine.connect.host_kind`), not the model's.
    """

    name: str
    address: str
    connection: str
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=_empty)
    settings: Mapping[str, Any] = field(default_factory=_empty)
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """A named set of hosts; `children` are nested group names."""

    name: str
    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=_empty)
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Inventory:
    """One client estate: hosts, groups, estate variables, databases and product sections.

    `products` holds the section of each product the inventory has, by the product's name (the
    section's key in the file), as loaded; the product's own code reads it (engine.api.plugins).
    """

    path: str
    name: str
    hosts: Mapping[str, Host]
    groups: Mapping[str, Group]
    vars: Mapping[str, Any] = field(default_factory=_empty)
    databases: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    products: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    timezone: str = "UTC"
    content_hash: str = ""
    location: Location | None = None
    # Where each key of the raw document sits, for estate rules that report file:line.
    source: Any = None


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a play: a module call plus the keywords that steer it.

    `path` is the task's position in the play (e.g. `3`, `4.block.1`), unique per play; `id` the
    operator's own name used by `needs:`. `block`, `rescue`, `always` hold sub-tasks for a block.
    """

    path: str
    name: str
    module: str | None
    args: Any = field(default_factory=_empty)
    id: str | None = None
    when: Any = None
    loop: Any = None
    loop_var: str = "item"
    register: str | None = None
    needs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timeout: float | None = None
    retries: int = 0
    delay: float = 1.0
    until: Any = None
    ignore_errors: bool = False
    run_once: bool = False
    delegate_to: str | None = None
    no_log: bool = False
    notify: tuple[str, ...] = ()
    check_mode: bool | None = None
    changed_when: Any = None
    failed_when: Any = None
    vars: Mapping[str, Any] = field(default_factory=_empty)
    not_before: str | None = None
    not_after: str | None = None
    deadline: str | None = None
    block: tuple[Task, ...] = ()
    rescue: tuple[Task, ...] = ()
    always: tuple[Task, ...] = ()
    listen: tuple[str, ...] = ()
    estimate: Any = None
    location: Location | None = None
    #: the task's mapping as loaded (an `engine.load.yaml_marks.LDict`): where each keyword and value sits
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def is_block(self) -> bool:
        return self.module is None

    @property
    def label(self) -> str:
        return self.name or (self.module or "block")


@dataclass(frozen=True, slots=True)
class Play:
    """A play: which hosts, which tasks, how failures and batches are handled."""

    index: int
    name: str
    hosts: str
    tasks: tuple[Task, ...] = ()
    handlers: tuple[Task, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=_empty)
    on_failure: str = "stop"
    max_fail_percentage: float | None = None
    any_errors_fatal: bool = False
    serial: Any = None
    force_handlers: bool = True
    check_mode: bool | None = None
    location: Location | None = None
    #: the play's mapping as loaded (an `engine.load.yaml_marks.LDict`): where each keyword and value sits
    source: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Playbook:
    """A playbook file with its plays (includes already resolved)."""

    path: str
    plays: tuple[Play, ...] = ()
    content_hash: str = ""
    files: tuple[str, ...] = field(default_factory=tuple)
