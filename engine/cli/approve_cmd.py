"""`cutover approve RUN GATE --as NAME`: answer a gate a run waits at, from any terminal.

The run must have been started with `--gate-wait` (campaigns do this), and this terminal must
share its journal: the same state dir, or the fleet's database (`CUTOVER_JOURNAL_URL`).
"""

from __future__ import annotations

import argparse
import os


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix, or `last`)")
    parser.add_argument("gate", metavar="GATE", help="the gate's id")
    parser.add_argument("--as", dest="who", metavar="NAME",
                        help="who answers (recorded in the journal and the report; default: $CUTOVER_OPERATOR "
                             "or the login name)")
    parser.add_argument("--comment", default="", help="why, or what was checked")
    parser.add_argument("--refuse", action="store_true", help="refuse instead of approving (the gate fails)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.execute.session import operator_name
    from engine.journal import existing_journal
    from engine.journal.gates import answer, waiting

    who = operator_name(args.who).strip()
    if not who:
        raise UserError("--as needs a name", hint="the person answering, as the report should show it")
    journal = existing_journal(args.state_dir)
    try:
        row = journal.find_run(args.run)
        if row is None:
            raise UserError(f"no run {args.run!r} in {journal.describe()} (or the prefix is not unique)",
                            hint="`cutover runs` lists them")
        run_id = row["id"]
        asked = {g["gate_id"] for g in waiting(journal, [run_id])}
        if args.gate not in asked:
            if row["status"] != "running":
                raise UserError(f"run {run_id} is {row['status']}: no gate of it waits for an answer",
                                hint=f"`cutover show {run_id}` shows its gates")
            print(f"gate {args.gate} of run {run_id} is not waiting yet: the answer is kept for when the run reaches it")
        answer(journal, run_id, args.gate, not args.refuse, who, args.comment)
    finally:
        journal.close()
    verb = "refused" if args.refuse else "approved"
    print(f"{verb} gate {args.gate} of run {run_id} as {who}")
    return 0
