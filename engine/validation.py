"""Static checks of a plan that need no host: variables every template will need.

For each step, the variables its templates use must be defined for its host by the inventory,
the play, the task, an earlier `register:`/`set_fact`, a loop, `-e`, or the engine's own names.
Uses guarded by `default(...)` or `is defined` are not required.
"""

from __future__ import annotations

from typing import Any

from engine.errors import Problem, UserError
from engine.model import Task
from engine.planner.graph import Plan
from engine.templating import expression_names, referenced_names

#: names the engine defines for every task
MAGIC_VARS = frozenset({
    "inventory_hostname", "hostvars", "groups", "group_names", "roles", "play_hosts", "check_mode",
    "ansible_check_mode", "estate", "run_id", "item", "ansible_loop", "omit", "now", "playbook_dir",
    "databases", "sagecrm", "onecrm", "inventory_dir", "host", "facts",
})


def _produced_names(plan: Plan) -> set[str]:
    """Variables that tasks create at run time (register, set_fact keys)."""
    names: set[str] = set()

    def walk(tasks: tuple[Task, ...]) -> None:
        for task in tasks:
            if task.register:
                names.add(task.register)
            if task.module == "set_fact" and isinstance(task.args, dict):
                names.update(k for k in task.args if k != "cacheable")
            walk(task.block + task.rescue + task.always)

    for play in plan.plays:
        walk(play.tasks)
        walk(play.handlers)
    return names


def _task_needs(task: Task) -> set[str]:
    names = referenced_names(task.args) | referenced_names(task.delegate_to) | referenced_names(task.loop)
    names |= referenced_names(task.timeout) | referenced_names(task.retries)
    for expr in (task.when, task.until, task.changed_when, task.failed_when):
        names |= expression_names(expr)
    if isinstance(task.loop, str) and not ("{{" in task.loop):
        names |= expression_names(task.loop)
    return names - {task.loop_var}


def check_variables(plan: Plan) -> None:
    """UserError listing each undefined variable with the file:line of the task using it."""
    produced = _produced_names(plan) | MAGIC_VARS | set(plan.extra_vars)
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    cache: dict[int, set[str]] = {}
    for node in plan.steps():
        task = node.task
        if task is None:
            continue
        needed = cache.get(id(task))
        if needed is None:
            needed = _task_needs(task)
            cache[id(task)] = needed
        if not needed:
            continue
        host = plan.inventory.hosts[node.host]
        play = plan.plays[node.play]
        scope_vars = _enclosing_vars(play, task)
        defined: Any = produced | set(host.vars) | set(play.vars) | scope_vars
        for name in sorted(needed - defined):
            key = (name, str(task.location))
            if key in reported:
                continue
            reported.add(key)
            problems.append(Problem(f"undefined variable {name!r} (host {node.host})", task.location,
                                    hint="define it in the inventory, the play's vars or with -e, "
                                         "or guard it with `| default(...)`"))
    if problems:
        raise UserError.many(problems)


def _enclosing_vars(play: Any, target: Task) -> set[str]:
    """Variables of the task and of the blocks around it."""
    found: set[str] = set()

    def walk(tasks: tuple[Task, ...], inherited: set[str]) -> bool:
        for t in tasks:
            here = inherited | set(t.vars)
            if t is target:
                found.update(here)
                return True
            if walk(t.block + t.rescue + t.always, here):
                return True
        return False

    walk(play.tasks + play.handlers, set())
    return found
