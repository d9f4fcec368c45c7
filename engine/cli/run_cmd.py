"""`cutover run PLAYBOOK -i INVENTORY`: execute a plan, journaled and resumable."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from engine.cli.common import add_plan_args, keyring_from, sources_from
from engine.cli.plan_flags import add_run_flags, answer_listing, refusals_recorded
from engine.cli.step import step_reporter
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
    add_plan_args(parser)
    add_execution_args(parser)
    add_run_flags(parser)  # --list-*, --syntax-check, --start-at-task, --step: engine.cli.plan_flags
    parser.add_argument("-C", "--check", action="store_true", help="change nothing; report what would change")
    parser.add_argument("-D", "--diff", action="store_true", help="show before/after of what changes")
    parser.add_argument("--from-run", metavar="RUN",
                        help="use the backups and old settings recorded by this run (rollback playbooks)")
    parser.add_argument("--on-failure", choices=["stop", "rollback"], default="stop",
                        help="rollback: a failed run is rolled back at once with rollback.yml next to the playbook, "
                             "from the backups this run recorded")
    parser.add_argument("--fail-on-findings", action="store_true",
                        help="exit 1 when the run recorded findings to act on (warnings, errors), even if it succeeded")
    parser.add_argument("--rollback-again", action="store_true",
                        help="roll back a run an earlier rollback already restored from (recorded)")


def run_settings(cli: argparse.Namespace, **settings: Any) -> Any:
    """The pipeline's RunSettings from the execution flags: who runs, how gates are answered, what prints."""
    from engine.cli.console import ConsoleReporter, JsonlReporter
    from engine.cli.gates import CliGatekeeper
    from engine.execute.session import operator_name
    from engine.pipeline import RunSettings

    masker = keyring_from(cli).masker
    show_diff = bool(getattr(cli, "diff", False))

    def new_reporter() -> Any:
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
    if args.syntax_check:
        return validate_execute(args)
    settings = run_settings(
        args, check_mode=args.check, diff_mode=args.diff, from_run=args.from_run,
        allow_unprotected=args.allow_unprotected, on_failure=args.on_failure, rollback_again=args.rollback_again,
        recorded_args={"limit": args.limit, "tags": args.tags, "skip_tags": args.skip_tags,
                       "extra_vars": args.extra_vars, "check": args.check, "from_run": args.from_run,
                       "allow_unprotected": args.allow_unprotected, "forks": args.forks,
                       "rollback_again": args.rollback_again},
    )
    sources, settings = flows.with_from_run(sources_from(args), settings)
    with refusals_recorded(args):
        planned = flows.plan(sources, args.state_dir)
    if (listed := answer_listing(args, planned)) is not None:
        return listed
    from engine.pipeline.gates_listing import check_approvals

    check_approvals(planned, args.approve)
    if getattr(args, "gate_wait", None):
        from engine.journal.gates import JournalGatekeeper

        settings = replace(settings, gatekeeper=JournalGatekeeper(
            args.state_dir, planned.inventory.name, settings.gatekeeper, args.gate_wait))
    summary = flows.run_planned(planned, sources, settings)
    if args.fail_on_findings and summary.exit_code == 0:
        return findings_exit(args.state_dir, summary.run_id)
    return summary.exit_code


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
