"""`cutover plan PLAYBOOK -i INVENTORY`: the ordered plan, without touching a host."""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import add_plan_args, sources_from


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)
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

    plan = make_plan(sources_from(args))
    text = RENDERERS[args.format](plan)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
