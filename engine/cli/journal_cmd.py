"""`cutover journal check`: is the journal file whole, and what to do when it is not.

Opens `<state dir>/runs.db` read-only (nothing is created or changed, so it can be run on a
journal copied aside), runs SQLite's `PRAGMA integrity_check`
(https://www.sqlite.org/pragma.html#pragma_integrity_check) and says: whole (exit 0, with the
runs it holds and the last one), or damaged / not a journal / missing (exit 2, one line each,
with what to do).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

from engine.core.errors import UserError
from engine.journal.faults import answer

#: integrity_check problems shown (the rest are counted)
SHOWN = 5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["check"], help="check: the journal file's integrity")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"),
                        help="the state directory whose runs.db is checked (default .cutover)")


def execute(args: argparse.Namespace) -> int:
    path = Path(args.state_dir) / "runs.db"
    if not path.is_file():
        raise UserError(f"no journal at {path}" + (" (a folder)" if path.is_dir() else ""),
                        hint="nothing was recorded from this state directory; check --state-dir")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            runs = db.execute("SELECT count(*) FROM runs").fetchone()[0] if problems == ["ok"] else 0
            last = db.execute("SELECT id, status FROM runs ORDER BY started DESC, rowid DESC LIMIT 1").fetchone() \
                if runs else None
        finally:
            db.close()
    except sqlite3.Error as err:
        raise (answer(err, path) or UserError(f"journal {path}: {err}")) from None
    if problems != ["ok"]:
        shown = "; ".join(problems[:SHOWN]) + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else "")
        raise UserError(f"journal {path} is damaged: {shown}",
                        hint=f"keep the file (and its -wal); `sqlite3 {path} .recover | sqlite3 "
                             f"{path.parent}/recovered.db` saves what can be read")
    print(f"journal {path}: whole; {runs} run(s)" + (f", the last {last[0]} ({last[1]})" if last else ""))
    return 0
