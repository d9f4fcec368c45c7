"""The report's two pictures, drawn here as inline SVG: the timeline (Gantt) and the plan graph.

No charting library and no CDN: the report must open on an air-gapped laptop years later and
print the same. Every text placed in the SVG (host and task names come from playbooks and
hosts, so from people and remote machines) goes through `html.escape`; ids in links are the
renderer's own anchors (`n0`, `n1`, ...), never a node id pasted into an attribute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

#: the status palette, chosen to stay readable printed in black and white (dark, distinct)
COLORS = {
    "ok": "#2e7d32",
    "changed": "#a35a00",
    "would-change": "#6a1b9a",
    "skipped": "#757575",
    "failed": "#c62828",
    "blocked": "#8e244d",
    "running": "#1565c0",
    "not-run": "#9e9e9e",
}
CRITICAL = "#d50000"
#: above this many steps the plan graph is not drawn (it would be unreadable, and huge)
MAX_GRAPH_STEPS = 400
#: above this many steps the timeline draws one row per host instead of one per step
MAX_GANTT_ROWS = 1500

ROW = 20
LABEL_WIDTH = 300
CHART_WIDTH = 640


def color(status: str) -> str:
    return COLORS.get(status, "#616161")


def clip(text: str, limit: int) -> str:
    """Text cut to `limit` characters with an ellipsis (the full text goes into a <title>)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def tick_step(span: float, wanted: int = 8) -> float:
    """A 1-2-5 step giving about `wanted` ticks over `span` seconds."""
    raw = max(span, 1e-3) / wanted
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def seconds_label(value: float) -> str:
    if value >= 120:
        minutes, sec = divmod(int(round(value)), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"
    return f"{value:g} s" if value >= 1 or value == 0 else f"{value * 1000:g} ms"


def gantt(nodes: Sequence[Mapping[str, Any]], anchors: Mapping[str, str]) -> str:
    """Bars of every node that ran, one row each, grouped under its host; critical path outlined."""
    placed = [n for n in nodes if n.get("timeline")]
    if not placed:
        return ""
    span = max(max(n["timeline"]["end"] for n in placed), 1e-3)
    hosts: dict[str, list[Mapping[str, Any]]] = {}
    for n in placed:
        hosts.setdefault(n.get("host") or "(controller)", []).append(n)
    step = tick_step(span)
    scale = CHART_WIDTH / (math.ceil(span / step) * step)
    compact = len(placed) > MAX_GANTT_ROWS  # one row per host: a chart of 100,000 rows helps nobody
    rows = len(hosts) * 2 if compact else sum(len(v) + 1 for v in hosts.values())
    top = 28
    height = top + rows * ROW + 8
    width = LABEL_WIDTH + CHART_WIDTH + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="timeline of every step per host">'
    ]
    ticks = int(math.ceil(span / step))
    for i in range(ticks + 1):
        x = LABEL_WIDTH + i * step * scale
        out.append(f'<line class="tick" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}"/>')
        out.append(_text(x, top - 10, seconds_label(i * step), "axis", "middle"))
    y = top
    for host in sorted(hosts):
        out.append(f'<rect class="band" x="0" y="{y}" width="{width}" height="{ROW}"/>')
        out.append(_text(6, y + 14, host, "host"))
        y += ROW
        for n in sorted(hosts[host], key=lambda n: n["timeline"]["start"]):
            out.append(_bar(n, y, scale, anchors, label=not compact))
            y += 0 if compact else ROW
        y += ROW if compact else 0
    out.append("</svg>")
    return "\n".join(out)


def _bar(n: Mapping[str, Any], y: float, scale: float, anchors: Mapping[str, str], label: bool = True) -> str:
    start, end = n["timeline"]["start"], n["timeline"]["end"]
    x = LABEL_WIDTH + start * scale
    w = max(3.0, (end - start) * scale)
    name = clip(str(n.get("task") or n["id"]), 44) + (" \u25c6" if n.get("critical") else "")
    crit = ""
    if n.get("critical"):  # a red rule under the bar: an outline would make a short bar look failed
        crit = (
            f'<rect class="crit" x="{x:.1f}" y="{y + ROW - 3}" width="{max(w, 8.0):.1f}" height="2"'
            f' fill="{CRITICAL}"/>'
        )
    tip = (
        f"{n.get('host')}: {n.get('task')} | {n['status']} | start +{seconds_label(start)}, "
        f"took {seconds_label(end - start)}" + (" | critical path" if n.get("critical") else "")
    )
    return (
        f'<a href="#{anchors[n["id"]]}"><g class="bar"><title>{escape(tip)}</title>'
        + (_text(16, y + 14, name, "task") if label else "")
        + f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{ROW - 8}" rx="2"'
        f' fill="{color(n["status"])}"/>{crit}</g></a>'
    )


def plan_graph(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Sequence[str]],
    critical: Sequence[str],
    anchors: Mapping[str, str],
) -> str:
    """The plan top-down: one row per wave (so it fits a page's width when printed), edges between
    steps, the critical path in red."""
    waved = [n for n in nodes if isinstance(n.get("wave"), int)]
    if not waved or len(waved) > MAX_GRAPH_STEPS:
        return ""
    columns: dict[int, list[Mapping[str, Any]]] = {}
    for n in waved:
        columns.setdefault(n["wave"], []).append(n)
    preds: dict[str, list[str]] = {}
    for a, b in edges:
        preds.setdefault(b, []).append(a)
    box_w, box_h, gap_x, gap_y, pad = 180, 36, 14, 26, 10
    pos: dict[str, tuple[float, float]] = {}
    for row, wave in enumerate(sorted(columns)):
        order = _barycentre(columns[wave], preds, pos)
        for col, n in enumerate(order):
            pos[n["id"]] = (pad + col * (box_w + gap_x), pad + row * (box_h + gap_y))
    width = pad * 2 + max(len(v) for v in columns.values()) * (box_w + gap_x) - gap_x
    height = pad * 2 + len(columns) * (box_h + gap_y) - gap_y
    on_path = set(zip(critical, critical[1:], strict=False))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plan" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="plan graph by wave">'
    ]
    for a, b in edges:
        if a not in pos or b not in pos:
            continue
        (x1, y1), (x2, y2) = pos[a], pos[b]
        x1, y1, x2 = x1 + box_w / 2, y1 + box_h, x2 + box_w / 2
        mid = (y1 + y2) / 2
        cls = "edge crit" if (a, b) in on_path else "edge"
        out.append(
            f'<path class="{cls}" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f}'
            f' {x2:.1f},{y2:.1f}"/>'
        )
    critical_set = set(critical)
    by_id = {n["id"]: n for n in waved}
    for node_id, (x, y) in pos.items():
        n = by_id[node_id]
        stroke = CRITICAL if node_id in critical_set else color(n["status"])
        tip = f"{n.get('host')}: {n.get('task')} | wave {n['wave']} | {n['status']}"
        out.append(
            f'<a href="#{anchors[node_id]}"><g class="step"><title>{escape(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="4" fill="{color(n["status"])}"'
            f' fill-opacity="0.12" stroke="{stroke}" stroke-width="{2.5 if node_id in critical_set else 1}"/>'
            + _text(x + 6, y + 14, clip(str(n.get("host") or ""), 26), "host")
            + _text(x + 6, y + 29, clip(str(n.get("task") or ""), 28), "task")
            + "</g></a>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _barycentre(
    column: list[Mapping[str, Any]], preds: Mapping[str, list[str]], pos: Mapping[str, tuple[float, float]]
) -> list[Mapping[str, Any]]:
    """Order a wave by the mean across-position of its predecessors (fewer crossings), then by host."""

    def key(n: Mapping[str, Any]) -> tuple[float, str, str]:
        xs = [pos[p][0] for p in preds.get(n["id"], ()) if p in pos]
        return (sum(xs) / len(xs) if xs else math.inf, str(n.get("host") or ""), n["id"])

    return sorted(column, key=key)
