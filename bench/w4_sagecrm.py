"""W4: the Sage CRM upgrade on simulated Windows servers: makespan against the critical path.

    python bench/w4_sagecrm.py [--servers 3,10] [--scale 1] [--backup-rate 100]

The real playbook (playbooks/sagecrm/upgrade.yml, every gate approved) runs through the real
`cutover run` on an estate of simulated servers (`connection: sim`, docs/simulation.md): the
guide's three-server cluster (the database on crm2), then more web servers. Each server's
install folder gets 30,000 more files (at scale 1), which the guide's program-files backup
zips and reads back. The waits a real upgrade spends on the Windows side are simulated with the
sim's latency rules (real seconds that cost the controller nothing): the installer on the
database server backs the database up (`--db-mb` at `--backup-rate` MB/s, as SQL Server would
write it) and upgrades it (`--db-upgrade` s); on the other servers it replaces files
(`--web-installer` s).

Measured from the run's journal and its plan (`cutover plan --format json`): the makespan
(first step's start to last step's end) and the critical path (the longest chain of the plan's
dependencies, each step weighted with the time it really took), their ratio (target <= 1.05),
and the engine's per-step overhead: the gaps between one step's end and the next one's start
along that path. The run must succeed with every server at the target version.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._env import BENCH, child_env, cutover_bin, load_average  # noqa: E402
from tests.support.sagecrm_estates import PLAYBOOKS, ROLES, SimEstate, inventory_doc, sim_initial  # noqa: E402

INSTALL = "C:\\Program Files (x86)\\Sage\\CRM\\CRM"


def roles_for(servers: int) -> dict[str, list[str]]:
    """The guide's cluster (crm1-crm3), then web servers crm4..crmN."""
    roles = {name: list(r) for name, r in ROLES["cluster"].items()}
    for i in range(4, servers + 1):
        roles[f"crm{i}"] = ["web"]
    return dict(list(roles.items())[:servers]) if servers < 3 else roles


def estate_doc(servers: int, options: argparse.Namespace) -> dict[str, Any]:
    db_seconds = options.db_mb / options.backup_rate + options.db_upgrade
    hosts = {}
    for name, roles in roles_for(servers).items():
        seconds = db_seconds if "db" in roles else options.web_installer
        fault = {"op": "process.run", "mode": "always", "latency": round(seconds, 3)}  # the installer
        hosts[name] = {"roles": roles, "sim": {"initial": sim_initial(), "faults": [fault]}}
    doc = inventory_doc("cluster", hosts=hosts)
    doc["databases"]["crm"]["max_connections"] = 40 * servers  # the estate rule: DLL + pool per web server
    return doc


def add_files(estate: SimEstate, count: int, seed: int = 4) -> int:
    """`count` more files in every server's install folder, written straight into the sim's file tree."""
    rng = random.Random(seed)
    total = 0
    for name in estate.hosts:
        root = estate.host(name).path(INSTALL + "\\WWWRoot\\Generated")
        for i in range(count):
            folder = root / f"m{i % 150:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            data = (
                f"// generated page {i}\n"
                + "var x = CRM.GetContextInfo('company', 'comp_name');\n" * rng.randrange(4, 40)
            ).encode()
            (folder / f"page{i}.asp").write_bytes(data)
            total += len(data)
    return total


def journal_steps(folder: Path) -> dict[str, tuple[float, float, str]]:
    """node id -> (start, end, status) of the last run's steps, in seconds since the epoch."""
    with sqlite3.connect(folder / ".cutover" / "runs.db") as db:
        (run_id,) = db.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        rows = db.execute(
            "SELECT node_id, started, ended, status FROM nodes WHERE run_id = ?", (run_id,)
        ).fetchall()
    out = {}
    for node, started, ended, status in rows:
        if started and ended:
            out[node] = (
                dt.datetime.fromisoformat(started).timestamp(),
                dt.datetime.fromisoformat(ended).timestamp(),
                status,
            )
    return out


def critical_path(
    steps: Iterable[str], edges: list[list[str]], took: dict[str, float]
) -> tuple[float, list[str]]:
    """The longest chain through the plan, each step weighted with its measured duration."""
    preds: dict[str, list[str]] = {s: [] for s in steps}
    succs: dict[str, list[str]] = {s: [] for s in steps}
    for a, b in edges:
        preds.setdefault(b, []).append(a)
        succs.setdefault(a, []).append(b)
        preds.setdefault(a, [])
    order, indegree = [], {n: len(p) for n, p in preds.items()}
    ready = [n for n, d in indegree.items() if d == 0]
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in succs.get(node, []):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    best: dict[str, tuple[float, str | None]] = {}
    for node in order:
        before = max(((best[p][0], p) for p in preds[node]), default=(0.0, None))
        best[node] = (before[0] + took.get(node, 0.0), before[1])
    end = max(best, key=lambda n: best[n][0])
    path = [end]
    while best[path[-1]][1] is not None:
        path.append(best[path[-1]][1])  # type: ignore[arg-type]
    return best[end][0], path[::-1]


def run_estate(servers: int, options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="w4-", dir=BENCH / "out") as tmp:
        folder = Path(tmp)
        estate = SimEstate(folder, doc=estate_doc(servers, options))
        added = add_files(estate, options.files)
        playbook = str(PLAYBOOKS / "upgrade.yml")
        common = [playbook, "-i", str(estate.inventory)]
        plan = json.loads(subprocess.run([cutover_bin(), "plan", *common, "--format", "json"], cwd=folder,
                                         capture_output=True, text=True, check=True, env=child_env()).stdout)  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run([cutover_bin(), "run", *common, "--approve-all", "--forks", str(4 * servers)],
                              cwd=folder, capture_output=True, text=True, env=child_env())  # fmt: skip
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(
                f"W4 with {servers} servers failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
            )
        versions = {
            h: estate.host(h).registry_value(r"HKLM\SOFTWARE\eware\Config\/CRM", "Version")
            for h in estate.hosts
        }
        if estate.db_version() != "7.3" or any(
            not v or "7.3" not in str(v.get("data")) for v in versions.values()
        ):
            raise SystemExit(
                f"W4 with {servers} servers did not reach 7.3: database {estate.db_version()}, {versions}"
            )
        steps = journal_steps(folder)
    took = {n: end - begin for n, (begin, end, _s) in steps.items()}
    ids = [s["id"] for s in plan["steps"]]
    length, path = critical_path(ids, plan["edges"], took)
    makespan = max(e for _b, e, _s in steps.values()) - min(b for b, _e, _s in steps.values())
    gaps = [
        max(0.0, steps[b][0] - steps[a][1])
        for a, b in zip(path, path[1:], strict=False)
        if a in steps and b in steps
    ]
    return {
        "servers": servers,
        "steps": len(steps),
        "files_added_per_server": options.files,
        "bytes_added": added,
        "wall": wall,
        "makespan": makespan,
        "critical_path": length,
        "ratio": makespan / length if length else 0.0,
        "path_steps": len(path),
        "gap_median_ms": 1000 * sorted(gaps)[len(gaps) // 2] if gaps else 0.0,
        "gap_total": sum(gaps),
        "slowest": sorted(((took.get(n, 0.0), n) for n in path), reverse=True)[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="3,10", help="estate sizes, comma-separated")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1: 30,000 files per server, a 1 GB database"
    )
    parser.add_argument(
        "--backup-rate", type=float, default=100.0, help="MB/s at which SQL Server writes the backup"
    )
    parser.add_argument(
        "--db-upgrade", type=float, default=None, help="seconds the installer upgrades the database"
    )
    parser.add_argument(
        "--web-installer", type=float, default=None, help="seconds the installer takes on a web server"
    )
    options = parser.parse_args()
    options.files = max(100, round(30_000 * options.scale))
    options.db_mb = 1000 * options.scale
    options.db_upgrade = options.db_upgrade if options.db_upgrade is not None else 20 * options.scale
    options.web_installer = options.web_installer if options.web_installer is not None else 10 * options.scale
    (BENCH / "out").mkdir(exist_ok=True)
    print(f"W4: Sage CRM upgrade (playbooks/sagecrm/upgrade.yml) on simulated servers; {options.files:,} files added "
          f"per server; installer on the database server {options.db_mb:.0f} MB backup at {options.backup_rate:g} MB/s "
          f"+ {options.db_upgrade:g} s upgrade, on the others {options.web_installer:g} s")  # fmt: skip
    print()
    print(
        "| servers | steps | wall (cutover run) | makespan | critical path | makespan / critical path | per-step gap on the path (median) | gaps on the path (sum) | target <= 1.05 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for servers in (int(s) for s in options.servers.split(",")):
        r = run_estate(servers, options)
        print(f"| {servers} | {r['steps']} | {r['wall']:.2f} s | {r['makespan']:.2f} s | {r['critical_path']:.2f} s "
              f"({r['path_steps']} steps) | {r['ratio']:.3f} | {r['gap_median_ms']:.1f} ms | {r['gap_total']:.2f} s | "
              f"{'yes' if r['ratio'] <= 1.05 else 'NO'} |", flush=True)  # fmt: skip
        print(
            f"[w4] {servers} servers: slowest on the path {r['slowest']} (load {load_average()})",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
