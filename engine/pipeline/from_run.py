"""`--from-run RUN`: which earlier run a rollback restores from, and the refusals that keep it honest.

A rollback restores what an earlier run recorded: its verified backups (databases, files,
registry exports) and old settings. An operator at the end of a window names that run by id,
by a unique prefix, or as `last`: the newest run of this estate that recorded rollback
artifacts, i.e. an upgrade that took verified backups (not a check-mode run, not a refused
one, not a rollback). Rolling back a run that an earlier rollback already restored is refused,
naming that rollback; `--rollback-again` does it anyway and the journal and report say so.

A rollback playbook planned without `--from-run` would fail once per destructive step ("no
verified backup upstream"); `explain_missing_from_run` turns that into the one message the
operator needs, with the runs that could be named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import Problem, UserError
from engine.journal.store import Journal

#: the destructive rule's refusal (engine/plan/policies.py) that a missing --from-run causes
NO_BACKUP_REFUSAL = "with no verified backup of it planned before it"
#: the flag that rolls back a run an earlier rollback already restored
AGAIN_FLAG = "--rollback-again"
#: the kind the journal records for a run that restores from an earlier one
ROLLBACK_KIND = "rollback"


@dataclass(frozen=True)
class FromRun:
    """The run a rollback restores from, and what the journal must say about the choice."""

    run_id: str
    notes: tuple[str, ...] = ()


def lookup_run(journal: Journal, ref: str, flag: str = "") -> dict[str, Any]:
    """A run by id, unique prefix or `last`; a prefix several runs share is refused as ambiguous."""
    if ref != "last":
        ids = [r["id"] for r in journal.query("SELECT id FROM runs WHERE id LIKE ? ORDER BY started", (ref + "%",))]
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            raise UserError(f"{flag}run prefix {ref!r} is ambiguous: {len(ids)} runs start with it ({shown})",
                            hint="give more characters of the run id")
    row = journal.find_run(ref)
    if row is None:
        raise UserError(f"{flag}no run {ref!r} in {journal.describe()}", hint="`cutover runs` lists them")
    return row


def rollback_candidates(journal: Journal, estate: str | None = None) -> list[dict[str, Any]]:
    """Runs (newest first) a rollback can restore from: not check mode, not refused, not themselves
    a rollback, with at least one verified artifact."""
    sql = ("SELECT * FROM runs WHERE COALESCE(check_mode, 0) = 0 AND COALESCE(kind, 'run') = 'run'"
           " AND id IN (SELECT run_id FROM artifacts WHERE verified = 1)")
    params: list[Any] = []
    if estate is not None:
        sql += " AND estate = ?"
        params.append(estate)
    return journal.query(sql + " ORDER BY started DESC", params)


def earlier_rollbacks(journal: Journal, run_id: str) -> list[dict[str, Any]]:
    """Rollbacks that restored (or began to restore) from `run_id`, oldest first."""
    return journal.query(
        "SELECT * FROM runs WHERE parent_run = ? AND kind = ? AND status != 'refused' ORDER BY started",
        (run_id, ROLLBACK_KIND),
    )


def resolve_from_run(state_dir: str, ref: str, estate: str | None) -> str:
    """The id of the run `--from-run REF` names; `last` is the newest candidate of the estate."""
    journal = Journal(Path(state_dir) / "runs.db")
    try:
        if ref != "last":
            return str(lookup_run(journal, ref, "--from-run: ")["id"])
        found = rollback_candidates(journal, estate)
        if not found:
            raise UserError(f"--from-run last: no run of estate {estate!r} recorded verified backups "
                            f"in {journal.describe()}", hint="`cutover runs` lists the runs")
        return str(found[0]["id"])
    finally:
        journal.close()


def check_not_rolled_back(state_dir: str, run_id: str, *, again: bool = False) -> FromRun:
    """Refuse to restore from a run an earlier rollback already restored from, unless `again`
    (then the note the journal and report carry says so, naming the earlier rollbacks)."""
    journal = Journal(Path(state_dir) / "runs.db")
    try:
        done = earlier_rollbacks(journal, run_id)
    finally:
        journal.close()
    if not done:
        return FromRun(run_id)
    last = done[-1]
    if not again:
        finish = (f"`cutover resume {last['id']}` finishes that rollback; " if last["status"] != "succeeded" else "")
        raise UserError(
            f"--from-run {run_id}: this run was already rolled back by run {last['id']} "
            f"({last['status']}, started {last['started']})",
            hint=f"{finish}{AGAIN_FLAG} rolls it back once more (recorded in the journal and report)",
        )
    return FromRun(run_id, (f"{AGAIN_FLAG}: run {run_id} rolled back again; earlier rollback(s): "
                            + ", ".join(str(r["id"]) for r in done),))


def restores(plan: Any, registry: Any) -> bool:
    """Whether the plan overwrites something (a destructive step): with `--from-run`, a rollback."""
    return any(node.task is not None and node.task.module and registry.get(node.task.module).destructive
               for node in plan.steps())


def takes_backups(plan: Any, registry: Any) -> bool:
    """Whether a step of the plan takes a backup of its own (an upgrade does; a rollback does not)."""
    from engine.api.policies import PolicyContext, overrides, resources_of
    from engine.plan.static import static_args

    ctx = PolicyContext(registry, render_args=lambda node: static_args(plan, node))
    for node in plan.steps():
        if node.task is None or not node.task.module or not overrides(registry.get(node.task.module), "protects"):
            continue
        if resources_of(plan, node, ctx, "protects"):
            return True
    return False


def describe_candidates(rows: Iterable[dict[str, Any]], limit: int = 5) -> str:
    """`RUN (playbook, status, started)` for each candidate, newest first."""
    rows = list(rows)
    if not rows:
        return "none recorded in this state folder"
    text = "; ".join(f"{r['id']} ({Path(str(r['playbook'])).name}, {r['status']}, {r['started']})" for r in rows[:limit])
    return text + (f"; and {len(rows) - limit} more" if len(rows) > limit else "")


def is_rollback_playbook(path: str) -> bool:
    """A rollback playbook by the estate layout's convention (`rollback.yml`, `rollback-*.yml`, as
    `--on-failure rollback` finds it): one that restores what an earlier run recorded."""
    return Path(path).name.lower().startswith("rollback")


def explain_missing_from_run(err: UserError, takes_backups: bool, state_dir: str | None,
                             estate: str | None) -> UserError | None:
    """The one message for a rollback playbook planned without `--from-run`, or None when `err`
    is something else (a playbook that takes backups of its own is not a rollback: its refusals stand)."""
    if takes_backups or not err.problems or not all(NO_BACKUP_REFUSAL in p.message for p in err.problems):
        return None
    found: list[dict[str, Any]] = []
    if state_dir and (Path(state_dir) / "runs.db").is_file():
        journal = Journal(Path(state_dir) / "runs.db")
        try:
            found = rollback_candidates(journal, estate)
        finally:
            journal.close()
    return UserError.many([Problem(
        "this playbook restores what an earlier run recorded: pass --from-run RUN "
        f"(or --from-run last); candidates: {describe_candidates(found)}",
        None,
        hint=f"{len(err.problems)} destructive step(s) need the verified backups of an earlier run; "
             "`cutover runs` lists the runs",
    )])
