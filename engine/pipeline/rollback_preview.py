"""What a rollback will restore, before it runs: `cutover plan|validate rollback.yml --from-run RUN`.

Each destructive step of the plan is matched with the verified artifact of the earlier run that
covers what it overwrites (location, size, sha256, when it was taken), so an operator (and the
client who signs the window off) sees what comes back from where. For each database the preview
also says what the restore loses: the rows written to it since the backup, as the product that
owns the database counts them (a `Plugin.data_written` hook, engine/api/data_written.py: Sage CRM's
`*_UpdatedDate`, 1CRM's `date_modified`), read-only from the controller; when no product counts
it, or the database cannot be reached from here, the line says so and gives no number. It adds
the earlier run's own steps that changed something after the backup and the time since. No host
is touched: the database is the only thing read besides the plan and the journal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.api.data_written import loss_line, moment_of
from engine.api.module import Artifact
from engine.api.policies import PolicyContext, covers, resources_of
from engine.api.registry import ModuleRegistry
from engine.core.secrets import Masker
from engine.journal.store import Journal


@dataclass(frozen=True)
class RestoreStep:
    """One destructive step of the rollback and the artifact it restores each resource from."""

    label: str
    host: str
    resource: str
    artifact: Artifact | None
    #: the gates the step asks before it restores (a production database's `restore-production-*`)
    gates: tuple[str, ...] = ()


def restore_steps(plan: Any, journal: Journal, from_run: str) -> list[RestoreStep]:
    """Each resource a destructive step overwrites, with the newest verified artifact covering it."""
    from engine.plan.static import static_args

    registry = ModuleRegistry([Path(plan.playbook.path).parent / "library"])
    ctx = PolicyContext(registry, render_args=lambda node: static_args(plan, node))
    artifacts = [a for a in journal.artifacts(from_run) if a.verified]
    steps = []
    for node in plan.steps():
        if node.task is None or not node.task.module or not registry.get(node.task.module).destructive:
            continue
        gates = _gates_of(plan, node, registry.get(node.task.module), static_args(plan, node))
        for resource in resources_of(plan, node, ctx, "destroys"):
            # the first backup: the one taken before anything changed, as the restores pick it
            found = sorted((a for a in artifacts if covers(a.resource, resource)), key=lambda a: a.taken_at)
            steps.append(
                RestoreStep(node.label, str(node.host), resource, found[0] if found else None, gates)
            )
    return steps


def _gates_of(plan: Any, node: Any, module: Any, args: Any) -> tuple[str, ...]:
    """`id: prompt` of each gate the step declares (Module.gates), for the preview."""
    host = plan.inventory.hosts.get(node.host) if node.host else None
    if args is None or host is None:
        return ()
    return tuple(f"{g['id']}: {g.get('prompt', '')}" for g in module.gates(args, host))


def data_loss(journal: Journal, from_run: str, artifact: Artifact, now: dt.datetime | None = None) -> str:
    """What restoring a database backup loses besides its rows: the run's later changes, and the time since."""
    later = [
        n
        for n in journal.nodes(from_run)
        if n.get("status") == "changed" and str(n.get("started") or "") > artifact.taken_at
    ]
    text = f"{len(later)} changed step(s) of run {from_run} after the backup"
    if later:
        names = sorted({str(n["task"]) for n in later})
        text += " (" + "; ".join(names[:3]) + ("; ..." if len(names) > 3 else "") + ")"
    age = _age(artifact.taken_at, now)
    if age:
        text += f", {age} since it was taken"
    return text


def rows_written(plan: Any, database: str, artifact: Artifact, targets: Any, masker: Masker) -> str:
    """The rows written to `database` since `artifact` was taken (engine/api/data_written.py).

    `targets()` gives the inventory's database targets rendered, vault values decrypted (each told
    to `masker`, which masks any error shown).
    """
    taken = moment_of(artifact.taken_at)
    if taken is None:
        return f"rows written to {database} since the backup: not counted (its time {artifact.taken_at!r} is unreadable)"
    return loss_line(plan.inventory, database, lambda: targets().get(database), taken, masker.mask_text)


def preview_lines(plan: Any, state_dir: str, from_run: str, keyring: Any = None) -> list[str]:
    """The preview as the console prints it; `keyring` (the command's `--vault-id`) opens the vault
    values of the database targets, which the data-loss count needs to connect."""
    journal = Journal(Path(state_dir) / "runs.db")
    masker: Masker = keyring.masker if keyring is not None else Masker()
    resolved: dict[str, Any] = {}

    def targets() -> dict[str, Any]:
        if not resolved:
            from engine.execute.session import databases_of, decrypt_with

            resolved.update(databases_of(plan.inventory, plan.extra_vars, decrypt_with(keyring, masker)))
        return resolved

    try:
        steps = restore_steps(plan, journal, from_run)
        lines = [f"rollback from run {from_run}: {len(steps)} restore(s)"]
        for step in steps:
            art = step.artifact
            if art is None:
                lines.append(
                    f"  {step.label} on {step.host}: {step.resource}: NO verified artifact of run {from_run}"
                )
                continue
            size = f"{art.size} bytes" if art.size is not None else "size unknown"
            lines.append(
                f"  {step.label} on {step.host}: {step.resource} from {art.location} "
                f"({size}, sha256 {art.sha256 or '-'}, taken {art.taken_at})"
            )
            if step.resource.startswith("db:"):
                database = step.resource.removeprefix("db:")
                lines.append(f"    data loss: {rows_written(plan, database, art, targets, masker)}")
                lines.append(f"      and {data_loss(journal, from_run, art)}")
            lines.extend(f"    gate before it: {gate}" for gate in step.gates)
        return lines
    finally:
        journal.close()


def _age(taken_at: str, now: dt.datetime | None) -> str:
    taken = moment_of(taken_at)
    if taken is None:
        return ""
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - taken).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"
