"""`cutover validate PLAYBOOK -i INVENTORY`: everything that can be checked without a host."""

from __future__ import annotations

import argparse

from engine.cli.common import add_plan_args, sources_from


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)
    parser.add_argument("--probe", metavar="FILE",
                        help="also hold the inventory to a saved `cutover probe --format json` (install name, "
                        "services on the servers the inventory says)")


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import validate

    plan = validate(sources_from(args))
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
    for note in plan.notes:
        print(f"note: {note}")
    if getattr(args, "probe", None):  # `run --syntax-check` comes here without it
        print(f"ok: the inventory agrees with the probe {args.probe}")
    return 0
