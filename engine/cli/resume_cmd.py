"""`cutover resume RUN`: continue a run; steps recorded done are never run again."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.run_cmd import add_execution_args, build_request


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix, or `last`)")
    parser.add_argument("--force", action="store_true", help="resume even if the playbook or inventory changed")
    parser.add_argument("--vault-id", action="append", default=[], metavar="ID@SOURCE")
    add_execution_args(parser)


def execute(args: argparse.Namespace) -> int:
    from engine.cli.common import load_all
    from engine.core.errors import UserError
    from engine.execute.session import check_resumable, execute_run
    from engine.journal.store import Journal

    journal = Journal(Path(args.state_dir) / "runs.db")
    row = journal.find_run(args.run)
    journal.close()
    if row is None:
        raise UserError(f"no run {args.run!r} in {args.state_dir}/runs.db", hint="`cutover runs` lists them")
    if row["status"] == "succeeded":
        print(f"run {row['id']} already succeeded: nothing to resume")
        return 0
    saved = row["args"] or {}
    ns = argparse.Namespace(
        playbook=row["playbook"], inventory=row["inventory"], vault_id=args.vault_id,
        extra_vars=saved.get("extra_vars") or [], limit=saved.get("limit"), tags=saved.get("tags") or [],
        skip_tags=saved.get("skip_tags") or [], allow_unprotected=saved.get("allow_unprotected", False),
    )
    prior: frozenset[str] = frozenset()
    from_run = saved.get("from_run")
    journal = Journal(Path(args.state_dir) / "runs.db")
    if from_run:
        prior = frozenset(a.resource for a in journal.artifacts(from_run) if a.verified)
    _pb, _inv, plan = load_all(ns, prior_resources=prior)
    check_resumable(journal, row["id"], plan, args.force)
    journal.close()
    request = build_request(args, plan, check_mode=bool(saved.get("check")), resume_of=row["id"],
                            from_run=from_run, allow_unprotected=bool(saved.get("allow_unprotected")))
    return execute_run(request).exit_code
