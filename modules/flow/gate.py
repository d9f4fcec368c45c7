"""A human decision point: the run waits for an operator's approval and records who and when.

The vendors' procedures have steps only a person can do or sign off (test the upgraded system,
client sign-off, "report problems by 16:00"). A gate asks `ctx.run.gatekeeper` (interactive
prompt, a CLI flag, or an approval file: the CLI chooses) and stores its answer as the task's
output `{approved, by, at, comment}`; a refusal fails the task with "gate <id> not approved".

`deadline` (ISO date-time, or HH:MM in the estate's time zone) is recorded here and enforced by
the engine when it schedules the node. `signers` limits who may approve; `required_role` needs
the gatekeeper to report the approver's `roles` (a gatekeeper that does not is refused, since a
role that cannot be checked must not pass as granted).

An approval is reported as `changed` (a decision was recorded). It does not carry over to the
next run: each run asks again, which is the point. In check mode nobody is asked; the gate is
reported as would-change.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import object_schema

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def check_deadline(deadline: str) -> str:
    """The deadline as given, once it is known to be HH:MM or an ISO date-time."""
    if _HHMM.match(deadline):
        return deadline
    try:
        _dt.datetime.fromisoformat(deadline)
    except ValueError:
        raise ModuleFailed(
            f"deadline {deadline!r} is neither HH:MM nor an ISO date-time (2024-05-02T16:00)"
        ) from None
    return deadline


def refusal(gate_id: str, answer: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """Why the answer does not approve the gate, or None when it does."""
    if not answer.get("approved"):
        why = f": {answer['comment']}" if answer.get("comment") else ""
        return f"gate {gate_id} not approved{why}"
    signers = args.get("signers")
    if signers and answer.get("by") not in signers:
        return f"gate {gate_id} not approved: {answer.get('by')!r} is not one of the signers {', '.join(signers)}"
    role = args.get("required_role")
    if role:
        roles = answer.get("roles")
        if roles is None:
            return (
                f"gate {gate_id} not approved: role {role!r} is required and the approver's roles are unknown"
            )
        if role not in roles:
            return f"gate {gate_id} not approved: {answer.get('by')!r} does not have the role {role!r}"
    return None


class Gate(Module):
    """Ask the run's gatekeeper; approved -> changed with who/when, refused -> failed."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Wait for an operator's approval and record who approved and when.",
        {
            "id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_.:-]+$",
                "description": "The gate's name, shown to the approver and in reports.",
            },
            "prompt": {
                "type": "string",
                "minLength": 1,
                "description": "What the approver is asked to confirm.",
            },
            "deadline": {
                "type": "string",
                "description": "Latest approval time: ISO date-time, or HH:MM in the estate's time zone.",
            },
            "late": {
                "type": "string",
                "minLength": 1,
                "description": "What to do once the deadline has passed (the vendor's words): "
                "said when the run stops there.",
            },
            "required_role": {
                "type": "string",
                "minLength": 1,
                "description": "Role the approver must have (reported by the gatekeeper).",
            },
            "signers": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "Who may approve (names as the gatekeeper reports them).",
            },
        },
        ("id", "prompt"),
    )

    def gates(self, args: Mapping[str, Any], host: Any) -> list[dict[str, Any]]:
        listed = {"id": str(args["id"]), "prompt": str(args["prompt"])}
        if args.get("deadline"):
            listed["deadline"] = str(args["deadline"])
        return [listed]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        gate_id, prompt = str(args["id"]), str(args["prompt"])
        record: dict[str, Any] = {"id": gate_id}
        if args.get("deadline"):
            record["deadline"] = check_deadline(str(args["deadline"]))
        for key in ("required_role", "signers"):
            if args.get(key):
                record[key] = args[key]
        if ctx.check_mode:
            return Result(changed=True, msg=f"would ask gate {gate_id} (check mode)", output=record)
        answer = ctx.run.gatekeeper.approve(gate_id, prompt, ctx.host.name)
        record.update({k: answer.get(k) for k in ("approved", "by", "at", "comment")})
        problem = refusal(gate_id, answer, args)
        if problem:
            record["approved"] = False
            return Result(failed=True, msg=problem, output=record)
        return Result(changed=True, msg=f"gate {gate_id} approved by {answer.get('by')}", output=record)
