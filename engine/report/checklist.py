"""The procedure's checklist as a client signs it: each item, its evidence or its signature.

Items come from three places in the journal, because the vendors' checklists mix machine
checks and human sign-offs:
- gates (a person approved, refused, or was never asked: who, when, comment);
- findings of category `checklist` (an automated check: detail `{item, evidence, ok}`);
- steps tagged `checklist` in the plan (the step's own outcome is the evidence).
A gate step that never recorded an answer (blocked, not reached) is listed as unsigned: an
item that silently disappears from a sign-off sheet is the failure this section exists to stop.

Each item is listed once. A tagged step that recorded its own checklist finding (its registered
output names the finding's `item`, on the same host, as `crm_checklist` does) is one item: the
finding's verdict and evidence, at the step's place and link; a step that ran fine proves only
that the check ran. A tagged step that was skipped (`when:` false, a guard) is `skipped`: neither
passed nor failed; so is a gate skipped by its `when:`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.api.module import Finding

PASSING = frozenset({"ok", "changed"})


#: states of an item, as the report schema lists them; `ok` is true for `signed` and `passed`
STATES = ("signed", "approved-by-flag", "passed", "refused", "unsigned", "failed", "not-run", "skipped")
#: the comment of a gate answered by `--approve-all` (engine/cli/gates.py): nobody signed it, so the
#: report says "approved by flag" and the item does not count as signed
APPROVED_BY_FLAG = "approved by flag --approve-all (nobody signed)"


def item(
    name: str, source: str, state: str, *, host: str | None = None, node_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """One checklist entry; `fields` may set gate, by, at, comment, evidence (else None)."""
    if state not in STATES:
        raise ValueError(f"checklist state {state!r} is not one of {', '.join(STATES)}")
    entry = {
        "item": name,
        "source": source,
        "gate": None,
        "host": host,
        "node_id": node_id,
        "ok": state in ("signed", "passed"),
        "state": state,
        "by": None,
        "at": None,
        "comment": None,
        "evidence": None,
    }
    entry.update(fields)
    return entry


def _gate_state(row: Mapping[str, Any]) -> str:
    if row.get("approved"):
        flagged = row.get("comment") == APPROVED_BY_FLAG or str(row.get("by_whom") or "").endswith("(--approve-all)")
        return "approved-by-flag" if flagged else "signed"
    return "refused" if row.get("by_whom") else "unsigned"


def _step_evidence(node: Mapping[str, Any]) -> str:
    why = node.get("error") or node.get("msg") or ""
    return f"step {node['status']}" + (f": {why}" if why else "")


def gate_items(
    gates: Iterable[Mapping[str, Any]], nodes: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One item per recorded gate answer."""
    items = []
    for row in gates:
        node = nodes.get(row.get("node_id") or "", {})
        items.append(
            item(
                node.get("task") or row.get("gate_id") or "gate",
                "gate",
                _gate_state(row),
                host=node.get("host"),
                node_id=row.get("node_id"),
                gate=row.get("gate_id"),
                by=row.get("by_whom"),
                at=row.get("at"),
                comment=row.get("comment"),
            )
        )
    return items


def unanswered_gate_items(nodes: Sequence[Mapping[str, Any]], answered: set[str]) -> list[dict[str, Any]]:
    """Gate steps with no recorded answer: unsigned (blocked, not reached, still running), or skipped
    by design (a false `when:`: the gate was not needed, e.g. an automatic check passed instead)."""
    return [
        item(
            node.get("task") or node["id"],
            "gate",
            "skipped" if node.get("status") == "skipped" else "unsigned",
            host=node.get("host"),
            node_id=node["id"],
            evidence=_step_evidence(node),
        )
        for node in nodes
        if node.get("module") == "gate" and node["id"] not in answered
    ]


def finding_items(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Automated checks reported by modules as findings of category `checklist`."""
    items = []
    for f in findings:
        if f.category != "checklist":
            continue
        detail = f.detail or {}
        state = "passed" if detail.get("ok") is True else "failed"
        items.append(
            item(
                str(detail.get("item") or f.message),
                "automated",
                state,
                host=f.host,
                evidence=_text(detail.get("evidence")) or f.message,
            )
        )
    return items


def _step_state(node: Mapping[str, Any]) -> str:
    if node["status"] in PASSING:
        return "passed"
    if node["status"] in ("not-run", "blocked"):
        return "not-run"
    return "skipped" if node["status"] == "skipped" else "failed"


def _own_finding(node: Mapping[str, Any], found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The checklist finding this step recorded (same host, its output names the item), taken out of `found`."""
    output = node.get("output")
    named = output.get("item") if isinstance(output, Mapping) else None
    if not named:
        return None
    for index, entry in enumerate(found):
        if entry["item"] == str(named) and entry["host"] == node.get("host"):
            return found.pop(index)
    return None


def tagged_step_items(
    nodes: Sequence[Mapping[str, Any]], found: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Steps tagged `checklist`: passed when the step ended ok or changed, skipped when skipped.

    A step's own finding (see `_own_finding`) is taken out of `found` and gives the verdict.
    """
    found = [] if found is None else found
    items = []
    for node in nodes:
        if "checklist" not in (node.get("tags") or ()) or node.get("module") == "gate":
            continue
        entry = item(
            node.get("task") or node["id"],
            "automated",
            _step_state(node),
            host=node.get("host"),
            node_id=node["id"],
            at=node.get("ended"),
            evidence=_step_evidence(node),
        )
        own = _own_finding(node, found)
        if own is not None:
            entry.update(item=own["item"], state=own["state"], ok=own["ok"], evidence=own["evidence"])
        items.append(entry)
    return items


def checklist(
    nodes: Sequence[Mapping[str, Any]], gates: Sequence[Mapping[str, Any]], findings: Sequence[Finding]
) -> list[dict[str, Any]]:
    """Every checklist item of the run, signed or not (see the module docstring).

    Items of steps come in the order the run met them, the hosts of one item together (a
    sign-off sheet reads item by item); automated findings follow.
    """
    by_id = {n["id"]: n for n in nodes}
    answered = {g["node_id"] for g in gates if g.get("node_id")}
    position = {n["id"]: i for i, n in enumerate(nodes)}
    found = finding_items(findings)
    tagged = tagged_step_items(nodes, found)
    steps = [*gate_items(gates, by_id), *unanswered_gate_items(nodes, answered), *tagged]
    first: dict[str, int] = {}
    for item in sorted(steps, key=lambda i: position.get(i["node_id"], len(position))):
        first.setdefault(item["item"], len(first))
    steps.sort(key=lambda i: (first[i["item"]], str(i["host"] or "")))
    return [*steps, *found]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
