"""The steps that turn plays into nodes: which hosts each play targets, then one node per task and host.

`select_hosts` matches each play's pattern (and `--limit`); `expand_tasks` walks each play's
tasks in file order and chains every host's nodes, in `serial:` batches, with `run_once` tasks
as one node joining every host's chain and handlers at the end of the play.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.errors import Location, Problem, UserError
from engine.core.model import Play, Task
from engine.load.templating import Scope, Templar, has_templates
from engine.plan.digraph import DiGraph
from engine.plan.graph import Node
from engine.plan.patterns import match_hosts
from engine.plan.state import BuildState, PlanOptions, value_location

#: where `--limit` mistakes point: the option's text is the "file", its terms the columns
LIMIT_LOCATION = Location("--limit", 1, 1)


@dataclass
class _Instance:
    """A task as it appears in a play's flattened order, with its enclosing blocks."""

    task: Task
    scope: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    #: ids of the enclosing blocks: `needs: [block id]` waits for every task inside the block
    owners: tuple[str, ...] = ()


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


def _chain(graph: DiGraph, tail: dict[str, str | None], host: str, node_id: str, heads: list[str]) -> None:
    previous = tail[host]
    if previous is None:
        heads.append(node_id)
    elif previous != node_id:
        graph.add_edge(previous, node_id)
    tail[host] = node_id
