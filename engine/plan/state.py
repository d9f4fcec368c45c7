"""What the plan's steps read and extend: the operator's options and the state of one build.

The builder (engine/plan/builder.py) runs its steps in order over one `BuildState`; each step
adds nodes, edges, notes or problems, and the plan is made from it once the graph is whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.api.registry import ModuleRegistry
from engine.core.errors import Location, Problem
from engine.core.model import Inventory, Playbook
from engine.load.yaml_marks import LDict
from engine.plan.digraph import DiGraph
from engine.plan.graph import Node, Plan


@dataclass
class PlanOptions:
    """What the operator asked for on the command line that shapes the plan."""

    limit: str | None = None
    tags: frozenset[str] = frozenset()
    skip_tags: frozenset[str] = frozenset()
    extra_vars: dict[str, Any] = field(default_factory=dict)
    prior_resources: frozenset[str] = frozenset()
    allow_unprotected: bool = False
    done: frozenset[str] = frozenset()


@dataclass
class BuildState:
    playbook: Playbook
    inventory: Inventory
    options: PlanOptions
    registry: ModuleRegistry
    graph: DiGraph = field(default_factory=DiGraph)
    nodes: dict[str, Node] = field(default_factory=dict)
    play_hosts: dict[int, list[str]] = field(default_factory=dict)
    #: per play: head and tail nodes of each host's chain
    heads: dict[int, list[str]] = field(default_factory=dict)
    tails: dict[int, list[str]] = field(default_factory=dict)
    #: task id -> node ids of that task (or of the tasks of that block) on every host
    by_task_id: dict[str, list[str]] = field(default_factory=dict)
    needs: list[tuple[str, str, Location | None]] = field(default_factory=list)  # (node, needed id, where)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: a topological order of the graph, once `check_cycles` found no cycle
    order: list[str] | None = None
    #: the plan, once the graph is whole (`make_plan`), and how many edges it had then
    plan: Plan | None = None
    planned_edges: int = 0

    def add(self, node: Node) -> str:
        self.nodes[node.id] = node
        self.graph.add_node(node.id)
        return node.id

    def edge(self, a: str, b: str) -> None:
        self.graph.add_edge(a, b)


Step = Callable[[BuildState], None]


def value_location(owner: Any, key: str) -> Location | None:
    """Where a play's or task's keyword value sits (its own location when the source is unknown)."""
    source = getattr(owner, "source", None)
    if isinstance(source, LDict) and key in source:
        return source.value_loc(key)
    return getattr(owner, "location", None)
