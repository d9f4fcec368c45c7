"""A restore of a production database waits for a gate that only its own id answers.

Why: a rollback restores a backup over a live system; on production that loses what users wrote
since the backup, and whoever approves it must have meant this database (issue #17: "a restore
of a production database is preceded by a gate unless --approve names it"). The inventory says
what is production: `production: true` on a `databases:` target, else on the estate (top level);
a target's own `production: false` wins. A Sage CRM test estate (`sagecrm.mirror_of`) is never
production, even though its database was restored from production's backup. `--approve-all` (a
blanket answer) does not answer the gate: `--approve restore-production-<target>` does.
The modules that restore a database (db_restore, onecrm_restore, crm_restore) declare the gate in
`Module.gates()`, so `plan`, the rollback preview and the `--approve` check list it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api.data_written import loss_line, moment_of
from engine.api.module import ModuleFailed, TaskContext

GATE_PREFIX = "restore-production-"
#: the comment engine/cli/gates.py gives an `--approve ID` without `=comment`
_PLAIN_APPROVAL = "approved with --approve"


def gate_id(target: str) -> str:
    return f"{GATE_PREFIX}{target}"


def is_production(inventory: Any, target: str) -> bool:
    """Whether the inventory marks the database target (or its estate) as production."""
    if inventory is None:
        return False
    products = getattr(inventory, "products", {}) or {}
    sage = products.get("sagecrm")
    if isinstance(sage, Mapping) and sage.get("mirror_of"):
        return False  # a test estate mirrors production; its restored copy is not production
    entry = (getattr(inventory, "databases", {}) or {}).get(target) or {}
    if isinstance(entry, Mapping) and entry.get("production") is not None:
        return bool(entry.get("production"))
    source = getattr(inventory, "source", None)
    return bool(source.get("production")) if isinstance(source, Mapping) else False


def prompt(target: str, loss: str = "") -> str:
    """The gate's question; `loss`: what the restore loses, as the rollback preview counts it."""
    lost = f" ({loss})" if loss else ""
    return (
        f"Restore the PRODUCTION database {target}: what users wrote since the backup is lost{lost}. "
        f"Approve only by naming this gate: --approve {gate_id(target)}"
    )


def declared(inventory: Any, targets: list[str]) -> list[dict[str, Any]]:
    """The gates of a restore step of these targets (for `Module.gates`)."""
    return [{"id": gate_id(t), "prompt": prompt(t)} for t in targets if is_production(inventory, t)]


def maybe_declared(targets: list[str]) -> list[dict[str, Any]]:
    """The gates of a step whose inventory the planner hook cannot see (a generic module): listed
    so `--approve` may name them, asked at run time only when the target is production."""
    return [
        {"id": gate_id(t), "prompt": f"{prompt(t)} (asked only if the inventory marks it production)"}
        for t in targets
    ]


def require_approval(ctx: TaskContext, target: str, taken_at: str | None = None) -> dict[str, Any] | None:
    """Before restoring `target`: None when it is not production, else the gate's record once its
    own id approved it; ModuleFailed (nothing restored) otherwise. Check mode asks nobody. With
    the backup's `taken_at` the question says how many rows the restore loses (its product counts
    them, engine/api/data_written.py), or that the database could not be asked."""
    if not is_production(ctx.run.inventory, target) or ctx.check_mode:
        return None
    since = moment_of(taken_at) if taken_at else None
    loss = (
        ""
        if since is None
        else loss_line(ctx.run.inventory, target, lambda: ctx.run.databases.get(target), since)
    )
    question = prompt(target, loss)
    return ask_named(ctx, gate_id(target), question, f"{target} is production; it was not restored")


def ask_named(
    ctx: TaskContext, gate: str, question: str, why: str, need_comment: bool = False
) -> dict[str, Any]:
    """Ask `gate`; its record {id, approved, by, at, comment} when approved by its own id (with the
    approver's words when `need_comment`), else ModuleFailed carrying the record (journaled)."""
    answer = ctx.run.gatekeeper.approve(gate, question, ctx.host.name)
    record = {"id": gate, **{k: answer.get(k) for k in ("by", "at", "comment")}}
    problem = None
    if not answer.get("approved"):
        said = f": {answer['comment']}" if answer.get("comment") else ""
        problem = f"gate {gate} not approved{said} ({why})"
    elif answer.get("blanket"):
        problem = (
            f"gate {gate} needs its own approval, not a blanket one ({why}): run again with --approve {gate}"
        )
    elif need_comment and not has_comment(answer):
        problem = f'gate {gate} needs the approver\'s words ({why}): --approve {gate}="<who, when>"'
    record["approved"] = problem is None
    if problem:
        raise ModuleFailed(problem, {"gate": record})
    return record


def has_comment(answer: Mapping[str, Any]) -> bool:
    """Whether an approval carries the approver's own words (not the default of a bare --approve)."""
    text = str(answer.get("comment") or "").strip()
    return bool(text) and text != _PLAIN_APPROVAL
