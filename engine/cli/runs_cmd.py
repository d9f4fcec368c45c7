"""`cutover runs`: the recorded runs, newest first, under a header, times in each estate's zone."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

COLUMNS = ("RUN", "STATUS", "STARTED", "DURATION", "ESTATE", "PLAYBOOK", "KIND", "OPERATOR")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))
    parser.add_argument("-n", "--limit", type=int, default=20)
    parser.add_argument("--campaign", metavar="NAME", help="only the runs of this campaign's estates")


def execute(args: argparse.Namespace) -> int:
    from engine.journal import journal_exists
    from engine.journal.store import Journal
    from engine.report.localtime import duration_text, local_time, run_duration, run_timezone

    path = Path(args.state_dir) / "runs.db"
    if not journal_exists(args.state_dir):
        print("no runs recorded yet")
        return 0
    journal = Journal(path)
    try:
        rows = journal.runs(args.limit, campaign=args.campaign)
    finally:
        journal.close()
    table = [COLUMNS]
    for r in rows:
        kind = "check" if r["check_mode"] else str(r.get("kind") or "run")
        table.append((
            str(r["id"]), str(r["status"]), local_time(r["started"], run_timezone(r)),
            duration_text(run_duration(r)), str(r["estate"]), Path(str(r["playbook"])).name, kind,
            str(r["operator"]),
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0
