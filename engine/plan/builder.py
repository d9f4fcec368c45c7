"""Build a plan from a playbook and an inventory, as a pipeline of small transformer steps.

Each step reads and extends a `BuildState`: select hosts, expand tasks into nodes with per-host
file order (serial batches, run_once joins, handlers), play barriers, `needs:` barriers, policies,
cycle check. A step that finds mistakes adds problems; planning stops with all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from engine.api.registry import ModuleRegistry
from engine.core.errors import Location, Problem, UserError, closest
from engine.core.model import Inventory, Play, Playbook, Task
from engine.load.templating import Scope, Templar, has_templates, is_template
from engine.load.yaml_marks import LDict, bulk_allocation
from engine.plan.graph import Node, Plan
from engine.plan.patterns import match_hosts
from engine.plan.policies import PolicyContext, destructive_needs_backup, registered_policies

#: where `--limit` mistakes point: the option's text is the "file", its terms the columns
LIMIT_LOCATION = Location("--limit", 1, 1)


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
    #: ids of the enclosing blocks: `needs: [block id]` waits for every task inside the block
    owners: tuple[str, ...] = ()


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
    #: task id -> node ids of that task (or of the tasks of that block) on every host
    by_task_id: dict[str, list[str]] = field(default_factory=dict)
    needs: list[tuple[str, str, Location | None]] = field(default_factory=list)  # (node, needed id, where)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: a topological order of the graph, once `check_cycles` found no cycle
    order: list[str] | None = None

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


# --- steps --------------------------------------------------------------------------------------


def select_hosts(state: BuildState) -> None:
    """Match each play's pattern (and --limit) to host names."""
    limit: set[str] | None = None
    if state.options.limit is not None:
        try:
            limit = set(match_hosts(state.options.limit, state.inventory, LIMIT_LOCATION, term_columns=True))
        except UserError as err:
            state.problems.extend(err.problems)
            return
    scope = Scope([state.options.extra_vars, dict(state.inventory.vars)])
    for play in state.playbook.plays:
        pattern = play.hosts
        where = value_location(play, "hosts")
        try:
            if has_templates(pattern):
                pattern = Templar(scope, where).render(pattern)
            hosts = match_hosts(pattern, state.inventory, where)
        except UserError as err:
            state.problems.extend(err.problems)
            continue
        if limit is not None:
            kept = [h for h in hosts if h in limit]
            if hosts and not kept:
                state.notes.append(f"play {play.index + 1} ({play.name}): no host left after --limit")
            hosts = kept
        state.play_hosts[play.index] = hosts


def _flatten(
    tasks: tuple[Task, ...],
    scope: tuple[tuple[str, str], ...],
    tags: tuple[str, ...],
    owners: tuple[str, ...] = (),
) -> list[_Instance]:
    out: list[_Instance] = []
    for task in tasks:
        task_tags = tuple(dict.fromkeys(tags + task.tags))
        if task.is_block:
            inner = (*owners, task.id) if task.id else owners
            for section, children in (
                ("block", task.block),
                ("rescue", task.rescue),
                ("always", task.always),
            ):
                out.extend(_flatten(children, (*scope, (task.path, section)), task_tags, inner))
        else:
            out.append(_Instance(task, scope, task_tags, owners))
    return out


def _selected(instance: _Instance, options: PlanOptions) -> bool:
    """--tags / --skip-tags with Ansible's special tags: always, never, all, tagged, untagged."""
    tags = set(instance.tags)
    wanted = options.tags
    if (
        options.skip_tags & tags
        or ("tagged" in options.skip_tags and tags)
        or ("untagged" in options.skip_tags and not tags)
    ):
        return False
    if "never" in tags and not (tags & wanted):
        return False
    if not wanted or "all" in wanted or "always" in tags or tags & wanted:
        return True
    return ("tagged" in wanted and bool(tags)) or ("untagged" in wanted and not tags)


def _batch_sizes(play: Play, scope: Scope, problems: list[Problem]) -> list[str] | None:
    """The `serial:` entries as text (templates rendered); None when the play is not rolling."""
    serial = play.serial
    where = value_location(play, "serial")
    if has_templates(serial):
        try:
            serial = Templar(scope, where).render(serial)
        except UserError as err:
            problems.extend(err.problems)
            return None
    entries = serial if isinstance(serial, list) else [serial]
    if serial is None or serial == [] or entries == [0] or entries == ["0"]:
        return None
    return [str(e).strip() for e in entries]


def _batches(play: Play, hosts: list[str], scope: Scope, problems: list[Problem]) -> list[list[str]]:
    """Rolling batches: counts or percentages of the play's hosts; the last entry repeats."""
    sizes = _batch_sizes(play, scope, problems)
    if not sizes or not hosts:
        return [hosts]
    where = value_location(play, "serial")
    out: list[list[str]] = []
    i, k = 0, 0
    while i < len(hosts):
        raw = sizes[min(k, len(sizes) - 1)]
        try:
            size = math.ceil(len(hosts) * float(raw[:-1]) / 100) if raw.endswith("%") else int(raw)
        except ValueError:
            size = -1
        if size < 0 or (size == 0 and not raw.endswith("%")):
            problems.append(
                Problem(
                    f"serial: {raw!r} is not a count (1 or more) or a percentage",
                    where,
                    hint='e.g. serial: 1, serial: "30%" or serial: [1, "50%"]',
                )
            )
            return [hosts]
        size = max(1, size)
        out.append(hosts[i : i + size])
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
    graph = state.graph
    scope = Scope([state.options.extra_vars, dict(state.inventory.vars)])
    for play in state.playbook.plays:
        hosts = state.play_hosts.get(play.index)
        if not hosts:
            note = f"play {play.index + 1} ({play.name}): no host matches"
            if hosts is not None and not any(n.startswith(f"play {play.index + 1} (") for n in state.notes):
                state.notes.append(note)
            continue
        instances = [i for i in _flatten(play.tasks, (), ()) if _selected(i, state.options)]
        handlers = _flatten(play.handlers, (), ())
        heads: list[str] = []
        tails: list[str] = []
        previous_batch_tails: list[str] = []
        for b, batch in enumerate(_batches(play, hosts, scope, state.problems)):
            tail: dict[str, str | None] = {h: None for h in batch}
            batch_heads: list[str] = []
            if previous_batch_tails:
                barrier = state.add(
                    Node(
                        f"p{play.index}/batch{b}",
                        "barrier",
                        play.index,
                        label=f"play {play.index + 1} batch {b + 1}",
                    )
                )
                for t in previous_batch_tails:
                    graph.add_edge(t, barrier)
                tail = {h: barrier for h in batch}
            for inst in instances:
                _expand_one(state, play, batch, inst, tail, batch_heads)
            for inst in handlers:
                for host in batch:
                    node_id = f"p{play.index}/{inst.task.path}@{host}"
                    state.add(
                        Node(
                            node_id,
                            "handler",
                            play.index,
                            host,
                            inst.task,
                            inst.scope,
                            (),
                            _estimate(inst.task),
                            inst.task.label,
                            inst.tags,
                        )
                    )
                    _chain(graph, tail, host, node_id, batch_heads)
            batch_tails = list(dict.fromkeys(t for t in tail.values() if t is not None))
            if not previous_batch_tails:
                heads = list(dict.fromkeys(batch_heads))
            previous_batch_tails = batch_tails
            tails = batch_tails
        state.heads[play.index] = heads
        state.tails[play.index] = tails


def _expand_one(
    state: BuildState,
    play: Play,
    batch: list[str],
    inst: _Instance,
    tail: dict[str, str | None],
    batch_heads: list[str],
) -> None:
    """The nodes of one task in one batch: one per host, or one shared node for `run_once`."""
    task = inst.task
    run_once = bool(task.run_once) and not isinstance(task.run_once, str)
    shared = tuple(batch) if run_once else ()
    estimate = _estimate(task)
    owners = (task.id, *inst.owners) if task.id else inst.owners
    needs_at = value_location(task, "needs") if task.needs else None
    prefix = f"p{play.index}/{task.path}@"
    ids = [prefix + host for host in (batch[:1] if run_once else batch)]
    for node_id, host in zip(ids, batch, strict=False):
        state.nodes[node_id] = Node(
            node_id, "task", play.index, host, task, inst.scope, shared, estimate, task.label, inst.tags
        )
        for needed in task.needs:
            state.needs.append((node_id, needed, needs_at))
    state.graph.add_nodes_from(ids)  # in one call: a 100,000-node plan pays the per-call cost once
    for owner in owners:
        state.by_task_id.setdefault(owner, []).extend(ids)
    if run_once:  # a run_once node joins every host's chain
        for h in batch:
            _chain(state.graph, tail, h, ids[0], batch_heads)
    else:
        for node_id, host in zip(ids, batch, strict=True):
            _chain(state.graph, tail, host, node_id, batch_heads)


def _chain(graph: nx.DiGraph, tail: dict[str, str | None], host: str, node_id: str, heads: list[str]) -> None:
    previous = tail[host]
    if previous is None:
        heads.append(node_id)
    elif previous != node_id:
        graph.add_edge(previous, node_id)
    tail[host] = node_id


def play_barriers(state: BuildState) -> None:
    """Each play starts only when the previous one has ended on all its hosts."""
    previous: list[str] = []
    for play in state.playbook.plays:
        heads = state.heads.get(play.index)
        if heads is None:
            continue
        if previous:
            barrier = state.add(
                Node(f"p{play.index}/start", "barrier", play.index, label=f"start of play {play.index + 1}")
            )
            for t in previous:
                state.edge(t, barrier)
            for h in heads:
                state.edge(barrier, h)
        previous = state.tails[play.index] or previous


def needs_barriers(state: BuildState) -> None:
    """`needs: [id]`: wait until the named task (or every task of the named block) has ended on every
    host it targets. An id that is not in this plan (left out by --tags or --limit) is noted."""
    known_ids = _all_ids(state.playbook)
    for task_id, locations in known_ids.items():
        if len(locations) > 1:
            state.problems.append(
                Problem(
                    f"task id {task_id!r} is used twice (first at {locations[0]})",
                    locations[1],
                    hint="ids must be unique in a playbook",
                )
            )
    barriers: dict[str, str] = {}
    reported: set[tuple[str, str]] = set()
    for node_id, needed, where in state.needs:
        if needed not in known_ids:
            if (needed, str(where)) not in reported:
                reported.add((needed, str(where)))
                guess = closest(needed, list(known_ids))
                state.problems.append(
                    Problem(
                        f"needs: no task has id {needed!r}",
                        where,
                        hint=f"did you mean {guess!r}?" if guess else "give the task `id: ...`",
                    )
                )
            continue
        targets = state.by_task_id.get(needed)
        if not targets:
            note = f"needs: {needed!r} is not in this plan (left out by --tags/--limit or no host): nothing to wait for"
            if note not in state.notes:
                state.notes.append(note)
            continue
        barrier = barriers.get(needed)
        if barrier is None:
            barrier = state.add(
                Node(f"needs/{needed}", "barrier", state.nodes[targets[0]].play, label=f"after {needed}")
            )
            for t in targets:
                state.edge(t, barrier)
            barriers[needed] = barrier
        state.edge(barrier, node_id)


def _all_ids(playbook: Playbook) -> dict[str, list[Location | None]]:
    ids: dict[str, list[Location | None]] = {}

    def walk(tasks: tuple[Task, ...]) -> None:
        for t in tasks:
            if t.id:
                ids.setdefault(t.id, []).append(value_location(t, "id"))
            walk(t.block + t.rescue + t.always)

    for play in playbook.plays:
        walk(play.tasks)
        walk(play.handlers)
    return ids


def topological_order(graph: nx.DiGraph) -> list[str] | None:
    """A topological order of the graph, or None when it has a cycle (linear either way)."""
    try:
        return list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible:
        return None


def find_cycle(graph: nx.DiGraph) -> list[str] | None:
    """The nodes of one cycle, or None. Linear when there is none (networkx's `find_cycle` over a
    whole 100,000-node plan is not): a topological sort decides, and only a strongly connected
    component that holds a cycle is searched for it."""
    if topological_order(graph) is not None:
        return None
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(n, n) for n in component):
            # search from, and start the report at, the node planned first: the same answer every time
            rank = {n: i for i, n in enumerate(graph) if n in component}
            cycle = [
                a
                for a, _b in nx.find_cycle(graph.subgraph(component), source=min(rank, key=rank.__getitem__))
            ]
            first = min(range(len(cycle)), key=lambda i: rank[cycle[i]])
            return cycle[first:] + cycle[:first]
    return None  # pragma: no cover - a graph that is not a DAG has such a component


def check_cycles(state: BuildState) -> None:
    """A cycle is reported as its tasks, each with file:line, and the barriers it goes through.
    Without one, the topological order is kept: the plan needs it next."""
    state.order = topological_order(state.graph)
    if state.order is not None:
        return
    cycle = find_cycle(state.graph)
    if cycle is None:  # pragma: no cover - no order means a cycle
        return
    steps: list[str] = []
    first_loc = None
    for node_id in cycle:
        node = state.nodes[node_id]
        text = f"{node.label!r} ({node.location})" if node.task is not None else f"[{node.label}]"
        if text not in steps:
            steps.append(text)
            first_loc = first_loc or (node.task.location if node.task is not None else None)
    first = next((s for s in steps if not s.startswith("[")), steps[0])
    start = steps.index(first)
    ordered = steps[start:] + steps[:start]
    state.problems.append(
        Problem(
            "dependency cycle: " + " -> ".join([*ordered, first]),
            first_loc,
            hint="a `needs:` points at a task that itself runs after this one "
            "(later in file order, in a later play or batch, or needing it back)",
        )
    )


STEPS: list[Step] = [select_hosts, expand_tasks, play_barriers, needs_barriers, check_cycles]


def build_plan(
    playbook: Playbook,
    inventory: Inventory,
    options: PlanOptions | None = None,
    registry: ModuleRegistry | None = None,
) -> Plan:
    """Run every step, then the policies; UserError with every problem found."""
    options = options or PlanOptions()
    registry = registry or ModuleRegistry([Path(playbook.path).parent / "library"])
    state = BuildState(playbook, inventory, options, registry)
    with bulk_allocation():
        for step in STEPS:
            step(state)
            if state.problems and step in (select_hosts, check_cycles):
                break
        if state.problems:
            raise UserError.many(state.problems)
        plan = Plan(
            playbook,
            inventory,
            state.graph,
            state.nodes,
            state.play_hosts,
            dict(options.extra_vars),
            notes=state.notes,
            _order=state.order,
        )
        _render_labels(plan)
        edges = plan.graph.number_of_edges()
        context = PolicyContext(
            registry,
            options.prior_resources,
            options.allow_unprotected,
            render_args=lambda node: static_args(plan, node),
        )
        problems = destructive_needs_backup(plan, context)
        _load_product_policies(inventory)
        for _name, policy in registered_policies():
            problems.extend(policy(plan, context))
        plan.notes.extend(context.notes)
        if problems:
            raise UserError.many(problems)
        if plan.graph.number_of_edges() != edges:  # a policy added edges: order and cycles again
            plan._order = None
            check_cycles(state)
            if state.problems:
                raise UserError.many(state.problems)
            plan._order = state.order
    return plan


def _render_labels(plan: Plan) -> None:
    """`name: install {{ target_version }}` shows as `install 7.3` when the value is known before the run
    (as Ansible shows it); a name that needs run-time values (a loop item, a registered result) stays as written."""
    for node in plan.nodes.values():
        if node.task is not None and is_template(node.task.name):
            try:
                node.label = str(Templar(static_scope(plan, node)).render(node.task.name))
            except UserError:
                continue


def _load_product_policies(inventory: Inventory) -> None:
    import importlib

    for section, module_name in (
        ("sagecrm", "modules.sagecrm.product.policies"),
        ("onecrm", "modules.onecrm.product.policies"),
    ):
        if getattr(inventory, section, None) is not None:
            try:
                importlib.import_module(module_name)
            except ModuleNotFoundError as err:
                if err.name != module_name:
                    raise


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
