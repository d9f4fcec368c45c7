"""Every gate a plan will ask, before the run: for `plan` and `validate`, and to check `--approve`.

At 22:00 an operator (or a script) approving gates on the command line must know their ids;
a typo in `--approve` would otherwise surface only when the run reaches the gate, hours in, as
"not approved". Each module says which gates a step asks (`Module.gates`, engine/api/module.py):
the `gate` module its `id`, the Sage CRM installer its operator gate when the server has no
response file. A gate whose id is a template known only at run time is listed as such; then an
unknown `--approve` id is not refused (it may be that one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.api.policies import overrides
from engine.api.registry import ModuleRegistry
from engine.core.errors import UserError, closest


@dataclass(frozen=True)
class PlannedGate:
    """A gate of the plan: where it is asked, what it asks, and when it may be answered."""

    id: str | None  # None: a template known only at run time
    host: str
    prompt: str
    window: str
    location: str


def planned_gates(plan: Any) -> list[PlannedGate]:
    """The plan's gates in run order."""
    from engine.plan.static import static_args

    registry = ModuleRegistry([Path(plan.playbook.path).parent / "library"])
    found = []
    for node in plan.steps():
        if node.task is None or not node.task.module:
            continue
        module = registry.get(node.task.module)
        if not overrides(module, "gates"):
            continue
        args = static_args(plan, node)
        host = plan.inventory.hosts.get(node.host) if node.host else None
        if args is None:  # values known at run time; a static `id:` is still the gate's name
            known = _static_id(node.task.args)
            if known is not None or node.task.module == "gate":
                found.append(PlannedGate(known, str(node.host), "(known at run time)", _window(node.task, {}),
                                         node.location))
            continue
        if host is None:
            continue
        for gate in module.gates(args, host):
            found.append(PlannedGate(str(gate["id"]), str(node.host), str(gate.get("prompt", "")),
                                     _window(node.task, gate), node.location))
    return found


def _static_id(args: Any) -> str | None:
    """The `id:` argument of a gate step when it is written out (no template), else None."""
    value = args.get("id") if hasattr(args, "get") else None
    return value if isinstance(value, str) and "{{" not in value and "{%" not in value else None


def _window(task: Any, gate: dict[str, Any]) -> str:
    parts = []
    if getattr(task, "not_before", None):
        parts.append(f"not before {task.not_before}")
    if getattr(task, "not_after", None):
        parts.append(f"not after {task.not_after}")
    deadline = gate.get("deadline") or getattr(task, "deadline", None)
    if deadline:
        parts.append(f"answer by {deadline}")
    return ", ".join(parts) or "any time during the run"


def gate_lines(gates: list[PlannedGate], zone: str) -> list[str]:
    """The listing as `plan` and `validate` print it."""
    if not gates:
        return ["gates: none"]
    lines = [f"gates ({len(gates)}; times in {zone}):"]
    for gate in gates:
        lines.append(f"  {gate.id or '<templated id>'}  on {gate.host}  [{gate.window}]  {gate.location}")
        lines.append(f"      asks: {gate.prompt}")
    return lines


def check_approvals(plan: Any, approved: list[str]) -> None:
    """Refuse (exit 2, before anything runs) an `--approve` id the plan has no gate for."""
    names = [item.partition("=")[0] for item in approved]
    names = [n for n in names if n != "all"]
    if not names:
        return
    gates = planned_gates(plan)
    if any(g.id is None for g in gates):
        return  # a gate named at run time may be any of them
    known = {g.id for g in gates if g.id}
    unknown = [n for n in names if n not in known]
    if unknown:
        suggestion = closest(unknown[0], known)
        raise UserError(
            f"--approve {', '.join(unknown)}: the plan has no such gate"
            + (f" (did you mean {suggestion}?)" if suggestion else ""),
            hint=f"its gates: {', '.join(sorted(known)) or 'none'} (`cutover plan` lists them)",
        )
