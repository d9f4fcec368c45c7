"""Build a plan from a playbook and an inventory, as a pipeline of small transformer steps.

Each step reads and extends a `BuildState`: select hosts, expand tasks into nodes with per-host
file order (serial batches, run_once joins, handlers), play barriers, `needs:` barriers, policies,
cycle check. A step that finds mistakes adds problems; planning stops with all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from engine.errors import Location, Problem, UserError
from engine.model import Inventory, Play, Playbook, Task
from engine.module_registry import ModuleRegistry
from engine.patterns import match_hosts
from engine.planner.graph import Node, Plan
from engine.planner.policies import PolicyContext, destructive_needs_backup, registered_policies
from engine.templating import Scope, Templar, has_templates


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
class _Instance:
    """A task as it appears in a play's flattened order, with its enclosing blocks."""

    task: Task
    scope: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]


@dataclass
class BuildState:
    playbook: Playbook
    inventory: Inventory
    options: PlanOptions
    registry: ModuleRegistry
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    nodes: dict[str, Node] = field(default_factory=dict)
    play_hosts: dict[int, list[str]] = field(default_factory=dict)
    #: per play: head and tail nodes of each host's chain
    heads: dict[int, list[str]] = field(default_factory=dict)
    tails: dict[int, list[str]] = field(default_factory=dict)
    #: task id -> node ids of that task on every host
    by_task_id: dict[str, list[str]] = field(default_factory=dict)
    id_locations: dict[str, Location | None] = field(default_factory=dict)
    needs: list[tuple[str, str, Location | None]] = field(default_factory=list)  # (node, needed id, where)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, node: Node) -> str:
        self.nodes[node.id] = node
        self.graph.add_node(node.id)
        return node.id

    def edge(self, a: str, b: str) -> None:
        self.graph.add_edge(a, b)


Step = Callable[[BuildState], None]


# --- steps --------------------------------------------------------------------------------------

def select_hosts(state: BuildState) -> None:
    """Match each play's pattern (and --limit) to host names."""
    limit: set[str] | None = None
    if state.options.limit:
        try:
            limit = set(match_hosts(state.options.limit, state.inventory))
        except UserError as err:
            state.problems.extend(Problem(f"--limit: {p.message}", None, p.hint) for p in err.problems)
            return
    scope = Scope([state.options.extra_vars, dict(state.inventory.vars)])
    for play in state.playbook.plays:
        pattern = play.hosts
        try:
            if has_templates(pattern):
                pattern = Templar(scope, play.location).render(pattern)
            hosts = match_hosts(pattern, state.inventory, play.location)
        except UserError as err:
            state.problems.extend(err.problems)
            continue
        if limit is not None:
            hosts = [h for h in hosts if h in limit]
        state.play_hosts[play.index] = hosts


def _flatten(tasks: tuple[Task, ...], scope: tuple[tuple[str, str], ...], tags: tuple[str, ...]) -> list[_Instance]:
    out: list[_Instance] = []
    for task in tasks:
        task_tags = tuple(dict.fromkeys(tags + task.tags))
        if task.is_block:
            for section, children in (("block", task.block), ("rescue", task.rescue), ("always", task.always)):
                out.extend(_flatten(children, (*scope, (task.path, section)), task_tags))
        else:
            out.append(_Instance(task, scope, task_tags))
    return out


def _selected(instance: _Instance, options: PlanOptions) -> bool:
    tags = set(instance.tags)
    if "never" in tags and not (tags & options.tags):
        return False
    if options.tags and not (tags & options.tags) and "always" not in tags:
        return False
    if options.skip_tags and tags & options.skip_tags:
        return False
    return True


def _batches(play: Play, hosts: list[str], where: list[Problem]) -> list[list[str]]:
    if not play.serial or not hosts:
        return [hosts]
    sizes = play.serial if isinstance(play.serial, list) else [play.serial]
    out: list[list[str]] = []
    i, k = 0, 0
    while i < len(hosts):
        raw = str(sizes[min(k, len(sizes) - 1)]).strip()
        try:
            size = math.ceil(len(hosts) * float(raw[:-1]) / 100) if raw.endswith("%") else int(raw)
        except ValueError:
            where.append(Problem(f"serial: {raw!r} is not a count or a percentage", play.location))
            return [hosts]
        size = max(1, size)
        out.append(hosts[i:i + size])
        i += size
        k += 1
    return out


def _estimate(task: Task) -> float:
    raw = task.estimate
    try:
        return float(raw) if raw is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def expand_tasks(state: BuildState) -> None:
    """One node per (task x host) in file order per host; run_once joins; handlers at the end."""
    for play in state.playbook.plays:
        hosts = state.play_hosts.get(play.index)
        if not hosts:
            if hosts is not None:
                state.notes.append(f"play {play.index + 1} ({play.name}): no host matches")
            continue
        instances = [i for i in _flatten(play.tasks, (), ()) if _selected(i, state.options)]
        handlers = _flatten(play.handlers, (), ())
        heads: list[str] = []
        tails: list[str] = []
        previous_batch_tails: list[str] = []
        for b, batch in enumerate(_batches(play, hosts, state.problems)):
            tail: dict[str, str | None] = {h: None for h in batch}
            batch_heads: list[str] = []
            if previous_batch_tails:
                barrier = state.add(Node(f"p{play.index}/batch{b}", "barrier", play.index,
                                         label=f"play {play.index + 1} batch {b + 1}"))
                for t in previous_batch_tails:
                    state.edge(t, barrier)
                tail = {h: barrier for h in batch}
            for inst in instances:
                task = inst.task
                run_once = bool(task.run_once) and not isinstance(task.run_once, str)
                targets = batch[:1] if run_once else batch
                for host in targets:
                    node_id = f"p{play.index}/{task.path}@{host}"
                    state.add(Node(node_id, "task", play.index, host, task, inst.scope,
                                   tuple(batch) if run_once else (), _estimate(task), task.label, inst.tags))
                    if task.id:
                        state.by_task_id.setdefault(task.id, []).append(node_id)
                        state.id_locations.setdefault(task.id, task.location)
                    for needed in task.needs:
                        state.needs.append((node_id, needed, task.location))
                    chain_from = batch if run_once else [host]
                    for h in chain_from:
                        if tail[h] is None:
                            batch_heads.append(node_id)
                        elif tail[h] != node_id:
                            state.edge(tail[h], node_id)
                        tail[h] = node_id
            for inst in handlers:
                for host in batch:
                    node_id = f"p{play.index}/{inst.task.path}@{host}"
                    state.add(Node(node_id, "handler", play.index, host, inst.task, inst.scope, (),
                                   _estimate(inst.task), inst.task.label, inst.tags))
                    if tail[host] is None:
                        batch_heads.append(node_id)
                    else:
                        state.edge(tail[host], node_id)
                    tail[host] = node_id
            batch_tails = list(dict.fromkeys(t for t in tail.values() if t is not None))
            if not previous_batch_tails:
                heads = list(dict.fromkeys(batch_heads))
            previous_batch_tails = batch_tails
            tails = batch_tails
        state.heads[play.index] = heads
        state.tails[play.index] = tails


def play_barriers(state: BuildState) -> None:
    """Each play starts only when the previous one has ended on all its hosts."""
    previous: list[str] = []
    for play in state.playbook.plays:
        heads = state.heads.get(play.index)
        if heads is None:
            continue
        if previous:
            barrier = state.add(Node(f"p{play.index}/start", "barrier", play.index, label=f"start of play {play.index + 1}"))
            for t in previous:
                state.edge(t, barrier)
            for h in heads:
                state.edge(barrier, h)
        previous = state.tails[play.index] or previous


def needs_barriers(state: BuildState) -> None:
    """`needs: [id]`: wait until the named task has ended on every host it targets."""
    seen: dict[str, str] = {}
    for task_id, location in state.id_locations.items():
        seen[task_id] = str(location)
    known_ids = _all_ids(state.playbook)
    for task_id, locations in known_ids.items():
        if len(locations) > 1:
            state.problems.append(Problem(f"task id {task_id!r} is used twice (also at {locations[0]})",
                                          locations[1], hint="ids must be unique in a playbook"))
    barriers: dict[str, str] = {}
    for node_id, needed, where in state.needs:
        if needed not in known_ids:
            from engine.errors import closest

            guess = closest(needed, list(known_ids))
            state.problems.append(Problem(f"needs: no task has id {needed!r}", where,
                                          hint=f"did you mean {guess!r}?" if guess else "give the task `id: ...`"))
            continue
        targets = state.by_task_id.get(needed)
        if not targets:
            continue  # the needed task was filtered out (tags/limit): nothing to wait for
        barrier = barriers.get(needed)
        if barrier is None:
            barrier = state.add(Node(f"needs/{needed}", "barrier", state.nodes[targets[0]].play, label=f"after {needed}"))
            for t in targets:
                state.edge(t, barrier)
            barriers[needed] = barrier
        state.edge(barrier, node_id)


def _all_ids(playbook: Playbook) -> dict[str, list[Location | None]]:
    ids: dict[str, list[Location | None]] = {}

    def walk(tasks: tuple[Task, ...]) -> None:
        for t in tasks:
            if t.id:
                ids.setdefault(t.id, []).append(t.location)
            walk(t.block + t.rescue + t.always)

    for play in playbook.plays:
        walk(play.tasks)
        walk(play.handlers)
    return ids


def check_cycles(state: BuildState) -> None:
    """A cycle is reported as its tasks, each with file:line."""
    try:
        cycle = nx.find_cycle(state.graph)
    except nx.NetworkXNoCycle:
        return
    steps: list[str] = []
    first_loc = None
    for a, _b in cycle:
        node = state.nodes[a]
        if node.task is None:
            continue
        text = f"{node.label!r} ({node.location})"
        if text not in steps:
            steps.append(text)
            first_loc = first_loc or node.task.location
    state.problems.append(Problem("dependency cycle: " + " -> ".join(steps + steps[:1]), first_loc,
                                  hint="a `needs:` points at a task that itself runs after this one"))


STEPS: list[Step] = [select_hosts, expand_tasks, play_barriers, needs_barriers, check_cycles]


def build_plan(playbook: Playbook, inventory: Inventory, options: PlanOptions | None = None,
               registry: ModuleRegistry | None = None) -> Plan:
    """Run every step, then the policies; UserError with every problem found."""
    options = options or PlanOptions()
    registry = registry or ModuleRegistry()
    state = BuildState(playbook, inventory, options, registry)
    for step in STEPS:
        step(state)
        if state.problems and step in (select_hosts, check_cycles):
            break
    if state.problems:
        raise UserError.many(state.problems)
    plan = Plan(playbook, inventory, state.graph, state.nodes, state.play_hosts, dict(options.extra_vars),
                notes=state.notes)
    context = PolicyContext(registry, options.prior_resources, options.allow_unprotected,
                            render_args=lambda node: static_args(plan, node))
    problems = destructive_needs_backup(plan, context)
    _load_product_policies(inventory)
    for _name, policy in registered_policies():
        problems.extend(policy(plan, context))
    plan.notes.extend(context.notes)
    if problems:
        raise UserError.many(problems)
    try:
        nx.find_cycle(plan.graph)
    except nx.NetworkXNoCycle:
        pass
    else:
        state.problems.clear()
        check_cycles(state)
        raise UserError.many(state.problems)
    return plan


def _load_product_policies(inventory: Inventory) -> None:
    import importlib

    for section, module_name in (("sagecrm", "engine.products.sagecrm_policies"),
                                 ("onecrm", "engine.products.onecrm_policies")):
        if getattr(inventory, section, None) is not None:
            try:
                importlib.import_module(module_name)
            except ModuleNotFoundError as err:
                if err.name != module_name:
                    raise


def static_args(plan: Plan, node: Node) -> Mapping[str, Any] | None:
    """A node's arguments rendered with what is known before the run, or None if they need run-time values."""
    if node.task is None:
        return None
    args = node.task.args
    if not has_templates(args):
        return args
    host = plan.inventory.hosts[node.host]
    play = plan.playbook.plays[node.play]
    scope = Scope([plan.extra_vars, dict(node.task.vars), dict(play.vars), dict(host.vars),
                   {"inventory_hostname": host.name}])
    try:
        return Templar(scope, node.task.location).render(args)
    except UserError:
        return None
