"""`cutover plan PLAYBOOK -i INVENTORY`: the ordered plan, without touching a host."""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import add_from_run_args, add_plan_args, keyring_from, preview_sources


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser)
    add_from_run_args(parser)
    parser.add_argument(
        "--format",
        choices=["text", "json", "dot", "mermaid"],
        help="text (default), json, dot (Graphviz) or mermaid",
    )
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the plan file that `cutover run FILE` runs (with --format: that rendering)")
    parser.add_argument("--operator", help="who makes the plan (default: $CUTOVER_OPERATOR or the login name)")


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import plan as make_plan
    from engine.plan.render import RENDERERS

    sources, from_run = preview_sources(args)
    plan = make_plan(sources, args.state_dir)
    if args.output and args.format is None:
        return _write_plan_file(args, plan, from_run)
    args.format = args.format or "text"
    text = RENDERERS[args.format](plan)
    if args.format == "text":
        from engine.pipeline.gates_listing import gate_lines, planned_gates

        text += "\n".join(gate_lines(planned_gates(plan), plan.inventory.timezone)) + "\n"
        if from_run:
            from engine.pipeline.rollback_preview import preview_lines

            text += "\n".join(preview_lines(plan, args.state_dir, from_run, keyring_from(args))) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _write_plan_file(args: argparse.Namespace, plan: object, from_run: str | None) -> int:
    """`-o FILE` without `--format`: the plan file (engine/pipeline/plan_file.py), and the plan shown."""
    from engine.api.module import utcnow
    from engine.execute.session import operator_name
    from engine.pipeline.plan_file import plan_document, write_plan_file
    from engine.plan.render import RENDERERS

    options = {"limit": args.limit, "tags": args.tags, "skip_tags": args.skip_tags, "extra_vars": args.extra_vars,
               "from_run": from_run, "allow_unprotected": args.allow_unprotected, "start_at_task": None}
    document = plan_document(plan, options, operator_name(args.operator), utcnow())
    write_plan_file(args.output, document)
    sys.stdout.write(RENDERERS["text"](plan))
    print(f"plan written to {args.output} (plan sha256 {document['plan_sha256']}); "
          f"run exactly this plan with: cutover run {args.output}")
    return 0
