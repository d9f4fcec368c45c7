"""Plan output for people and tools: text, JSON, Graphviz DOT, Mermaid."""

from __future__ import annotations

import json
from typing import Any

from engine.plan.graph import Plan


def _short(loc: str) -> str:
    return loc.rsplit("/", 1)[-1] if loc else ""


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as data: steps with wave and location, dependencies between steps, critical path."""
    levels = plan.levels()
    path, total = plan.critical_path()
    steps = []
    for node in plan.steps():
        steps.append(
            {
                "id": node.id,
                "host": node.host,
                "task": node.label,
                "module": node.task.module if node.task else None,
                "kind": node.kind,
                "play": node.play,
                "wave": levels[node.id] + 1,
                "location": node.location,
                "tags": list(node.tags),
            }
        )
    return {
        "format": "cutover-plan/1",
        "playbook": plan.playbook.path,
        "inventory": plan.inventory.path,
        "estate": plan.inventory.name,
        "timezone": plan.inventory.timezone,
        "steps": steps,
        "edges": [list(e) for e in step_edges(plan)],
        "waves": len(set(levels.values())),
        "critical_path": {"steps": [n.id for n in path], "estimate": total},
        "notes": list(plan.notes),
    }


def step_edges(plan: Plan) -> list[tuple[str, str]]:
    """Dependencies between steps with barriers folded away (for pictures and JSON)."""
    nodes = plan.nodes
    direct: dict[str, set[str]] = {}
    for node_id in reversed(plan.order()):
        succ: set[str] = set()
        for s in plan.graph.successors(node_id):
            if nodes[s].is_step:
                succ.add(s)
            else:
                succ |= direct[s]
        direct[node_id] = succ
    return sorted((a, b) for a in plan.order() if nodes[a].is_step for b in direct[a])


def render_text(plan: Plan) -> str:
    waves = plan.waves()
    path, total = plan.critical_path()
    steps = sum(len(w) for w in waves)
    hosts = sorted({n.host for w in waves for n in w if n.host})
    lines = [
        f"Plan: {plan.playbook.path} on {plan.inventory.name} "
        f"({len(hosts)} hosts, {steps} steps, {len(waves)} waves)"
    ]
    width = max((len(h) for h in hosts), default=4)
    for i, wave in enumerate(waves, 1):
        lines.append(f"wave {i}")
        for node in sorted(wave, key=lambda n: (n.play, n.host or "")):
            extra = " (handler, if notified)" if node.kind == "handler" else ""
            extra += " (run once)" if node.shared_with else ""
            sections = {section for _block, section in node.scope}
            extra += " (rescue, if the block failed)" if "rescue" in sections else ""
            extra += " (always)" if "always" in sections else ""
            lines.append(f"  {node.host or '':<{width}}  {node.label}{extra}  [{_short(node.location)}]")
    chain = " -> ".join(f"{n.host}: {n.label}" for n in path)
    lines.append(f"critical path ({len(path)} steps, estimate {total:g}s): {chain}")
    lines.extend(note_line(note) for note in plan.notes)
    return "\n".join(lines) + "\n"


def note_line(note: str) -> str:
    """A plan note as printed: `note: ...`, or a warning as the warning it is (`warning: ...`)."""
    return note if note.startswith("warning:") else f"note: {note}"


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2) + "\n"


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(plan: Plan) -> str:
    path_ids = {n.id for n in plan.critical_path()[0]}
    lines = ["digraph plan {", "  rankdir=LR;", '  node [shape=box, fontname="sans-serif"];']
    for node in plan.steps():
        style = ", color=red, penwidth=2" if node.id in path_ids else ""
        lines.append(f"  {_dot_id(node.id)} [label={_dot_id(f'{node.host}: {node.label}')}{style}];")
    for a, b in step_edges(plan):
        lines.append(f"  {_dot_id(a)} -> {_dot_id(b)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(plan: Plan) -> str:
    ids = {node.id: f"n{i}" for i, node in enumerate(plan.steps())}
    path_ids = {n.id for n in plan.critical_path()[0]}
    lines = ["flowchart LR"]
    for node in plan.steps():
        label = f"{node.host}: {node.label}".replace('"', "#quot;")
        lines.append(f'  {ids[node.id]}["{label}"]')
    for a, b in step_edges(plan):
        lines.append(f"  {ids[a]} --> {ids[b]}")
    if path_ids:
        lines.append("  classDef critical stroke:#c00,stroke-width:3px")
        lines.append("  class " + ",".join(ids[n] for n in ids if n in path_ids) + " critical")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "dot": render_dot, "mermaid": render_mermaid}
