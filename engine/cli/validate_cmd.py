"""`cutover validate PLAYBOOK -i INVENTORY`: everything that can be checked without a host.

Besides the plan's checks it lists every gate the run will ask (and checks the `--approve`
ids a run will be given against them) and, with `--from-run`, what a rollback will restore.
"""

from __future__ import annotations

import argparse

from engine.cli.common import add_from_run_args, add_plan_args, keyring_from, preview_sources


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)
    parser.add_argument("--probe", metavar="FILE",
                        help="also hold the inventory to a saved `cutover probe --format json` (install name, "
                        "services on the servers the inventory says)")
    add_from_run_args(parser)
    parser.add_argument("--approve", action="append", default=[], metavar="GATE[=COMMENT]",
                        help="check that the plan has this gate (as `run --approve` will be given; repeatable)")


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import validate
    from engine.pipeline.gates_listing import check_approvals, gate_lines, planned_gates

    sources, from_run = preview_sources(args)
    plan = validate(sources, args.state_dir)
    check_approvals(plan, list(args.approve or []))
    if getattr(args, "probe", None):  # `run --syntax-check` comes here without it
        from engine.api.plugins import PLUGINS
        from engine.core.errors import UserError
        from engine.pipeline.probe import check_saved, read_saved

        problems = check_saved(plan.inventory, read_saved(args.probe), PLUGINS)
        if problems:
            raise UserError.many(problems)
    steps = plan.steps()
    hosts = {h for n in steps for h in (n.shared_with or (n.host,))}
    print(f"ok: {args.playbook} with {args.inventory}: {len(steps)} steps on {len(hosts)} hosts")
    from engine.plan.render import note_line

    for note in plan.notes:
        print(note_line(note))
    print("\n".join(gate_lines(planned_gates(plan), plan.inventory.timezone)))
    if from_run:
        from engine.pipeline.rollback_preview import preview_lines

        print("\n".join(preview_lines(plan, args.state_dir, from_run, keyring_from(args))))
    if getattr(args, "probe", None):  # `run --syntax-check` comes here without it
        print(f"ok: the inventory agrees with the probe {args.probe}")
    return 0
