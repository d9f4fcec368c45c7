"""What one node's execution produced, as the scheduler and journal see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.api.module import Artifact, Finding, utcnow


@dataclass(slots=True)
class NodeOutcome:
    """status: ok | changed | failed | skipped | blocked | would-change (| deferred: not started)."""

    status: str
    started: str = field(default_factory=utcnow)
    ended: str = field(default_factory=utcnow)
    duration: float = 0.0
    attempts: int = 0
    msg: str = ""
    error: str | None = None
    registered: Any = None
    facts: dict[str, Any] = field(default_factory=dict)
    diff: Any = None
    artifacts: list[Artifact] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    changed: bool = False
    ignored: bool = False
    #: a time window or deadline stopped the run before this node could start
    deferred: str | None = None

    @property
    def ended_badly(self) -> bool:
        return self.status in ("failed", "blocked") and not self.ignored
