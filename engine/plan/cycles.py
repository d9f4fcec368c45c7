"""The step that makes sure the graph can run: a topological order, or the cycle that prevents one."""

from __future__ import annotations

from typing import Any

from engine.core.errors import Problem
from engine.plan.digraph import CycleError, DiGraph
from engine.plan.state import BuildState


def topological_order(graph: Any) -> list[str] | None:
    """A topological order of the graph (the plan's `DiGraph` or a networkx one), or None when it
    has a cycle (linear either way)."""
    if not isinstance(graph, DiGraph):
        graph = _plain(graph)
    try:
        return graph.topological_order()
    except CycleError:
        return None


def _plain(graph: Any) -> DiGraph:
    """A copy of a networkx graph (tests build those) in the plan's own class, same order."""
    plain = DiGraph()
    plain.add_nodes_from(graph)
    plain.add_edges_from(graph.edges)
    return plain


def find_cycle(graph: Any) -> list[str] | None:
    """The nodes of one cycle, or None. Linear when there is none (networkx's `find_cycle` over a
    whole 100,000-node plan is not): a topological sort decides, and only a strongly connected
    component that holds a cycle is searched for it, with networkx (imported only then: a plan
    with a cycle is refused, so its cost is paid only on that error path)."""
    if topological_order(graph) is not None:
        return None
    import networkx as nx

    if isinstance(graph, DiGraph):
        graph = graph.to_networkx()
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
