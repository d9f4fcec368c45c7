"""What a node looks like before the run: its variables, arguments and name, from what is known.

Policies and the destructive rule read a node's arguments rendered for its host before any host
is touched; a value that needs run-time results (a registered result, a fact, a loop item) leaves
the arguments unknown. Secrets are never needed for this and the planner does not hold them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.errors import UserError
from engine.load.templating import Scope, Templar, has_templates, is_template
from engine.plan.graph import Node, Plan


def render_labels(plan: Plan) -> None:
    """`name: install {{ target_version }}` shows as `install 7.3` when the value is known before the run
    (as Ansible shows it); a name that needs run-time values (a loop item, a registered result) stays as written."""
    for node in plan.nodes.values():
        if node.task is not None and is_template(node.task.name):
            try:
                node.label = str(Templar(static_scope(plan, node)).render(node.task.name))
            except UserError:
                continue


def static_scope(plan: Plan, node: Node) -> Scope:
    """The variables a node sees before the run: -e > task > blocks > play > host (estate < group <
    host) > the engine's names. Registered results and facts are not known yet."""
    host = plan.inventory.hosts[node.host]
    play = plan.playbook.plays[node.play]
    layers: list[Mapping[str, Any]] = [plan.extra_vars]
    if node.task is not None:
        layers.append(node.task.vars)
    for block_path, _section in reversed(node.scope):
        layers.append(plan.block_vars(node.play, block_path))
    layers += [play.vars, host.vars, plan.magic_vars(host, node.play)]
    # Secrets are never needed to know what a step touches (a path, a database, a key), and the
    # planner must not hold them: vault values read as a placeholder here.
    return Scope(layers, decrypt=_secret_placeholder)


def _secret_placeholder(_value: Any) -> str:
    return "********"


def static_args(plan: Plan, node: Node) -> Mapping[str, Any] | None:
    """A node's arguments rendered with what is known before the run, or None if they need run-time values."""
    if node.task is None:
        return None
    args = node.task.args
    if not has_templates(args):
        return args
    try:
        return Templar(static_scope(plan, node), node.task.location).render(args)
    except UserError:
        return None
