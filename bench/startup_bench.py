"""Start-up: `cutover run` of 1 local host x 1 `true` task, and where its imports spend the time.

    python bench/startup_bench.py [--runs 11] [--top 25] [--compare OTHER_TREE]

The wall time is the median of `--runs` runs of the real command (console, journal and the
HTML/JSON/JUnit reports included, as an operator runs it), after one untimed run that warms the
bytecode caches. Then one more run under `python -X importtime`: its imports grouped by the
package that was imported first at the top level (third-party libraries by name, the engine by
its stage), cumulative microseconds as Python measures them (self time of every module below).

`--compare TREE` runs another checkout of cutover (say main's, for a before/after) alternately
with this one, run by run in the same folder layout, and prints both medians and their CPU
time (user + system of the command and its children: the helper), which moves less with the
machine's load than the wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._env import REPO, child_env  # noqa: E402

INVENTORY = "estate: startup\ndefaults: {connection: local}\nhosts:\n  l1: {}\n"
PLAYBOOK = '- hosts: all\n  tasks:\n    - name: t\n      command: "true"\n'
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def command(python: str) -> list[str]:
    return [python, "-m", "engine", "run", "playbook.yml", "-i", "inventory.yml"]


def timed_runs(folder: Path, runs: int) -> list[float]:
    return [wall for wall, _cpu in alternating({str(REPO): folder}, runs)[str(REPO)]]


def alternating(folders: dict[str, Path], runs: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of `runs` runs per tree (key: the checkout, put on PYTHONPATH), the
    trees taking turns run by run, after one untimed run each (bytecode caches, validation)."""
    argv = command(sys.executable)
    env = {tree: child_env(PYTHONPATH=tree) for tree in folders}
    for tree, folder in folders.items():
        subprocess.run(argv, cwd=folder, env=env[tree], capture_output=True, check=True)
    measured: dict[str, list[tuple[float, float]]] = {tree: [] for tree in folders}
    for _ in range(runs):
        for tree, folder in folders.items():
            before, start = os.times(), time.perf_counter()
            subprocess.run(argv, cwd=folder, env=env[tree], capture_output=True, check=True)
            wall, after = time.perf_counter() - start, os.times()
            cpu = after.children_user + after.children_system - before.children_user - before.children_system
            measured[tree].append((wall, cpu))
    return measured


def estate(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yml").write_text(INVENTORY)
    (folder / "playbook.yml").write_text(PLAYBOOK)
    return folder


def import_breakdown(folder: Path) -> tuple[float, list[tuple[str, float]]]:
    """(total import seconds, [(what, seconds)]) of one run, largest first.

    A package outside the standard library counts with everything its first import pulled in
    (the cumulative column of its top module: networkx with the stdlib modules it loads); the
    engine's own modules and the rest of the standard library count their own time.
    """
    argv = [sys.executable, "-X", "importtime", *command(sys.executable)[1:]]
    done = subprocess.run(argv, cwd=folder, env=child_env(), capture_output=True, text=True, check=True)
    rows = [(int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4))
            for m in map(_LINE.match, done.stderr.splitlines()) if m]  # fmt: skip
    total = sum(r[0] for r in rows)
    stdlib = set(sys.stdlib_module_names)
    groups: dict[str, float] = defaultdict(float)
    counted_from = len(rows)  # rows from here up to the package's own line are counted with it
    # importtime prints children before their parent: walk backwards, so a package's own line
    # comes before the lines of what it imported
    for index in range(len(rows) - 1, -1, -1):
        self_us, cumulative, depth, name = rows[index]
        if index >= counted_from:
            continue
        top = name.split(".")[0]
        if top not in stdlib and top not in ("engine", "modules", "simulation") and not top.startswith("_"):
            groups[top] += cumulative
            first = index
            while first > 0 and rows[first - 1][2] > depth:
                first -= 1
            counted_from = first
            continue
        groups[group_of(name) if top in ("engine", "modules", "simulation") else "stdlib"] += self_us
    return total / 1e6, sorted(((g, us / 1e6) for g, us in groups.items()), key=lambda item: -item[1])


def group_of(module: str) -> str:
    """`engine.plan.graph` -> `engine.plan`."""
    return ".".join(module.split(".")[:2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--compare", metavar="TREE", help="another checkout, run alternately with this one")
    options = parser.parse_args()
    if options.compare:
        compare(options.compare, options.runs)
        return
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        folder = estate(Path(tmp))
        times = timed_runs(folder, options.runs)
        total, groups = import_breakdown(folder)
    median = statistics.median(times)
    print(f"local 1 host x 1 task: median {median * 1000:.0f} ms of {len(times)} runs (best {min(times) * 1000:.0f} ms); "
          f"target < 200 ms: {'yes' if median < 0.2 else 'NO'}")  # fmt: skip
    print(f"imports (python -X importtime, one run): {total * 1000:.0f} ms in all")
    print()
    print("| imported | ms |")
    print("|---|---|")
    for name, seconds in groups[: options.top]:
        print(f"| {name} | {seconds * 1000:.1f} |")


def compare(other: str, runs: int) -> None:
    """This tree and `other`, alternating: median and best wall time, median CPU, of each."""
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        folders = {
            str(Path(other).resolve()): estate(Path(tmp) / "other"),
            str(REPO): estate(Path(tmp) / "this"),
        }
        measured = alternating(folders, runs)
    print(f"local 1 host x 1 task, {runs} runs each, alternating (load {os.getloadavg()[0]:.1f} at the end)")
    print("| tree | median wall | best | median CPU |")
    print("|---|---|---|---|")
    for tree, values in measured.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(f"| {tree} | {statistics.median(walls) * 1000:.0f} ms | {min(walls) * 1000:.0f} ms | "
              f"{statistics.median(cpus) * 1000:.0f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
