"""The plan's directed graph on plain dicts: what planning and the scheduler need, without networkx.

Importing networkx costs ~90 ms (its package loads every algorithm), more than a third of a
small run's start-up, while a plan needs only nodes, edges, predecessors, successors and a
topological order. This class keeps networkx's own layout (`_succ` / `_pred`: node -> neighbour
-> edge data, in insertion order), so the orders it yields are networkx's and networkx's
algorithms (`nx.ancestors`, `nx.has_path`, which the products' policies call) accept it as they
would a `networkx.DiGraph`. `to_networkx()` gives the real thing to the paths that want its
algorithms (cycle search, analysis).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class CycleError(ValueError):
    """The graph has a cycle: no topological order exists."""


class DiGraph:
    """A directed graph of hashable nodes, with networkx's `DiGraph` interface where the engine uses it."""

    __networkx_backend__ = "networkx"  # networkx's dispatcher: treat it as one of its own graphs

    def __init__(self, edges: Iterable[tuple[Any, Any]] = ()) -> None:
        self._succ: dict[Any, dict[Any, dict[str, Any]]] = {}
        self._pred: dict[Any, dict[Any, dict[str, Any]]] = {}
        self.graph: dict[str, Any] = {}  # networkx's graph attributes (some of its algorithms read it)
        for a, b in edges:
            self.add_edge(a, b)

    # networkx reads these views directly (e.g. has_path's bidirectional search)
    @property
    def succ(self) -> dict[Any, dict[Any, dict[str, Any]]]:
        return self._succ

    @property
    def pred(self) -> dict[Any, dict[Any, dict[str, Any]]]:
        return self._pred

    adj = succ
    _adj = property(lambda self: self._succ)

    @property
    def nodes(self) -> Any:
        """The nodes in insertion order (iterable, sized, `in`), as networkx's `G.nodes` is."""
        return self._succ.keys()

    @property
    def edges(self) -> list[tuple[Any, Any]]:
        return [(a, b) for a, targets in self._succ.items() for b in targets]

    def is_directed(self) -> bool:
        return True

    def is_multigraph(self) -> bool:
        return False

    def add_node(self, node: Any) -> None:
        if node not in self._succ:
            self._succ[node] = {}
            self._pred[node] = {}

    def add_nodes_from(self, nodes: Iterable[Any]) -> None:
        for node in nodes:
            self.add_node(node)

    def add_edge(self, a: Any, b: Any) -> None:
        self.add_node(a)
        self.add_node(b)
        if b not in self._succ[a]:
            data: dict[str, Any] = {}
            self._succ[a][b] = data
            self._pred[b][a] = data

    def add_edges_from(self, edges: Iterable[tuple[Any, Any]]) -> None:
        for a, b in edges:
            self.add_edge(a, b)

    def has_node(self, node: Any) -> bool:
        return node in self._succ

    def has_edge(self, a: Any, b: Any) -> bool:
        return b in self._succ.get(a, ())

    def successors(self, node: Any) -> Iterator[Any]:
        return iter(self._succ[node])

    neighbors = successors

    def predecessors(self, node: Any) -> Iterator[Any]:
        return iter(self._pred[node])

    def number_of_nodes(self) -> int:
        return len(self._succ)

    def number_of_edges(self) -> int:
        return sum(len(targets) for targets in self._succ.values())

    def in_degree(self, node: Any = None) -> Any:
        """One node's in-degree, or (node, degree) pairs for all of them (networkx's two forms)."""
        if node is not None and node in self._pred:
            return len(self._pred[node])
        return [(n, len(p)) for n, p in self._pred.items()]

    def subgraph(self, nodes: Iterable[Any]) -> DiGraph:
        keep = set(nodes)
        sub = DiGraph()
        sub.add_nodes_from(n for n in self._succ if n in keep)
        sub.add_edges_from((a, b) for a, b in self.edges if a in keep and b in keep)
        return sub

    def __iter__(self) -> Iterator[Any]:
        return iter(self._succ)

    def __len__(self) -> int:
        return len(self._succ)

    def __contains__(self, node: object) -> bool:
        try:
            return node in self._succ
        except TypeError:
            return False

    def __getitem__(self, node: Any) -> dict[Any, dict[str, Any]]:
        return self._succ[node]

    def topological_order(self) -> list[Any]:
        """networkx's `topological_sort` order (Kahn's algorithm by generations, in insertion
        order), so plans and their goldens are the same as with networkx. CycleError on a cycle."""
        indegree = {n: len(p) for n, p in self._pred.items() if p}
        generation = [n for n, p in self._pred.items() if not p]
        order: list[Any] = []
        while generation:
            order.extend(generation)
            following = []
            for node in generation:
                for child in self._succ[node]:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        following.append(child)
                        del indegree[child]
            generation = following
        if indegree:
            raise CycleError("the graph has a cycle")
        return order

    def to_networkx(self) -> Any:
        """The same graph as a `networkx.DiGraph` (imports networkx: for analysis, not the hot path)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._succ)
        graph.add_edges_from(self.edges)
        return graph
