"""Engine-only benchmarks on simulated hosts: no network, no remote process, only the engine.

- throughput: a sim estate of H hosts x T `stat` tasks (one primitive round trip each, answered
  in-process by the simulated host): wall time of `cutover run`, steps per second, peak memory;
- overhead: makespan / critical path on a sim estate whose steps have known durations (each host
  has a `latency`, added to every round trip, and a `stat` step is one round trip), so the
  critical path is known exactly: the slowest host's latency x its steps. What the run takes
  beyond that is the engine's own cost.

Both run the real `cutover` command in a temporary directory and read its journal.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench._env import child_env, cutover_bin


@dataclass
class SimRun:
    hosts: int
    tasks: int
    forks: int
    wall: float
    makespan: float
    steps: int
    statuses: dict[str, int]
    peak_rss_mb: float
    node_median: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall if self.wall else 0.0


def _write_estate(folder: Path, hosts: int, tasks: int, latency_of: dict[int, float] | None) -> None:
    host_entries = {}
    for i in range(hosts):
        settings: dict[str, object] = {"connection": "sim"}
        if latency_of:
            settings["sim"] = {"latency": latency_of[i]}
        host_entries[f"sim{i:04d}"] = settings
    inventory = {"estate": "simbench", "hosts": host_entries}
    steps = [{"name": f"s{t}", "stat": {"path": "C:\\Windows"}} for t in range(tasks)]
    (folder / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (folder / "playbook.yml").write_text(yaml.safe_dump([{"hosts": "all", "tasks": steps}], sort_keys=False))


def _run(folder: Path, forks: int, timeout: float) -> tuple[float, float]:
    """(wall seconds, peak RSS of the run in MiB); SystemExit with the output on failure."""
    argv = [
        cutover_bin(),
        "run",
        "playbook.yml",
        "-i",
        "inventory.yml",
        "--forks",
        str(forks),
        "--no-report",
        "--output",
        "jsonl",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=folder,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"sim run failed ({proc.returncode}): {proc.stderr[-1500:]}{proc.stdout[-1500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def _journal(folder: Path) -> tuple[float, int, dict[str, int], float]:
    """(makespan, steps, statuses, median step duration) of the last run in the folder's journal."""
    db = sqlite3.connect(folder / ".cutover" / "runs.db")
    try:
        (run_id,) = db.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        rows = db.execute(
            "SELECT status, started, ended, duration FROM nodes WHERE run_id = ?", (run_id,)
        ).fetchall()
    finally:
        db.close()
    statuses: dict[str, int] = {}
    for status, *_ in rows:
        statuses[status] = statuses.get(status, 0) + 1
    starts = [dt.datetime.fromisoformat(r[1]) for r in rows if r[1]]
    ends = [dt.datetime.fromisoformat(r[2]) for r in rows if r[2]]
    durations = sorted(r[3] for r in rows if r[3] is not None)
    makespan = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    median = durations[len(durations) // 2] if durations else 0.0
    return makespan, len(rows), statuses, median


def sim_run(
    hosts: int,
    tasks: int,
    forks: int,
    latency_of: dict[int, float] | None = None,
    timeout: float = 900.0,
    warm: bool = True,
) -> SimRun:
    """One estate, run once untimed (the simulated hosts' state is created) and once timed."""
    with tempfile.TemporaryDirectory(prefix="cutover-simbench-") as tmp:
        folder = Path(tmp)
        _write_estate(folder, hosts, tasks, latency_of)
        if warm:
            _run(folder, forks, timeout)
        wall, peak = _run(folder, forks, timeout)
        makespan, steps, statuses, median = _journal(folder)
    return SimRun(hosts, tasks, forks, wall, makespan, steps, statuses, peak, median)


def latencies(hosts: int, base: float) -> dict[int, float]:
    """Per-host latency: 1x, 2x or 3x `base`, so hosts differ and one chain is the critical one."""
    return {i: base * (1 + i % 3) for i in range(hosts)}


def overhead(hosts: int, tasks: int, base: float, forks: int | None = None) -> tuple[SimRun, float]:
    """The run and its critical path (seconds): the slowest host's latency times its steps."""
    lat = latencies(hosts, base)
    run = sim_run(hosts, tasks, forks or hosts, lat)
    return run, max(lat.values()) * tasks


def cpu_count() -> int:
    return os.cpu_count() or 1
