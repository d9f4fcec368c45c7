"""`cutover report RUN --format html|json|junit [-o FILE]`: a recorded run's report, on demand.

Without `-o` the file goes where the run's own reports live (`<state dir>/reports/<run>/`),
replacing the one written at the end of the run (a report re-rendered by a newer cutover);
`-o -` writes to standard output for pipes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix, or `last`)")
    parser.add_argument(
        "--format",
        choices=["html", "json", "junit"],
        default="html",
        help="html (default, self-contained), json (cutover-report/1) or junit (XML)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (`-` = standard output; default: <state dir>/reports/RUN/)",
    )
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"),
        help="journal, locks and reports (default .cutover)",
    )


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.journal import existing_journal
    from engine.pipeline.from_run import lookup_run
    from engine.report import FILES, build_report, renderer, reports_root, write_atomically

    journal = existing_journal(args.state_dir)
    try:
        row = lookup_run(journal, args.run)
        doc = build_report(journal, row["id"], state_dir=args.state_dir)
    finally:
        journal.close()
    text = renderer(args.format)(doc)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    target = (
        Path(args.output)
        if args.output
        else reports_root(args.state_dir) / row["id"] / FILES[args.format]
    )
    try:
        write_atomically(target, text)
    except OSError as err:
        raise UserError(f"cannot write {target}: {err.strerror or err}") from None
    print(target)
    return 0
