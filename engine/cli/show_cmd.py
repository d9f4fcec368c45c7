"""`cutover show RUN`: one run's steps, artifacts, findings and gates."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix, or `last`)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))
    parser.add_argument("--json", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.journal.store import Journal

    journal = Journal(Path(args.state_dir) / "runs.db")
    row = journal.find_run(args.run)
    if row is None:
        raise UserError(f"no run {args.run!r}", hint="`cutover runs` lists them")
    nodes = journal.nodes(row["id"])
    artifacts = journal.artifact_rows(row["id"])
    gates = journal.gates(row["id"])
    findings = [f.to_dict() for f in journal.findings(row["id"])]
    if args.json:
        print(json.dumps({"run": row, "nodes": nodes, "artifacts": artifacts, "gates": gates,
                          "findings": findings}, indent=2, default=str))
        return 0
    print(f"run {row['id']}  {row['status']}  {row['playbook']} on {row['estate']}  by {row['operator']}")
    print(f"started {row['started']}  ended {row['ended'] or '-'}")
    for n in nodes:
        print(f"  {n['status']:>12}  {n['host']:<16} {n['task']}" + (f"  -- {n['error']}" if n["error"] else ""))
    if artifacts:
        print("artifacts:")
        for a in artifacts:
            print(f"  {a['kind']:<16} {a['resource']}  {a['location']}  sha256={a['sha256']}"
                  f"{'  verified' if a['verified'] else ''}")
    if gates:
        print("gates:")
        for g in gates:
            print(f"  {g['gate_id']}: {'approved' if g['approved'] else 'NOT approved'} by {g['by_whom']} "
                  f"at {g['at']}  {g['comment'] or ''}")
    if findings:
        print("findings:")
        for f in findings:
            print(f"  [{f['severity']}] {f['category']}: {f['message']}")
    journal.close()
    return 0
