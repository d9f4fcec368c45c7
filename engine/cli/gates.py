"""How the command line answers gates: `--approve GATE[=comment]`, `--approve-all`, or a prompt."""

from __future__ import annotations

import sys
from typing import Any

from engine.api.module import Gatekeeper, utcnow
from engine.report.checklist import APPROVED_BY_FLAG


class CliGatekeeper(Gatekeeper):
    """Gates answered by `--approve GATE[=comment]`, `--approve-all` (demo), or a prompt on a terminal."""

    def __init__(self, operator: str, approved: dict[str, str], approve_all: bool = False, interactive: bool = False):
        self.operator = operator
        self.approved = approved
        self.approve_all = approve_all
        self.interactive = interactive

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        # `blanket`: approved without naming this gate (--approve all, --approve-all); a gate that
        # must be named by its id (a repair a person made) refuses such an answer
        if gate_id in self.approved or "all" in self.approved:
            comment = self.approved.get(gate_id) or self.approved.get("all") or "approved with --approve"
            return {"approved": True, "by": self.operator, "at": utcnow(), "comment": comment,
                    "blanket": gate_id not in self.approved}
        if self.approve_all:
            return {"approved": True, "by": f"{self.operator} (--approve-all)", "at": utcnow(),
                    "comment": APPROVED_BY_FLAG, "blanket": True}
        if self.interactive:
            print(f"\nGATE {gate_id} on {host}: {prompt}", file=sys.stderr)
            answer = input("approve? type 'yes' to approve, anything else to refuse: ").strip()
            comment = input("comment (optional): ").strip()
            return {"approved": answer.lower() == "yes", "by": self.operator, "at": utcnow(), "comment": comment}
        return {"approved": False, "by": None, "at": utcnow(),
                "comment": f"run again with --approve {gate_id} (non-interactive run)"}
