"""Gates for repairs a person made: approved only by naming the gate's own id.

The guide says of the upgrade log's "NB doit être réparé" lines and failed scripts "Vous devez
corriger ces problèmes manuellement", and "Il est important que toutes ces erreurs soit
enregistrées et rectifiées". A blanket answer (`--approve-all`, `--approve all`) says nobody
looked at these lines, so it does not approve them: the operator names the gate
(`--approve upgrade-log-fixed-crm2="what was repaired"`), and the journal keeps who, when and
which lines.
"""

from __future__ import annotations

from typing import Any

from engine.api.module import ModuleFailed, TaskContext


def named_approval(ctx: TaskContext, gate: str, lines: list[str], question: str) -> dict[str, Any]:
    """Ask `gate` about `lines`; {id, approved, by, at, comment, lines} when approved by its id, else
    ModuleFailed (with the same record, which the journal keeps as the gate's answer)."""
    listed = "; ".join(lines)
    prompt = f"{question} Lines: {listed}"
    answer = ctx.run.gatekeeper.approve(gate, prompt, ctx.host.name)
    record = {"id": gate, "lines": list(lines), **{k: answer.get(k) for k in ("by", "at", "comment")}}
    record["approved"] = bool(answer.get("approved")) and not answer.get("blanket")
    if not answer.get("approved"):
        why = f": {answer['comment']}" if answer.get("comment") else ""
        raise ModuleFailed(f"gate {gate} not approved{why} ({listed})", {"gate": record})
    if answer.get("blanket"):
        raise ModuleFailed(
            f"gate {gate} needs its own approval, not a blanket one: once each line is repaired, run "
            f'again with --approve {gate}="<what was repaired>" ({listed})',
            {"gate": record},
        )
    return record
