"""`cutover runs`: the recorded runs, newest first."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))
    parser.add_argument("-n", "--limit", type=int, default=20)
    parser.add_argument("--campaign", metavar="NAME", help="only the runs of this campaign's estates")


def execute(args: argparse.Namespace) -> int:
    from engine.journal import journal_exists
    from engine.journal.store import Journal

    path = Path(args.state_dir) / "runs.db"
    if not journal_exists(args.state_dir):
        print("no runs recorded yet")
        return 0
    journal = Journal(path)
    rows = journal.runs(args.limit, campaign=args.campaign)
    for r in rows:
        kind = " (check)" if r["check_mode"] else ""
        print(f"{r['id']}  {r['status']:<11} {r['started']}  {r['estate']}  {r['playbook']}{kind}  by {r['operator']}")
    journal.close()
    return 0
