"""onecrm_confirm_restore: the rollback's confirmation gate, with the price of the restore.

The guide (without a service contract): "Für das Wiederherstellen von Backups, die über einen Tag
hinaus gehen, berechnet visual4 allerdings pauschal 250 €. Wenn Sie noch am selben Tag eine
Systemherstellung anfordern, an dem Sie das Update installiert haben, dann erhalten Sie die
Wiederherstellung kostenlos." Whoever approves the rollback is told which applies: free when today
(estate zone, controller's clock) is the day of the update as its run recorded it when it started
(the rolled-back run's with `--from-run`, else this run's), charged otherwise, unknown (said so)
when no update run is named. The terms are worked out when the gate is asked, so a confirmation
refused today and resumed tomorrow states tomorrow's price. Approved -> changed with who/when
(journaled as the gate's answer); refused -> failed, nothing restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import object_schema
from modules.flow.gate import refusal
from modules.onecrm import _onecrm_day as same_day


class OnecrmConfirmRestore(Module):
    """A gate whose prompt ends with whether visual4 restores for free today or for 250 €."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller", "posix"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Ask to confirm a 1CRM restore, stating whether it is free (the day of the update) or charged (250 €).",
        {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]+$", "description": "The gate's id."},
            "prompt": {"type": "string", "minLength": 1, "description": "What is restored from where."},
        },
        ("id", "prompt"),
    )

    def gates(self, args: Mapping[str, Any], host: Any) -> list[dict[str, Any]]:
        return [
            {"id": str(args["id"]), "prompt": f"{args['prompt']} (+ whether the restore is free or charged)"}
        ]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        gate_id = str(args["id"])
        terms = same_day.restore_terms(ctx)
        prompt = f"{args['prompt']} {terms['msg']}"
        if ctx.check_mode:
            return Result(changed=True, msg=f"would ask gate {gate_id} (check mode)", output={"terms": terms})
        answer = ctx.run.gatekeeper.approve(gate_id, prompt, ctx.host.name)
        record = {"id": gate_id, **{k: answer.get(k) for k in ("approved", "by", "at", "comment")}}
        output = {"gate": record, "terms": terms, "prompt": prompt}
        problem = refusal(gate_id, answer, args)
        if problem:
            record["approved"] = False
            return Result(failed=True, msg=f"{problem}; {terms['msg']}", output=output)
        return Result(
            changed=True, msg=f"gate {gate_id} approved by {answer.get('by')}; {terms['msg']}", output=output
        )
