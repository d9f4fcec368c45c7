"""Plan policies: rules that add edges to a plan or refuse it (the contract: engine/api/policies.py).

A policy is a function `(plan: Plan, context: PolicyContext) -> list[Problem]`; it may add edges
(ordering the engine must enforce) and returns the problems that make the plan unacceptable.
The engine's own rule (a destructive step needs a verified backup of what it destroys upstream)
is always on; a product declares its own in its plug-in (`Plugin.policies`, engine/api/plugins.py,
e.g. "the database server's installer first"), applied to plans against an inventory with the
product's section. Code may also register one for every plan with `@plan_policy` (tests, embedders).
"""

from __future__ import annotations

from collections.abc import Callable

from engine.api.plugins import PLUGINS
from engine.api.policies import Policy, PolicyContext, covers, overrides, resources_of
from engine.core.errors import Problem
from engine.core.model import Inventory
from engine.plan.digraph import DiGraph
from engine.plan.graph import Node, Plan

__all__ = [
    "Policy",
    "PolicyContext",
    "covers",
    "destructive_needs_backup",
    "plan_policy",
    "policies_for",
    "registered_policies",
    "remove_policy",
    "resources_of",
]

_POLICIES: list[tuple[str, Policy]] = []


def plan_policy(name: str) -> Callable[[Policy], Policy]:
    """Register a policy under a name (shown when it refuses a plan)."""

    def register(policy: Policy) -> Policy:
        _POLICIES.append((name, policy))
        return policy

    return register


def registered_policies() -> list[tuple[str, Policy]]:
    return list(_POLICIES)


def policies_for(inventory: Inventory) -> list[tuple[str, Policy]]:
    """(name, policy) of the inventory's products (imported now), then those registered in code."""
    found = [named for product in PLUGINS.products_of(inventory) for named in product.plan_policies()]
    return found + registered_policies()


def remove_policy(name: str) -> None:
    """Unregister every policy registered under `name` (tests, and plug-ins that replace a rule)."""
    _POLICIES[:] = [(n, p) for n, p in _POLICIES if n != name]


def destructive_needs_backup(plan: Plan, ctx: PolicyContext) -> list[Problem]:
    """Refuse a destructive step with no verified backup of the same resource upstream."""
    problems: list[Problem] = []
    protectors: dict[str, list[str]] = {}
    destroyers: list[tuple[Node, list[str]]] = []
    relevant: dict[str, bool] = {}  # module name -> does it protect or destroy anything at all
    for node in plan.nodes.values():
        if node.task is None or node.task.module is None:
            continue
        name = node.task.module
        if name not in relevant:
            found = ctx.registry.get(name)
            relevant[name] = found.destructive or overrides(found, "protects")
        if not relevant[name]:
            continue
        module = ctx.registry.get(name)
        for resource in resources_of(plan, node, ctx, "protects"):
            protectors.setdefault(resource, []).append(node.id)
        if module.destructive:
            args = ctx.render_args(node)
            destroyers.append((node, None if args is None else resources_of(plan, node, ctx, "destroys")))
    for node, resources in destroyers:
        if resources is None:
            problems.append(
                Problem(
                    f"destructive step {node.label!r} on {node.host}: what it destroys depends on values known "
                    "only at run time",
                    node.task.location if node.task else None,
                    hint="give the path, database or key literally (or from inventory/play variables)",
                )
            )
            continue
        for resource in resources:
            if any(covers(prior, resource) for prior in ctx.prior_resources):
                continue
            candidates = {
                n for protected, ids in protectors.items() if covers(protected, resource) for n in ids
            }
            if candidates and _upstream(plan.graph, node.id, candidates):
                continue
            if ctx.allow_unprotected:
                ctx.notes.append(
                    f"UNPROTECTED (--allow-unprotected): {node.label} on {node.host} destroys "
                    f"{resource} with no verified backup upstream"
                )
                continue
            problems.append(
                Problem(
                    f"destructive step {node.label!r} on {node.host} overwrites {resource} "
                    "with no verified backup of it planned before it",
                    node.task.location if node.task else None,
                    hint="add a backup task for it earlier (for a file: `backup: true`), or roll back --from-run a run "
                    "that recorded one; --allow-unprotected overrides this, and says so in the journal and report",
                )
            )
    return problems


def _upstream(graph: DiGraph, node: str, candidates: set[str]) -> bool:
    """Whether one of `candidates` runs before `node`: a walk up the graph that stops at the first
    one found (the backup is usually a few steps up the same host's chain, so this is quick)."""
    seen = {node}
    stack = [node]
    while stack:
        for pred in graph.predecessors(stack.pop()):
            if pred in candidates:
                return True
            if pred not in seen:
                seen.add(pred)
                stack.append(pred)
    return False
