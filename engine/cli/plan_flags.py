"""The `ansible-playbook` flags an Ansible hand types, on `cutover run`.

`--list-hosts`, `--list-tasks`, `--list-tags` print what the plan would do (after `--limit`,
`--tags`, `--skip-tags` and `--start-at-task`) and stop; `--syntax-check` is `cutover validate`.
`--start-at-task NAME` leaves out every task before the first one named NAME (a glob, as in
Ansible), in every play before it too; `--step` asks before each step.

Where cutover's safety rules forbid what a flag asks, the run is refused, the refusal names the
rule and the flag that lifts it, and it is recorded in the journal as a run with status
`refused` (`cutover runs` lists it): `--start-at-task` past the backup a destructive step needs
is refused under the rule "a destructive step needs a verified backup upstream"
(`--allow-unprotected` lifts it, and is itself recorded); `--step` cannot skip a single step
(a later step may depend on it), so its answers are yes, continue, or quit (resumable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.core.errors import Problem, UserError
from engine.plan.start_at import BEFORE_START, walk_tasks

BACKUP_RULE = "a destructive step needs a verified backup upstream"


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list-hosts", action="store_true", help="print the hosts each play would run on, and stop")
    parser.add_argument("--list-tasks", action="store_true", help="print the tasks each play would run, and stop")
    parser.add_argument("--list-tags", action="store_true", help="print the tags of the tasks that would run, and stop")
    parser.add_argument("--syntax-check", action="store_true", help="check without touching a host (= cutover validate)")
    parser.add_argument("--start-at-task", metavar="NAME",
                        help="start at the first task named NAME (a glob); the ones before are left out")
    parser.add_argument("--step", action="store_true",
                        help="ask before each step: y(es), c(ontinue without asking), q(uit; resume later)")


@contextmanager
def refusals_recorded(args: argparse.Namespace) -> Iterator[None]:
    """A plan refused because of what a flag asked: the refusal names the rule and the lifting flag,
    and is journaled as a `refused` run."""
    try:
        yield
    except UserError as err:
        name = getattr(args, "start_at_task", None)
        backup = [p for p in err.problems if "no verified backup" in p.message]
        if not name or not backup:
            raise
        explained = Problem(
            f"refused: --start-at-task {name!r} leaves out the backup {len(backup)} destructive step(s) need; "
            f"rule: {BACKUP_RULE}",
            None,
            hint="start at an earlier task (the backup's), roll back --from-run a run that recorded the backup, "
            "or lift the rule with --allow-unprotected (recorded in the journal and report)",
        )
        _journal_refusal(args, [explained, *err.problems])
        raise UserError.many([explained, *err.problems]) from None


def _journal_refusal(args: argparse.Namespace, problems: list[Problem]) -> None:
    from engine.execute.session import new_run_id, operator_name
    from engine.journal.store import Journal
    from engine.load.inventory_dirs import read_inventory_source

    state_dir = Path(getattr(args, "state_dir", None) or ".cutover")
    state_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(state_dir / "runs.db")
    try:
        estate = Path(args.inventory).stem
        try:
            doc = read_inventory_source(args.inventory, getattr(args, "_keyring", None)).value
            estate = str(doc.get("estate") or estate) if isinstance(doc, dict) else estate
        except UserError:
            pass
        run_id = new_run_id()
        journal.start_run(run_id, playbook=args.playbook, inventory=args.inventory, estate=estate,
                          operator=operator_name(getattr(args, "operator", None)), kind="refused",
                          args={"start_at_task": args.start_at_task, "limit": args.limit, "tags": args.tags},
                          notes=[p.render() for p in problems])
        from engine.api.module import utcnow

        journal.update_run(run_id, status="refused", ended=utcnow())
    finally:
        journal.close()


# --- listings ----------------------------------------------------------------------------------------


def answer_listing(args: argparse.Namespace, plan: Any) -> int | None:
    """Print what `--list-hosts/--list-tasks/--list-tags` ask (ansible-playbook's layout); None when none was asked."""
    if not (args.list_hosts or args.list_tasks or args.list_tags):
        return None
    lines = [f"playbook: {plan.playbook.path}", ""]
    for play in plan.plays:
        nodes = [n for n in plan.nodes.values() if n.play == play.index and n.task is not None and n.kind == "task"]
        lines.append(f"  play #{play.index + 1} ({play.hosts}): {play.name}\tTAGS: []")
        if args.list_hosts:
            hosts = plan.play_hosts.get(play.index) or []
            lines.append(f"    pattern: [{play.hosts!r}]")
            lines.append(f"    hosts ({len(hosts)}):")
            lines.extend(f"      {h}" for h in hosts)
        tasks: dict[str, tuple[str, tuple[str, ...]]] = {}
        for node in nodes:
            tags = tuple(t for t in node.tags if t != BEFORE_START)
            tasks.setdefault(node.task.path, (node.label, tags))
        ordered = [tasks[t.path] for t in walk_tasks(play.tasks) if t.path in tasks]
        if args.list_tasks:
            lines.append("    tasks:")
            lines.extend(f"      {label}\tTAGS: [{', '.join(tags)}]" for label, tags in ordered)
        if args.list_tags:
            every = sorted({tag for _label, tags in ordered for tag in tags})
            lines.append(f"      TASK TAGS: [{', '.join(every)}]")
        lines.append("")
    sys.stdout.write("\n".join(lines))
    return 0
