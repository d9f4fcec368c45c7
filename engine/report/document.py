"""The report as data: one JSON document (`cutover-report/1`) built from the journal alone.

HTML and JUnit are renderings of this document, so the three formats cannot disagree, and
the JSON a client archives is exactly what the HTML showed. Nothing is re-planned or re-read
from hosts: a report of a run from last month must say what happened then. The plan stored
with the run (`runs.plan`) gives waves, edges and the critical path; without it the report
degrades to per-host order and says so.

Everything is passed through the run's Masker when one is given (the journal is already
masked; this is the second belt), and every text is treated as hostile by the renderers.
"""

from __future__ import annotations

import json
import shlex
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from engine import __version__
from engine.api.module import utcnow
from engine.core.errors import UserError
from engine.journal.attempts import attempts
from engine.report.checklist import checklist
from engine.report.glance import glance
from engine.report.restorations import restored_sentence, used_artifacts
from engine.report.timeline import Span, parse_time, predecessors, schedule

REPORT_FORMAT = "cutover-report/1"
#: every status a node can have in a report; `not-run` = in the plan, never started
STATUSES = ("ok", "changed", "would-change", "skipped", "failed", "blocked", "running", "not-run")
#: worst first: a host's status is the worst of its nodes'
SEVERITY = ("failed", "running", "blocked", "not-run", "would-change", "changed", "ok", "skipped")
#: characters of a node's registered output kept in the report (the journal keeps all of it)
OUTPUT_LIMIT = 100_000
DEFAULT_STATE_DIR = ".cutover"


def build_report(
    journal: Any,
    run_id: str,
    *,
    masker: Any = None,
    simulated: bool | None = None,
    state_dir: str | None = None,
) -> dict[str, Any]:
    """The `cutover-report/1` document of one run (see engine/schemas/report.schema.json)."""
    run = journal.run(run_id)
    if run is None:
        raise UserError(f"no run {run_id!r} in the journal", hint="`cutover runs` lists them")
    plan = stored_plan(run.get("plan"))
    nodes = node_entries(journal.nodes(run_id), plan, run.get("started"))
    gates = [_gate_row(g) for g in journal.gates(run_id)]
    findings = journal.findings(run_id)
    section = run_section(run, simulated)
    ends = [n["timeline"]["end"] for n in nodes if n["timeline"]]
    if section["duration"] is not None and ends:
        # start and end are cut to the second: a run of 0.3 s must not say 0
        section["duration"] = round(max(section["duration"], max(ends)), 3)
    doc: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "generator": f"cutover {__version__}",
        "generated": utcnow(),
        "run": section,
        "commands": commands(run, state_dir),
        "counts": count(nodes),
        "hosts": host_entries(nodes),
        "artifacts": [artifact_entry(a) for a in journal.artifact_rows(run_id)],
        "nodes": nodes,
        "plan": plan_section(plan),
        "findings": [f.to_dict() for f in findings if f.category != "checklist"],
        "checklist": checklist(nodes, gates, findings),
        "gates": gates,
    }
    doc["restored"] = restored_entries(journal, run, nodes)
    doc["attempts"] = attempts(journal.events(run_id), {n["id"]: n for n in nodes})
    doc["glance"] = glance(doc)
    return masker.mask(doc) if masker is not None else doc


def restored_entries(journal: Any, run: Mapping[str, Any], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For a rollback: the earlier run's artifacts it restored from, each with its sentence."""
    parent = run.get("parent_run")
    if run.get("kind") != "rollback" or not parent:
        return []
    prior = [artifact_entry(a) for a in journal.artifact_rows(parent)]
    return [{**entry, "from_run": parent, "sentence": restored_sentence(entry, str(parent))}
            for entry in used_artifacts(nodes, prior)]


def stored_plan(value: Any) -> dict[str, Any] | None:
    """The plan recorded at run start (engine.plan.render.plan_to_dict), if it is usable."""
    if not isinstance(value, Mapping) or not str(value.get("format", "")).startswith("cutover-plan/"):
        return None
    if not isinstance(value.get("steps"), list) or not isinstance(value.get("edges"), list):
        return None
    return dict(value)


def run_section(run: Mapping[str, Any], simulated: bool | None) -> dict[str, Any]:
    started, ended = run.get("started"), run.get("ended")
    begin, end = parse_time(started), parse_time(ended)
    if simulated is None:
        simulated = bool(run.get("simulated"))
    notes = run.get("notes") or []
    return {
        "id": run["id"],
        "kind": run.get("kind") or "run",
        "status": run.get("status") or "unknown",
        "estate": run.get("estate"),
        "playbook": run.get("playbook"),
        "inventory": run.get("inventory"),
        "playbook_hash": run.get("playbook_hash"),
        "inventory_hash": run.get("inventory_hash"),
        "operator": run.get("operator"),
        "controller": run.get("controller"),
        "started": started,
        "ended": ended,
        "duration": round(end - begin, 3) if begin is not None and end is not None else None,
        "check_mode": bool(run.get("check_mode")),
        "simulated": bool(simulated),
        "allow_unprotected": bool(run.get("allow_unprotected")),
        "parent_run": run.get("parent_run"),
        "resumes": int(run.get("resumes") or 0),
        "args": run.get("args") if isinstance(run.get("args"), dict) else {},
        "notes": [str(n) for n in notes] if isinstance(notes, list) else [str(notes)],
    }


def commands(run: Mapping[str, Any], state_dir: str | None) -> dict[str, str | None]:
    """The commands an operator copies to resume this run or roll it back from its artifacts."""
    extra = f" --state-dir {shlex.quote(state_dir)}" if state_dir and state_dir != DEFAULT_STATE_DIR else ""
    run_id = shlex.quote(str(run["id"]))
    playbook = str(run.get("playbook") or "")
    rollback = None
    if PurePath(playbook).name != "rollback.yml":
        book = (
            str(PurePath(playbook).parent / "rollback.yml") if playbook else "rollback.yml"
        )
        inventory = shlex.quote(str(run.get("inventory") or "INVENTORY"))
        rollback = f"cutover run {shlex.quote(book)} -i {inventory} --from-run {run_id}{extra}"
    return {"resume": f"cutover resume {run_id}{extra}", "rollback": rollback}


def node_entries(
    rows: Sequence[Mapping[str, Any]], plan: Mapping[str, Any] | None, run_started: str | None
) -> list[dict[str, Any]]:
    """Journal nodes plus the plan's steps that never started, in the plan's order."""
    steps = {s["id"]: s for s in plan["steps"]} if plan else {}
    critical = set(plan.get("critical_path", {}).get("steps", [])) if plan else set()
    position = {step_id: i for i, step_id in enumerate(steps)}
    recorded = {r["node_id"]: r for r in rows}
    merged: list[Mapping[str, Any]] = list(rows)
    merged += [_not_run(step) for step_id, step in steps.items() if step_id not in recorded]
    merged.sort(key=lambda r: position.get(r["node_id"], len(position)))
    spans = schedule(merged, run_started, plan["edges"] if plan else None)
    causes = blocked_causes(merged, plan["edges"] if plan else None)
    out = [
        _node(r, steps.get(r["node_id"], {}), spans.get(r["node_id"]), r["node_id"] in critical, causes)
        for r in merged
    ]
    out.sort(key=lambda n: (n["timeline"] is None, n["timeline"]["start"] if n["timeline"] else 0))
    return out


def _not_run(step: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "node_id": step["id"],
        "host": step.get("host"),
        "task": step.get("task"),
        "module": step.get("module"),
        "location": step.get("location"),
        "play": step.get("play"),
        "status": "not-run",
        "attempts": 0,
    }


def _node(
    row: Mapping[str, Any], step: Mapping[str, Any], span: Span | None, critical: bool, causes: dict[str, str]
) -> dict[str, Any]:
    output, truncated = _bounded(row.get("result"))
    return {
        "id": row["node_id"],
        "host": row.get("host"),
        "task": row.get("task") or step.get("task") or row["node_id"],
        "module": row.get("module"),
        "location": row.get("location") or None,
        "play": row.get("play"),
        "kind": step.get("kind"),
        "wave": step.get("wave"),
        "tags": list(step.get("tags") or []),
        "critical": critical,
        "status": row.get("status") or "running",
        "started": row.get("started"),
        "ended": row.get("ended"),
        "duration": row.get("duration"),
        "attempts": int(row.get("attempts") or 0),
        "msg": row.get("msg") or None,
        "error": row.get("error") or None,
        "blocked_by": causes.get(row["node_id"]),
        "diff": row.get("diff"),
        "output": output,
        "output_truncated": truncated,
        "timeline": {"start": round(span.start, 6), "end": round(span.end, 6)} if span else None,
    }


def _bounded(value: Any) -> tuple[Any, bool]:
    """The registered output, or its first OUTPUT_LIMIT characters as text when it is larger."""
    if value is None:
        return None, False
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= OUTPUT_LIMIT:
        return value, False
    return text[:OUTPUT_LIMIT], True


def host_streams(output: Any) -> list[tuple[str, str]]:
    """What the host printed (stderr first: it usually holds the cause), for a failed step."""
    if not isinstance(output, Mapping):
        return []
    return [
        (key, output[key])
        for key in ("stderr", "stdout")
        if isinstance(output.get(key), str) and output[key].strip()
    ]


def blocked_causes(
    rows: Sequence[Mapping[str, Any]], edges: Sequence[Sequence[str]] | None
) -> dict[str, str]:
    """For each blocked node, the failed node that blocked it (nearest failed ancestor)."""
    status = {r["node_id"]: r.get("status") for r in rows}
    preds = predecessors(rows, edges)
    causes: dict[str, str] = {}
    for node_id, st in status.items():
        if st != "blocked":
            continue
        seen, frontier = {node_id}, deque(preds.get(node_id, ()))
        while frontier:
            current = frontier.popleft()
            if current in seen:
                continue
            seen.add(current)
            if status.get(current) == "failed":
                causes[node_id] = current
                break
            frontier.extend(preds.get(current, ()))
    return causes


def count(nodes: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for n in nodes:
        counts[n["status"]] = counts.get(n["status"], 0) + 1
    return counts


def host_entries(nodes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each host with its counts and its worst status, in the order hosts first appear."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for n in nodes:
        grouped.setdefault(n.get("host") or "(controller)", []).append(n)
    out = []
    for name in sorted(grouped):
        counts = count(grouped[name])
        worst = next((s for s in SEVERITY if counts.get(s)), "ok")
        out.append({"name": name, "status": worst, "counts": counts})
    return out


def artifact_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    meta = row.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = {"raw": meta}
    return {
        "node_id": row.get("node_id"),
        "kind": row.get("kind"),
        "resource": row.get("resource"),
        "location": row.get("location"),
        "host": row.get("host"),
        "size": row.get("size"),
        "sha256": row.get("sha256"),
        "verified": bool(row.get("verified")),
        "taken_at": row.get("taken_at"),
        "meta": meta if isinstance(meta, dict) else {},
    }


def plan_section(plan: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    path = plan.get("critical_path") or {}
    return {
        "format": plan.get("format"),
        "waves": plan.get("waves"),
        "edges": [list(e) for e in plan["edges"]],
        "critical_path": list(path.get("steps") or []),
        "estimate": path.get("estimate"),
        "notes": [str(n) for n in plan.get("notes") or []],
    }


def _gate_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "gate_id": row.get("gate_id"),
        "node_id": row.get("node_id"),
        "approved": bool(row.get("approved")),
        "by_whom": row.get("by_whom"),
        "at": row.get("at"),
        "comment": row.get("comment"),
    }
