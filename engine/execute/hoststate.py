"""What the run knows about each host while it runs: facts, notifications, block failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class HostState:
    """Per-host runtime state; written only by the scheduler thread."""

    #: registered results and set_fact values (precedence above play and inventory vars)
    facts: dict[str, Any] = field(default_factory=dict)
    #: handler names notified by changed tasks
    notified: set[str] = field(default_factory=set)
    #: scope (enclosing blocks) of an unrescued failure on this host, or None
    failure: tuple[tuple[str, str], ...] | None = None
    failed: bool = False
