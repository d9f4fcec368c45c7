"""Build a plan from a playbook and an inventory, as a pipeline of small transformer steps.

As Terraform builds its graph, each step reads and extends one `BuildState` (engine/plan/state.py):
select hosts and expand tasks into nodes with per-host file order (serial batches, run_once
joins, handlers: expand.py), play and `needs:` barriers (barriers.py), cycle check (cycles.py),
then the plan is made, its names rendered (static.py) and the policies applied (policies.py):
the engine's destructive-step rule and the rules of the inventory's products. A step that finds
mistakes adds problems; planning stops after a step the next ones depend on, with all of them.
"""

from __future__ import annotations

from pathlib import Path

from engine.api.registry import ModuleRegistry
from engine.core.errors import UserError
from engine.core.model import Inventory, Playbook
from engine.load.yaml_marks import bulk_allocation
from engine.plan.barriers import needs_barriers, play_barriers
from engine.plan.cycles import check_cycles, find_cycle, topological_order
from engine.plan.expand import LIMIT_LOCATION, expand_tasks, select_hosts
from engine.plan.graph import Plan
from engine.plan.policies import PolicyContext, destructive_needs_backup, policies_for
from engine.plan.state import BuildState, PlanOptions, Step
from engine.plan.static import render_labels, static_args, static_scope


def make_plan(state: BuildState) -> None:
    """The graph is whole: the plan the executor and the report read."""
    state.plan = Plan(
        state.playbook,
        state.inventory,
        state.graph,
        state.nodes,
        state.play_hosts,
        dict(state.options.extra_vars),
        notes=state.notes,
        _order=state.order,
    )
    state.planned_edges = state.graph.number_of_edges()


def name_steps(state: BuildState) -> None:
    """Templated task names as they will read (see `render_labels`)."""
    assert state.plan is not None
    render_labels(state.plan)


def apply_policies(state: BuildState) -> None:
    """The engine's destructive-step rule, then the policies of the inventory's products and
    those registered in code: each may add edges or refuse the plan."""
    plan = state.plan
    assert plan is not None
    context = PolicyContext(
        state.registry,
        state.options.prior_resources,
        state.options.allow_unprotected,
        render_args=lambda node: static_args(plan, node),
    )
    problems = destructive_needs_backup(plan, context)
    for _name, policy in policies_for(plan.inventory):
        problems.extend(policy(plan, context))
    plan.notes.extend(context.notes)
    state.problems.extend(problems)


def order_again(state: BuildState) -> None:
    """A policy that added edges: the order (and the absence of cycles) is checked again."""
    plan = state.plan
    assert plan is not None
    if plan.graph.number_of_edges() == state.planned_edges:
        return
    plan._order = None
    check_cycles(state)
    plan._order = state.order


#: the steps in order; after one of `STOPS` that found problems, planning stops with them
STEPS: list[Step] = [
    select_hosts,
    expand_tasks,
    play_barriers,
    needs_barriers,
    check_cycles,
    make_plan,
    name_steps,
    apply_policies,
    order_again,
]
STOPS: frozenset[Step] = frozenset({select_hosts, check_cycles, apply_policies})


def build_plan(
    playbook: Playbook,
    inventory: Inventory,
    options: PlanOptions | None = None,
    registry: ModuleRegistry | None = None,
) -> Plan:
    """Run every step; UserError with every problem found."""
    options = options or PlanOptions()
    registry = registry or ModuleRegistry([Path(playbook.path).parent / "library"])
    state = BuildState(playbook, inventory, options, registry)
    with bulk_allocation():
        for step in STEPS:
            step(state)
            if state.problems and step in STOPS:
                break
    if state.problems:
        raise UserError.many(state.problems)
    assert state.plan is not None
    return state.plan


__all__ = [
    "LIMIT_LOCATION",
    "PlanOptions",
    "build_plan",
    "find_cycle",
    "static_args",
    "static_scope",
    "topological_order",
]
