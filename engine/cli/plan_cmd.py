"""`cutover plan PLAYBOOK -i INVENTORY`: the ordered plan, without touching a host."""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import add_from_run_args, add_plan_args, preview_sources


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)
    add_from_run_args(parser)
    parser.add_argument(
        "--format",
        choices=["text", "json", "dot", "mermaid"],
        default="text",
        help="text (default), json, dot (Graphviz) or mermaid",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of the console")


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import plan as make_plan
    from engine.plan.render import RENDERERS

    sources, from_run = preview_sources(args)
    plan = make_plan(sources, args.state_dir)
    text = RENDERERS[args.format](plan)
    if args.format == "text":
        from engine.pipeline.gates_listing import gate_lines, planned_gates

        text += "\n".join(gate_lines(planned_gates(plan), plan.inventory.timezone)) + "\n"
        if from_run:
            from engine.pipeline.rollback_preview import preview_lines

            text += "\n".join(preview_lines(plan, args.state_dir, from_run)) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
