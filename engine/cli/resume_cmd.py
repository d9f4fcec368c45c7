"""`cutover resume RUN`: continue a run; steps recorded done are never run again."""

from __future__ import annotations

import argparse

from engine.cli.common import keyring_from
from engine.cli.run_cmd import add_execution_args, run_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix, or `last`)")
    parser.add_argument("--force", action="store_true", help="resume even if the playbook or inventory changed")
    parser.add_argument("--vault-id", action="append", default=[], metavar="ID@SOURCE")
    add_execution_args(parser)


def execute(args: argparse.Namespace) -> int:
    from engine.pipeline import resume

    run_id, summary = resume(args.run, run_settings(args), keyring_from(args), force=args.force)
    if summary is None:
        print(f"run {run_id} already succeeded: nothing to resume")
        return 0
    return summary.exit_code
