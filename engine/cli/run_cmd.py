"""`cutover run PLAYBOOK -i INVENTORY`: execute a plan, journaled and resumable."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from engine.cli.common import add_plan_args, keyring_from, sources_from
from engine.cli.plan_flags import add_run_flags, answer_listing, refusals_recorded
from engine.cli.validate_cmd import execute as validate_execute


def add_execution_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--forks", type=int, default=20, help="how many steps run at once (default 20)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"),
                        help="journal, locks and reports (default .cutover)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="show outputs (-vv: more)")
    parser.add_argument("--output", choices=["console", "jsonl"], default="console",
                        help="console (default) or jsonl events on stdout")
    parser.add_argument("--operator", help="who runs this (default: $CUTOVER_OPERATOR or the login name)")
    parser.add_argument("--approve", action="append", default=[], metavar="GATE[=COMMENT]",
                        help="approve a gate for a non-interactive run (repeatable)")
    parser.add_argument("--approve-all", action="store_true",
                        help="answer every gate yes (demos and rehearsals only; recorded as such)")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML/JSON/JUnit report")
    parser.add_argument("--gate-wait", type=float, metavar="SECONDS",
                        help="at a gate not approved here, wait up to SECONDS for `cutover approve RUN GATE` "
                             "from any terminal sharing the journal")


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_args(parser, inventory_required=False)  # a plan file names its inventory
    add_execution_args(parser)
    add_run_flags(parser)  # --list-*, --syntax-check, --start-at-task, --step: engine.cli.plan_flags
    parser.add_argument("-C", "--check", action="store_true", help="change nothing; report what would change")
    parser.add_argument("-D", "--diff", action="store_true", help="show before/after of what changes")
    parser.add_argument("--from-run", metavar="RUN",
                        help="use the backups and old settings recorded by this run (rollback playbooks)")
    parser.add_argument("--start-anew", action="store_true",
                        help="start a fresh run although the estate's last run was interrupted (recorded); "
                             "without it such a run is refused with the resume command")
    parser.add_argument("--on-failure", choices=["stop", "rollback"], default="stop",
                        help="rollback: a failed run is rolled back at once with rollback.yml next to the playbook, "
                             "from the backups this run recorded")
    parser.add_argument("--fail-on-findings", action="store_true",
                        help="exit 1 when the run recorded findings to act on (warnings, errors), even if it succeeded")
    parser.add_argument("--rollback-again", action="store_true",
                        help="roll back a run an earlier rollback already restored from (recorded)")


def run_settings(cli: argparse.Namespace, **settings: Any) -> Any:
    """The pipeline's RunSettings from the execution flags: who runs, how gates are answered, what prints.

    The console (and the executor it imports) is imported when the run makes its reporter, after
    the run has started connecting to its hosts (engine/pipeline/flows.py `plan_connecting`):
    those imports then run while the hosts' helpers start."""
    from engine.cli.gates import CliGatekeeper
    from engine.execute.operator import operator_name
    from engine.pipeline import RunSettings

    masker = keyring_from(cli).masker
    show_diff = bool(getattr(cli, "diff", False))

    def new_reporter() -> Any:
        from engine.cli.console import ConsoleReporter, JsonlReporter
        from engine.cli.step import step_reporter

        if cli.output == "jsonl":
            return step_reporter(cli, JsonlReporter(masker))
        return step_reporter(cli, ConsoleReporter(masker, cli.verbose, show_diff=show_diff))

    approved = {}
    for item in cli.approve:
        gate, _, comment = item.partition("=")
        approved[gate] = comment
    operator = operator_name(cli.operator)
    return RunSettings(
        state_dir=cli.state_dir, forks=cli.forks, operator=operator,
        gatekeeper=CliGatekeeper(operator, approved, cli.approve_all,
                                 interactive=sys.stdin.isatty() and not getattr(cli, "gate_wait", None)),
        new_reporter=new_reporter, masker=masker, write_report=not cli.no_report, **settings,
    )


def execute(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from engine.core.errors import UserError
    from engine.pipeline import flows

    if args.forks < 1:
        raise UserError("--forks must be at least 1")
    plan_file = from_plan_file(args)
    if args.inventory is None:
        raise UserError("the following arguments are required: -i/--inventory",
                        hint="or run a plan file written by `cutover plan ... -o FILE`")
    if args.syntax_check:
        return validate_execute(args)
    settings = run_settings(
        args, check_mode=args.check, diff_mode=args.diff, from_run=args.from_run,
        allow_unprotected=args.allow_unprotected, on_failure=args.on_failure, start_anew=args.start_anew,
        rollback_again=args.rollback_again,
        recorded_args={"limit": args.limit, "tags": args.tags, "skip_tags": args.skip_tags,
                       "extra_vars": args.extra_vars, "check": args.check, "from_run": args.from_run,
                       "allow_unprotected": args.allow_unprotected, "forks": args.forks,
                       "rollback_again": args.rollback_again},
    )
    if plan_file is not None:
        settings.recorded_args["plan_file"] = {"path": args.playbook_file, "plan_sha256": plan_file["plan_sha256"]}
    sources, settings = flows.with_from_run(sources_from(args), settings)
    with refusals_recorded(args):
        if args.list_hosts or args.list_tasks or args.list_tags:  # a listing contacts no host
            planned, started = flows.plan(sources, args.state_dir), None
        else:  # the hosts are connected to while the run plans; what no step takes is closed below
            planned, started = flows.plan_connecting(sources, args.state_dir, every_host=not args.check)
    settings = replace(settings, started=started)
    try:
        if plan_file is not None:
            from engine.pipeline.plan_file import check_unchanged

            check_unchanged(plan_file, planned, args.playbook_file)
        if (listed := answer_listing(args, planned)) is not None:
            return listed
        from engine.pipeline.gates_listing import check_approvals

        check_approvals(planned, args.approve)
        if getattr(args, "gate_wait", None):
            from engine.journal.gates import JournalGatekeeper

            settings = replace(settings, gatekeeper=JournalGatekeeper(
                args.state_dir, planned.inventory.name, settings.gatekeeper, args.gate_wait))
        summary = flows.run_planned(planned, sources, settings)
    finally:
        if started is not None:  # started while planning, taken by no step (the run closed the rest)
            started.close_all()
    if args.fail_on_findings and summary.exit_code == 0:
        return findings_exit(args.state_dir, summary.run_id)
    return summary.exit_code


def from_plan_file(args: argparse.Namespace) -> dict[str, Any] | None:
    """`cutover run FILE` with a plan file: its playbook, inventory and options become the run's;
    flags that would change the plan are refused (the plan file is what was signed off)."""
    from pathlib import Path

    from engine.core.errors import UserError
    from engine.pipeline.plan_file import is_plan_file, read_plan_file

    if not is_plan_file(args.playbook):
        return None
    document = read_plan_file(args.playbook)
    other_inventory = args.inventory and Path(args.inventory).resolve() != Path(document["inventory"]).resolve()
    changing = [flag for flag, value in (("-i", other_inventory), ("-l", args.limit), ("-t", args.tags),
                                         ("--skip-tags", args.skip_tags), ("-e", args.extra_vars),
                                         ("--from-run", args.from_run), ("--start-at-task", args.start_at_task),
                                         ("--allow-unprotected", args.allow_unprotected)) if value]
    if changing:
        raise UserError(f"{args.playbook} is a plan file: {', '.join(changing)} would change the plan it holds",
                        hint="make a new plan with those flags: cutover plan ... -o FILE")
    options = document["options"]
    args.playbook_file = args.playbook
    args.playbook, args.inventory = document["playbook"], document["inventory"]
    args.limit, args.from_run = options.get("limit"), options.get("from_run")
    args.tags, args.skip_tags = options.get("tags") or [], options.get("skip_tags") or []
    args.extra_vars, args.allow_unprotected = options.get("extra_vars") or [], bool(options.get("allow_unprotected"))
    return document


def findings_exit(state_dir: str, run_id: str) -> int:
    """`--fail-on-findings`: 1 when the run recorded a warning or an error finding."""
    from pathlib import Path

    from engine.journal.store import Journal
    from engine.pipeline.run_end import actionable_findings

    journal = Journal(Path(state_dir) / "runs.db")
    try:
        count = len(actionable_findings(journal, run_id))
    finally:
        journal.close()
    if count:
        print(f"--fail-on-findings: {count} finding(s) to act on: exit 1", file=sys.stderr)
    return 1 if count else 0
