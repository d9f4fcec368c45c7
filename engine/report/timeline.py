"""When each node ran, as offsets from the run's start, for the Gantt chart.

The journal stores start and end times to the second (the engine's one time format) and each
node's duration to the microsecond. A run of short steps would put every bar at 0 s with
seconds alone, so the schedule is rebuilt: a node starts at its recorded start, or later if a
node it waits for (a plan edge, or the previous node on the same host when the plan is not
stored) ended later, or if its recorded end (also cut to the second) says it must have; it
ends `duration` seconds after that. The result never starts a node before what it depended
on, which is what a reader of the chart checks first, and stays within a second of the truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch for an ISO-8601 time (naive times are taken as UTC), or None."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Span:
    """A bar of the chart: seconds from the run's start."""

    start: float
    end: float


def predecessors(
    nodes: Sequence[Mapping[str, Any]], edges: Iterable[Sequence[str]] | None
) -> dict[str, list[str]]:
    """What each node waited for: the plan's edges, or else the previous node on its host."""
    preds: dict[str, list[str]] = {n["node_id"]: [] for n in nodes}
    if edges is not None:
        for a, b in edges:
            if b in preds and a in preds:
                preds[b].append(a)
        return preds
    last_on_host: dict[str, str] = {}
    for n in nodes:
        host = n.get("host") or ""
        if host in last_on_host:
            preds[n["node_id"]].append(last_on_host[host])
        last_on_host[host] = n["node_id"]
    return preds


def schedule(
    nodes: Sequence[Mapping[str, Any]], run_started: str | None, edges: Iterable[Sequence[str]] | None
) -> dict[str, Span]:
    """Bars for the nodes that started, keyed by node id (see the module docstring).

    `nodes` come in an order where a node follows what it waits for (the plan's order); a
    predecessor met later is ignored rather than followed, so a long chain costs no recursion.
    """
    origin = parse_time(run_started)
    if origin is None:
        origin = min((t for n in nodes if (t := parse_time(n.get("started"))) is not None), default=0.0)
    preds = predecessors(nodes, edges)
    spans: dict[str, Span] = {}
    for node in nodes:
        begin = parse_time(node.get("started"))
        if begin is None:
            continue
        took = _duration(node, begin)
        start = max(0.0, begin - origin)
        ended = parse_time(node.get("ended"))
        if ended is not None:
            start = max(start, ended - origin - took)
        for pred in preds[node["node_id"]]:
            span = spans.get(pred)
            if span is not None and span.end > start:
                start = span.end
        spans[node["node_id"]] = Span(start, start + took)
    return spans


def _duration(node: Mapping[str, Any], begin: float) -> float:
    """The recorded duration; for a node that never ended (a crash), zero."""
    duration = node.get("duration")
    if isinstance(duration, int | float) and duration >= 0:
        return float(duration)
    end = parse_time(node.get("ended"))
    return max(0.0, end - begin) if end is not None else 0.0
