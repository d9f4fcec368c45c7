"""`cutover validate PLAYBOOK -i INVENTORY`: everything that can be checked without a host."""

from __future__ import annotations

import argparse

from engine.cli.common import add_plan_args, sources_from


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import validate

    plan = validate(sources_from(args))
    steps = plan.steps()
    hosts = {h for n in steps for h in (n.shared_with or (n.host,))}
    print(f"ok: {args.playbook} with {args.inventory}: {len(steps)} steps on {len(hosts)} hosts")
    for note in plan.notes:
        print(f"note: {note}")
    return 0
