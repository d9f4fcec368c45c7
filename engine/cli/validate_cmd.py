"""`cutover validate PLAYBOOK -i INVENTORY`: everything that can be checked without a host."""

from __future__ import annotations

import argparse

from engine.cli.common import add_from_run_args, add_plan_args, preview_sources


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)
    add_from_run_args(parser)


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import validate

    sources, from_run = preview_sources(args)
    plan = validate(sources, args.state_dir)
    steps = plan.steps()
    hosts = {h for n in steps for h in (n.shared_with or (n.host,))}
    print(f"ok: {args.playbook} with {args.inventory}: {len(steps)} steps on {len(hosts)} hosts")
    for note in plan.notes:
        print(f"note: {note}")
    if from_run:
        from engine.pipeline.rollback_preview import preview_lines

        print("\n".join(preview_lines(plan, args.state_dir, from_run)))
    return 0
