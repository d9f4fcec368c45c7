"""Static checks of a plan that need no host: what `cutover validate` adds to planning.

- Templates parse (a Jinja2 syntax error is found now, not at 2 a.m. on the fifth server).
- Every variable a template or expression uses is defined for each host it runs on: by the
  inventory, the play, the task or its blocks, an earlier `register:`/`set_fact`, a loop, `-e`,
  or the engine's own names. Uses guarded by `default(...)` or `is defined` are not required.
- `delegate_to` names a host of the inventory (or localhost), and each module runs on the
  platform of the host it runs on.

Each mistake is reported once, at the file:line:col of the value that holds it (the `when:` of
the task, the argument of the module, the `when:` of the enclosing block), naming one host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.api.registry import ModuleRegistry
from engine.connect import host_kind
from engine.core.errors import Location, Problem, UserError, closest
from engine.core.model import Task
from engine.load.playbook import in_file_order
from engine.load.templating import (
    expression_names,
    expression_syntax_error,
    is_template,
    referenced_names,
    syntax_error,
)
from engine.load.yaml_marks import LDict, LList
from engine.plan.graph import Node, Plan
from engine.plan.variables import engine_names

#: keywords holding bare expressions (`when: x > 1`) and keywords holding templated values
EXPRESSION_KEYS = ("when", "until", "changed_when", "failed_when")
TEMPLATE_KEYS = ("delegate_to", "timeout", "retries", "delay", "not_before", "not_after", "deadline")
_LOCALHOST = ("localhost", "127.0.0.1")

#: (variable name, where it is used)
Use = tuple[str, Location | None]


def _produced_names(plan: Plan, registry: ModuleRegistry | None) -> set[str]:
    """Variables that tasks create at run time: `register:`, `set_fact` keys, and the facts a module
    declares it sets (`provides_facts = frozenset({"crm"})` on its class)."""
    names: set[str] = set()
    for play in plan.plays:
        for task in _walk(play.tasks + play.handlers):
            if task.register:
                names.add(task.register)
            if task.module == "set_fact" and isinstance(task.args, dict):
                names.update(str(k) for k in task.args if k != "cacheable")
            if registry is not None and task.module is not None:
                names.update(getattr(registry.get(task.module, task.location), "provides_facts", ()))
    return names


def _walk(tasks: tuple[Task, ...]) -> Iterator[Task]:
    for task in tasks:
        yield task
        yield from _walk(task.block + task.rescue + task.always)


def _located_strings(value: Any, where: Location | None) -> Iterator[tuple[str, Location | None]]:
    """Every template string inside `value`, with the location of the value that holds it."""
    if isinstance(value, str):
        if is_template(value):
            yield value, where
    elif isinstance(value, dict):
        for key, item in value.items():
            loc = value.value_loc(key) if isinstance(value, LDict) else where
            yield from _located_strings(key, loc)
            yield from _located_strings(item, loc)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _located_strings(item, value.item_loc(i) if isinstance(value, LList) else where)


def _own_values(task: Task) -> Iterator[tuple[str, Any, Location | None]]:
    """(keyword, value, where) for the values the task itself wrote (not those inherited from a block)."""
    source = task.source if isinstance(task.source, LDict) else None
    if source is None:  # a task built in code: check what it has, at its own location
        for key in (*EXPRESSION_KEYS, *TEMPLATE_KEYS, "loop"):
            value = getattr(task, key, None)
            if value is not None:
                yield key, value, task.location
        if task.module:
            yield "args", task.args, task.location
        return
    for key in (*EXPRESSION_KEYS, *TEMPLATE_KEYS, "loop"):
        if key in source:
            yield key, source[key], source.value_loc(key)
    if task.module:
        yield "args", task.args, source.value_loc(task.module)


class _TaskFacts:
    """What one task (or block) needs, computed once however many hosts it runs on."""

    __slots__ = ("uses", "syntax")

    def __init__(self, task: Task):
        self.uses: list[Use] = []
        self.syntax: list[Problem] = []
        for key, value, where in _own_values(task):
            if key in EXPRESSION_KEYS or (
                key == "loop" and isinstance(value, str) and not is_template(value)
            ):
                self._expression(value, where)
            else:
                for text, loc in _located_strings(value, where):
                    self._template(text, loc)
        if task.module is not None:
            self.uses = [(n, loc) for n, loc in self.uses if n != task.loop_var]

    def _expression(self, value: Any, where: Location | None) -> None:
        error = expression_syntax_error(value)
        if error:
            self.syntax.append(Problem(error, where))
            return
        self.uses.extend((name, where) for name in sorted(expression_names(value)))

    def _template(self, text: str, where: Location | None) -> None:
        error = syntax_error(text)
        if error:
            self.syntax.append(Problem(error, where))
            return
        self.uses.extend((name, where) for name in sorted(referenced_names(text)))


class _Checker:
    """Walks the plan's steps once, collecting every problem."""

    def __init__(self, plan: Plan, registry: ModuleRegistry | None):
        self.plan = plan
        self.registry = registry
        self.produced = _produced_names(plan, registry) | engine_names() | set(plan.extra_vars)
        self.problems: list[Problem] = []
        self.reported: set[tuple[str, str]] = set()
        self.facts: dict[int, _TaskFacts] = {}
        self.blocks = {
            (play.index, t.path): t
            for play in plan.plays
            for t in _walk(play.tasks + play.handlers)
            if t.is_block
        }
        self.scope_vars: dict[tuple[int, tuple[tuple[str, str], ...], int], frozenset[str]] = {}

    def report(self, key: str, problem: Problem) -> None:
        marker = (key, str(problem.location))
        if marker not in self.reported:
            self.reported.add(marker)
            self.problems.append(problem)

    def task_facts(self, task: Task) -> _TaskFacts:
        found = self.facts.get(id(task))
        if found is None:
            found = self.facts[id(task)] = _TaskFacts(task)
            for problem in found.syntax:
                self.report("syntax", problem)
        return found

    def enclosing(self, node: Node) -> list[Task]:
        return [
            self.blocks[(node.play, path)]
            for path, _section in node.scope
            if (node.play, path) in self.blocks
        ]

    def local_names(self, node: Node, blocks: list[Task]) -> frozenset[str]:
        """Names the task and its blocks define (their `vars:`, the loop variable)."""
        key = (node.play, node.scope, id(node.task))
        found = self.scope_vars.get(key)
        if found is None:
            names = {str(k) for b in blocks for k in b.vars} | {str(k) for k in node.task.vars}
            if node.task.loop is not None:
                names.add(node.task.loop_var)
            found = self.scope_vars[key] = frozenset(names)
        return found

    def check_node(self, node: Node) -> None:
        task = node.task
        assert task is not None and node.host is not None
        host = self.plan.inventory.hosts[node.host]
        play = self.plan.plays[node.play]
        blocks = self.enclosing(node)
        local = self.local_names(node, blocks)
        for owner in (*blocks, task):
            for name, where in self.task_facts(owner).uses:
                if name in self.produced or name in local or name in play.vars or name in host.vars:
                    continue
                self.report(
                    name,
                    Problem(
                        f"undefined variable {name!r} (host {node.host})",
                        where,
                        hint="define it in the inventory, the play's vars or with -e, "
                        "or guard it with `| default(...)` / `is defined`",
                    ),
                )
        self.check_target(node, task)

    def check_target(self, node: Node, task: Task) -> None:
        """`delegate_to` names a host; the module runs on the platform of the host it runs on."""
        exec_name = node.host
        if isinstance(task.delegate_to, str) and not is_template(task.delegate_to):
            if task.delegate_to in _LOCALHOST:
                return
            if task.delegate_to not in self.plan.inventory.hosts:
                guess = closest(task.delegate_to, list(self.plan.inventory.hosts))
                self.report(
                    "delegate_to",
                    Problem(
                        f"delegate_to: no host {task.delegate_to!r} in the inventory",
                        _where(task, "delegate_to"),
                        hint=f"did you mean {guess!r}?"
                        if guess
                        else "use a host of the inventory, or localhost",
                    ),
                )
                return
            exec_name = task.delegate_to
        if self.registry is None or task.module is None:
            return
        module = self.registry.get(task.module, task.location)
        platform = host_kind(self.plan.inventory.hosts[exec_name]).platform
        if platform not in module.platforms and "controller" not in module.platforms:
            self.report(
                f"platform:{platform}",
                Problem(
                    f"module {task.module!r} does not run on {platform} hosts ({exec_name} connects over "
                    f"{self.plan.inventory.hosts[exec_name].connection})",
                    _key_where(task, task.module),
                    hint=f"it runs on: {', '.join(sorted(module.platforms))}; limit the play's hosts "
                    "(e.g. `hosts: web:&windows`) or use `when:`",
                ),
            )


def _where(task: Task, key: str) -> Location | None:
    return (
        task.source.value_loc(key) if isinstance(task.source, LDict) and key in task.source else task.location
    )


def _key_where(task: Task, key: str) -> Location | None:
    return (
        task.source.key_loc(key) if isinstance(task.source, LDict) and key in task.source else task.location
    )


def plan_problems(plan: Plan, registry: ModuleRegistry | None = None) -> list[Problem]:
    """Every static problem of a plan (see the module docstring); `registry` enables the platform check."""
    checker = _Checker(plan, registry)
    for node in plan.steps():
        if node.task is not None:
            checker.check_node(node)
    return in_file_order(checker.problems)


def check_plan(plan: Plan, registry: ModuleRegistry | None = None) -> None:
    """UserError listing every static problem of the plan."""
    problems = plan_problems(plan, registry)
    if problems:
        raise UserError.many(problems)


def check_variables(plan: Plan) -> None:
    """UserError listing each undefined variable, template syntax error and unknown `delegate_to` host,
    each with its file:line:col (everything `check_plan` does but the platform check)."""
    check_plan(plan, None)
