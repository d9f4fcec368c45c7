"""`cutover show RUN`: one run's steps (with durations), artifacts, findings and gates."""

from __future__ import annotations

import argparse
import json
import os


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix, or `last`)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))
    parser.add_argument("--json", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from engine.journal import existing_journal
    from engine.pipeline.from_run import lookup_run
    from engine.report.localtime import duration_text, local_time, run_duration, run_timezone

    journal = existing_journal(args.state_dir)
    try:
        row = lookup_run(journal, args.run)
        nodes = journal.nodes(row["id"])
        artifacts = journal.artifact_rows(row["id"])
        gates = journal.gates(row["id"])
        findings = [f.to_dict() for f in journal.findings(row["id"])]
    finally:
        journal.close()
    if args.json:
        print(json.dumps({"run": row, "nodes": nodes, "artifacts": artifacts, "gates": gates,
                          "findings": findings}, indent=2, default=str))
        return 0
    zone = run_timezone(row)
    kind = "check" if row["check_mode"] else (row.get("kind") or "run")
    print(f"run {row['id']}  {row['status']}  {kind}  {row['playbook']} on {row['estate']}  by {row['operator']}")
    print(f"started {local_time(row['started'], zone)}  ended {local_time(row['ended'], zone)}  "
          f"duration {duration_text(run_duration(row))}")
    if row.get("parent_run"):
        print(f"from run {row['parent_run']}")
    for note in row.get("notes") or []:  # what the run recorded (an unlock: whose markers, where)
        print(f"note: {note}")
    for n in nodes:
        print(f"  {n['status']:>12}  {duration_text(n.get('duration')):>10}  {n['host']:<16} {n['task']}"
              + (f"  -- {n['error']}" if n["error"] else ""))
    if artifacts:
        print("artifacts:")
        for a in artifacts:
            size = f"{a['size']} bytes" if a["size"] is not None else "size unknown"
            print(f"  {a['kind']:<16} {a['resource']}  {a['location']}  {size}  sha256={a['sha256']}"
                  f"  taken {local_time(a['taken_at'], zone)}{'  verified' if a['verified'] else '  NOT verified'}")
    if gates:
        print("gates:")
        for g in gates:
            print(f"  {g['gate_id']}: {'approved' if g['approved'] else 'NOT approved'} by {g['by_whom'] or '-'} "
                  f"at {local_time(g['at'], zone)}  {g['comment'] or ''}")
    if findings:
        print("findings:")
        for f in findings:
            print(f"  [{f['severity']}] {f['category']}: {f['message']}")
    return 0
