"""The plan-policy contract: what a product's policy receives and may use (engine/api/plugins.py).

A policy is a function `(plan, context) -> list[Problem]`, declared in the product's plug-in
(`Plugin.policies`) and applied to every plan made against an inventory with the product's
section. It reads the plan's steps and graph (`PlanView`, `PlanNode`: what the planner's
`engine.plan.graph.Plan` and `Node` offer a policy), may add edges to the graph (an order the
engine then enforces; the plan is checked for cycles again), and returns the problems that make
the plan unacceptable, each at the file:line of the task concerned. `context` says what the
steps protect and destroy (`resources_of`, `covers`) and carries the notes shown with the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.api.module import Module
from engine.api.registry import ModuleRegistry
from engine.core.errors import Problem
from engine.core.model import Inventory, Task

if TYPE_CHECKING:
    import networkx as nx


class PlanNode(Protocol):
    """One node of the plan: a task on a host, or a barrier (`is_step` False)."""

    id: str
    host: str | None
    task: Task | None
    label: str

    @property
    def is_step(self) -> bool: ...

    @property
    def location(self) -> str: ...


class PlanView(Protocol):
    """The plan as a policy sees it: its nodes, their graph (edges: "runs before"), its estate.

    The graph is the plan's own (engine/plan/digraph.py), kept free of networkx so a run need not
    import it; it has networkx's `DiGraph` interface and networkx's algorithms (`nx.ancestors`,
    `nx.has_path`) accept it, so a policy may use them (importing networkx itself).
    """

    inventory: Inventory
    graph: nx.DiGraph  # duck-typed: engine.plan.digraph.DiGraph
    extra_vars: dict[str, Any]

    @property
    def nodes(self) -> Mapping[str, Any]: ...

    def steps(self) -> list[Any]: ...


@dataclass
class PolicyContext:
    """What policies may consult besides the graph."""

    registry: ModuleRegistry
    #: resources protected by artifacts of an earlier run (rollback --from-run)
    prior_resources: frozenset[str] = frozenset()
    allow_unprotected: bool = False
    render_args: Callable[[PlanNode], Mapping[str, Any] | None] = lambda node: None
    notes: list[str] = field(default_factory=list)


Policy = Callable[[PlanView, PolicyContext], list[Problem]]


def resources_of(plan: PlanView, node: PlanNode, ctx: PolicyContext, method: str) -> list[str]:
    """What a node `protects` or `destroys`, from its module and its arguments rendered for its host."""
    module = ctx.registry.get(node.task.module) if node.task and node.task.module else None
    if module is None or not overrides(module, method):
        return []  # the base class protects and destroys nothing: no need to render arguments
    args = ctx.render_args(node)
    if args is None:
        return []
    return list(getattr(module, method)(args, plan.inventory.hosts[node.host]))


def covers(protected: str, resource: str) -> bool:
    """A backup of `protected` covers `resource`: the same, or (files) a folder holding it."""
    if protected == resource:
        return True
    if protected.startswith("files:") and resource.startswith(protected):
        return resource[len(protected) : len(protected) + 1] in ("/", "\\")
    return False


def overrides(module: Any, method: str) -> bool:
    """Whether a module's class has its own `protects`/`destroys` (the base class's say nothing)."""
    return getattr(type(module), method, None) is not getattr(Module, method)
