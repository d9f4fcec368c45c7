"""`cutover unlock ESTATE`: remove a stale lock left by a run whose process is gone."""

from __future__ import annotations

import argparse
import os


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("estate", metavar="ESTATE", help="estate name (the inventory's `estate:`)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))


def execute(args: argparse.Namespace) -> int:
    from engine.execute.lock import break_lock, describe, inspect_lock

    status, holder = inspect_lock(args.state_dir, args.estate)
    if status == "free":
        print(f"estate {args.estate!r} is not locked")
        return 0
    break_lock(args.state_dir, args.estate)
    print(f"removed stale lock of {describe(holder)}")
    return 0
