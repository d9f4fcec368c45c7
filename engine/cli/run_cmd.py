"""`cutover run PLAYBOOK -i INVENTORY`: execute a plan, journaled and resumable."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from engine.cli.common import add_plan_args, keyring_from, load_all
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


def build_request(cli: argparse.Namespace, plan: Any, **extra: Any) -> Any:
    from engine.cli.console import ConsoleReporter, JsonlReporter
    from engine.core.secrets import Masker
    from engine.execute.session import CliGatekeeper, RunRequest, operator_name

    keyring = keyring_from(cli, Masker())
    masker = keyring.masker
    for host in plan.inventory.hosts.values():
        password = host.settings.get("password")
        if isinstance(password, str) and password and "{{" not in password:
            masker.add(password)
    for host in plan.inventory.hosts.values():
        password = host.settings.get("password")
        if isinstance(password, str) and password:
            masker.add(password)
    reporter = JsonlReporter(masker) if cli.output == "jsonl" else \
        ConsoleReporter(masker, cli.verbose, show_diff=bool(getattr(cli, "diff", False)))
    reporter = step_reporter(cli, reporter)  # --step asks before each step (engine.cli.step)
    approved = {}
    for item in cli.approve:
        gate, _, comment = item.partition("=")
        approved[gate] = comment
    operator = operator_name(cli.operator)
    gate_wait = getattr(cli, "gate_wait", None)
    gatekeeper = CliGatekeeper(operator, approved, cli.approve_all, interactive=sys.stdin.isatty() and not gate_wait)
    if gate_wait:
        from engine.journal.gates import JournalGatekeeper

        gatekeeper = JournalGatekeeper(cli.state_dir, plan.inventory.name, gatekeeper, gate_wait)
    return RunRequest(
        plan=plan, state_dir=cli.state_dir, forks=cli.forks, operator=operator, gatekeeper=gatekeeper,
        reporter=reporter, keyring=keyring, masker=masker, write_report=not cli.no_report, **extra,
    )


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.execute.session import execute_run

    if args.forks < 1:
        raise UserError("--forks must be at least 1")
    if args.syntax_check:
        return validate_execute(args)
    prior: frozenset[str] = frozenset()
    if args.from_run:
        prior = _prior_resources(args)
    with refusals_recorded(args):
        _playbook, _inventory, plan = load_all(args, prior_resources=prior)
    if (listed := answer_listing(args, plan)) is not None:
        return listed
    request = build_request(
        args, plan, check_mode=args.check, diff_mode=args.diff, from_run=args.from_run,
        allow_unprotected=args.allow_unprotected,
        args={"limit": args.limit, "tags": args.tags, "skip_tags": args.skip_tags, "extra_vars": args.extra_vars,
              "check": args.check, "from_run": args.from_run, "allow_unprotected": args.allow_unprotected,
              "forks": args.forks},
    )
    summary = execute_run(request)
    if summary.status == "failed" and args.on_failure == "rollback" and not args.check:
        _roll_back(args, summary.run_id)
    return summary.exit_code


def _roll_back(args: argparse.Namespace, failed_run: str) -> None:
    """`--on-failure rollback`: run the product's rollback from the failed run's own artifacts."""
    from pathlib import Path

    from engine.cli.common import plan_options
    from engine.execute.session import execute_run
    from engine.journal.store import Journal
    from engine.pipeline.on_failure import rollback_after_failure

    journal = Journal(Path(args.state_dir) / "runs.db")
    try:
        rollback_after_failure(
            journal, failed_run, args.inventory, playbook_path=args.playbook,
            execute=lambda plan: execute_run(build_request(args, plan, from_run=failed_run)),
            plan_options=plan_options(args), keyring=keyring_from(args))
    finally:
        journal.close()


def _prior_resources(args: argparse.Namespace) -> frozenset[str]:
    from pathlib import Path

    from engine.core.errors import UserError
    from engine.journal.store import Journal

    journal = Journal(Path(args.state_dir) / "runs.db")
    try:
        row = journal.find_run(args.from_run)
        if row is None:
            raise UserError(f"--from-run: no run {args.from_run!r} in {args.state_dir}/runs.db",
                            hint="`cutover runs` lists them")
        args.from_run = row["id"]
        return frozenset(a.resource for a in journal.artifacts(row["id"]) if a.verified)
    finally:
        journal.close()
