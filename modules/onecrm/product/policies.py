"""1CRM plan policy: the vendor's procedure decides what must precede the live update.

The engine's own rule already wants a verified backup of the files and the database before the
update's install step. The 1CRM procedure asks for more, depending on the estate's flavour, and
a playbook that breaks it does not plan (exit 2, the install step's file:line):
- with a service contract, the live update comes after the test system was updated and verified
  (`onecrm_update` step verify on the test site) and after a gate (someone signed the tests);
- without one, it comes after last night's backup of the database and of the files was checked
  (`onecrm_backup_check` source nightly for both parts): the procedure's morning check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import networkx as nx

from engine.api.policies import PlanNode, PlanView, PolicyContext
from engine.core.errors import Problem
from modules.onecrm.product.estate import estate_of

Want = Callable[[str, Mapping[str, Any]], bool]

#: what must precede the live install, per flavour: (description, test on module and arguments)
CONTRACT: list[tuple[str, Want]] = [
    (
        "the test system's update verified (onecrm_update site: test, step: verify)",
        lambda m, a: m == "onecrm_update" and a.get("site") == "test" and a.get("step") == "verify",
    ),
    ("a gate where someone signs the tests", lambda m, a: m == "gate"),
]
NO_CONTRACT: list[tuple[str, Want]] = [
    (
        f"last night's {part} backup checked (onecrm_backup_check site: live, part: {part})",
        lambda m, a, part=part: (
            m == "onecrm_backup_check"
            and a.get("site") == "live"
            and a.get("part") == part
            and a.get("source", "nightly") == "nightly"
        ),
    )
    for part in ("database", "files")
]


def _args(node: PlanNode, ctx: PolicyContext) -> Mapping[str, Any]:
    return ctx.render_args(node) or {}


def _is_live_install(node: PlanNode, ctx: PolicyContext) -> bool:
    if not node.is_step or node.task is None or node.task.module != "onecrm_update":
        return False
    args = _args(node, ctx)
    return args.get("site") == "live" and args.get("step") == "install"


def onecrm_procedure(plan: PlanView, ctx: PolicyContext) -> list[Problem]:
    """Each live install needs the flavour's steps upstream of it."""
    estate = estate_of(plan.inventory)
    if estate is None:
        return []
    wanted = CONTRACT if estate.service_contract else NO_CONTRACT
    flavour = "with" if estate.service_contract else "without"
    problems = []
    for node in plan.nodes.values():
        if not _is_live_install(node, ctx):
            continue
        upstream = [plan.nodes[n] for n in nx.ancestors(plan.graph, node.id)]
        present = [(n.task.module, _args(n, ctx)) for n in upstream if n.is_step and n.task and n.task.module]
        for what, test in wanted:
            if not any(test(module, args) for module, args in present):
                problems.append(
                    Problem(
                        f"1CRM update of live ({node.label!r}): {what} must come before it in an estate "
                        f"{flavour} a service contract",
                        node.task.location if node.task else None,
                        hint="playbooks/onecrm/upgrade.yml follows the vendor's procedure; see docs/onecrm.md",
                    )
                )
    return problems
