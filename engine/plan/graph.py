"""The plan: nodes (task x host) in a directed graph (engine/plan/digraph.py), with waves and a critical path.

Barrier nodes (`kind == "barrier"`) stand for "everything before has ended" (a play boundary,
a `needs:` target, a `serial` batch): one node with N in-edges and M out-edges instead of N x M
edges, which keeps a 100,000-node plan small. They take no time and are not shown as steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.connect import host_kind
from engine.core.model import Host, Inventory, Play, Playbook, Task
from engine.plan.digraph import DiGraph
from engine.plan.variables import EstateVariables


@dataclass(slots=True, eq=False)
class Node:
    """One unit of work: a task on a host (or a barrier / handler)."""

    id: str
    kind: str  # task | handler | barrier
    play: int
    host: str | None = None
    task: Task | None = None
    #: enclosing blocks, outermost first: (block task path, section of that block: block|rescue|always)
    scope: tuple[tuple[str, str], ...] = ()
    #: hosts whose share a run_once result (the node runs on `host`)
    shared_with: tuple[str, ...] = ()
    estimate: float = 1.0
    label: str = ""
    tags: tuple[str, ...] = ()

    @property
    def is_step(self) -> bool:
        return self.kind != "barrier"

    @property
    def location(self) -> str:
        if self.task is None or self.task.location is None:
            return ""
        return str(self.task.location)


@dataclass
class Plan:
    """The graph plus what the executor and the report need to know about it."""

    playbook: Playbook
    inventory: Inventory
    graph: DiGraph
    nodes: dict[str, Node]
    play_hosts: dict[int, list[str]] = field(default_factory=dict)
    extra_vars: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _order: list[str] | None = None
    _blocks: dict[tuple[int, str], Mapping[str, Any]] | None = None
    _magic: dict[tuple[str, int | None], dict[str, Any]] = field(default_factory=dict)
    _estate: EstateVariables | None = None

    @property
    def plays(self) -> tuple[Play, ...]:
        return self.playbook.plays

    @property
    def simulated(self) -> bool:
        """Some host of the estate is a simulation (said wherever the run's results appear)."""
        return any(host_kind(h).simulated for h in self.inventory.hosts.values())

    def block_vars(self, play: int, block_path: str) -> Mapping[str, Any]:
        """The `vars:` of the block at `block_path` in play `play` (empty when it has none)."""
        if self._blocks is None:
            found: dict[tuple[int, str], Mapping[str, Any]] = {}

            def walk(index: int, tasks: tuple[Task, ...]) -> None:
                for t in tasks:
                    if t.is_block:
                        found[(index, t.path)] = t.vars
                        walk(index, t.block + t.rescue + t.always)

            for p in self.plays:
                walk(p.index, p.tasks)
                walk(p.index, p.handlers)
            self._blocks = found
        return self._blocks.get((play, block_path), {})

    def magic_vars(self, host: Host, play: int | None = None) -> dict[str, Any]:
        """The engine's own variables that are known before the run (engine/plan/variables.py; the
        executor adds the run-time ones: run_id, check_mode, hostvars with facts)."""
        cached = self._magic.get((host.name, play))
        if cached is not None:
            return cached
        if self._estate is None:
            self._estate = EstateVariables.of(
                self.inventory,
                str(Path(self.playbook.path).resolve().parent),
                str(Path(self.inventory.path).resolve().parent),
            )
        play_hosts = self.play_hosts.get(play, []) if play is not None else None
        found = self._estate.for_host(self.inventory, host, play_hosts)
        self._magic[(host.name, play)] = found
        return found

    def order(self) -> list[str]:
        """A topological order (cached; the graph does not change after planning)."""
        if self._order is None:
            self._order = self.graph.topological_order()
        return self._order

    def steps(self) -> list[Node]:
        return [self.nodes[n] for n in self.order() if self.nodes[n].is_step]

    def levels(self) -> dict[str, int]:
        """Wave number of each step: how many steps must run before it, at the least."""
        level: dict[str, int] = {}
        for node_id in self.order():
            best = 0
            for pred in self.graph.predecessors(node_id):
                best = max(best, level[pred] + (1 if self.nodes[pred].is_step else 0))
            level[node_id] = best
        return {n: lvl for n, lvl in level.items() if self.nodes[n].is_step}

    def waves(self) -> list[list[Node]]:
        """Steps grouped by what can run together."""
        grouped: dict[int, list[Node]] = {}
        for node_id, lvl in self.levels().items():
            grouped.setdefault(lvl, []).append(self.nodes[node_id])
        return [grouped[k] for k in sorted(grouped)]

    def critical_path(self) -> tuple[list[Node], float]:
        """The chain of steps with the largest total estimate, and that total."""
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for node_id in self.order():
            start, best = 0.0, None
            for pred in self.graph.predecessors(node_id):
                if finish[pred] > start or best is None:
                    if finish[pred] >= start:
                        start, best = finish[pred], pred
            node = self.nodes[node_id]
            finish[node_id] = start + (node.estimate if node.is_step else 0.0)
            via[node_id] = best
        if not finish:
            return [], 0.0
        end = max(finish, key=lambda n: finish[n])
        path: list[Node] = []
        cursor: str | None = end
        while cursor is not None:
            if self.nodes[cursor].is_step:
                path.append(self.nodes[cursor])
            cursor = via[cursor]
        return list(reversed(path)), finish[end]
