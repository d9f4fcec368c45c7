"""Start-up: `cutover run` of 1 local host x 1 `true` task, and where its imports spend the time.

    python bench/startup_bench.py [--runs 11] [--top 25]

The wall time is the median of `--runs` runs of the real command (console, journal and the
HTML/JSON/JUnit reports included, as an operator runs it), after one untimed run that warms the
bytecode caches. Then one more run under `python -X importtime`: its imports grouped by the
package that was imported first at the top level (third-party libraries by name, the engine by
its stage), cumulative microseconds as Python measures them (self time of every module below).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._env import child_env  # noqa: E402

INVENTORY = "estate: startup\ndefaults: {connection: local}\nhosts:\n  l1: {}\n"
PLAYBOOK = '- hosts: all\n  tasks:\n    - name: t\n      command: "true"\n'
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def command(python: str) -> list[str]:
    return [python, "-m", "engine", "run", "playbook.yml", "-i", "inventory.yml"]


def timed_runs(folder: Path, runs: int) -> list[float]:
    argv = command(sys.executable)
    subprocess.run(argv, cwd=folder, env=child_env(), capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=folder, env=child_env(), capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


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
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        folder = Path(tmp)
        (folder / "inventory.yml").write_text(INVENTORY)
        (folder / "playbook.yml").write_text(PLAYBOOK)
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


if __name__ == "__main__":
    main()
