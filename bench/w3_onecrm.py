"""W3: a 1CRM update on real data over SSH, cutover against a hand script and ansible-core.

    python bench/w3_onecrm.py [--scale 1] [--reps 1] [--engines cutover,hand,ansible]

The bench generates a 1CRM estate (bench/_w3_data.py; at scale 1 a ~1 GB MariaDB database and a
~30,000-file / 1 GB install tree) with its own MariaDB server and sshd in a temporary folder,
then each engine runs the same procedure against it (bench/w3/): verified backups of database
and files, the update package unpacked and applied with its database step, post-checks, the
rollback and its checks. The engines alternate run by run. After every run the harness checks
that the engine says it did the work (its journal, output or recap) and that the estate is
exactly as before (every file, folder and link; CHECKSUM TABLE and row count of every table):
a run that fails either stops the bench.

Reported: wall time (median), CPU time (the engine and what it waited for, the sshd's sessions,
mariadbd), ratios, and cutover's engine overhead: its wall time minus the time during which at
least one tool was working on a host (the union of its helper round trips, bench/_traced_cutover.py).
A benchmark, not a test: it prints tables and asserts only that every engine did the work.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _env  # noqa: E402
from bench._w3_data import Scale  # noqa: E402
from bench._w3_engines import ENGINES, W3Engine  # noqa: E402
from bench._w3_estate import w3_estate  # noqa: E402
from engine.journal.store import Journal  # noqa: E402


@dataclass
class Runs:
    engine: W3Engine
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    #: cutover only: seconds of each run during which no tool worked on a host
    overhead: list[float] = field(default_factory=list)

    def median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None


class W3Failed(SystemExit):
    pass


def union_length(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] covered by at least one of the intervals."""
    covered, reach = 0.0, start
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, end)
        if b > a:
            covered += b - a
            reach = b
    return covered


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(runs: Runs, budget: float) -> None:
    engine = runs.engine
    estate = engine.estate
    argv = engine.argv()
    cpu0, server0 = _children_cpu(), estate.server_cpu()
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=engine.workdir, env=engine.env(), capture_output=True, text=True,
                              timeout=budget, stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise W3Failed(f"{engine.title} did not finish within {budget:.0f} s") from None
    end = time.monotonic()
    engine.disconnect()
    time.sleep(0.2)  # the sshd reaps its ended sessions
    if proc.returncode != 0:
        raise W3Failed(
            f"{engine.title} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    missing = engine.evidence(proc.stdout)
    wrong = estate.differences()
    if missing or wrong:
        raise W3Failed(
            f"{engine.title} did not do the work: {'; '.join(missing + wrong)}\n{proc.stdout[-2000:]}"
        )
    runs.wall.append(end - start)
    runs.cpu.append(_children_cpu() - cpu0 + estate.server_cpu() - server0)
    busy = engine.tool_busy()
    if busy is not None:
        runs.overhead.append((end - start) - union_length(busy, start, end))
    engine.after()


def cutover_steps(runs: Runs) -> list[tuple[str, float]]:
    """(task, seconds) of cutover's last run, from its journal, in the order they started."""
    journal = Journal(str(runs.engine.workdir / ".cutover" / "runs.db"))
    try:
        nodes = journal.nodes(journal.runs(1)[0]["id"])
    finally:
        journal.close()
    done = [n for n in nodes if n.get("duration") is not None and n.get("status") != "skipped"]
    done.sort(key=lambda n: n.get("started") or "")
    return [(f"{n['task']} ({n['host']})", float(n["duration"])) for n in done]


def report(estate_text: str, built: float, all_runs: dict[str, Runs], reps: int) -> str:
    lines = [f"W3 estate: {estate_text} (built in {built:.0f} s)", ""]
    names = list(all_runs)
    head = ["engine", "wall (median)", "runs", "CPU (median)", "wall / cutover"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = all_runs["cutover"].median(all_runs["cutover"].wall) if "cutover" in all_runs else None
    for name in names:
        r = all_runs[name]
        wall, cpu = r.median(r.wall), r.median(r.cpu)
        ratio = f"{wall / base:.2f}x" if wall and base else "-"
        lines.append(
            f"| {r.engine.title} | {wall:.1f} s | {', '.join(f'{w:.1f}' for w in r.wall)} | {cpu:.1f} s | {ratio} |"
        )
    if "cutover" in all_runs and all_runs["cutover"].overhead:
        r = all_runs["cutover"]
        over, wall = r.median(r.overhead), r.median(r.wall)
        assert over is not None and wall
        lines += ["", f"cutover's engine overhead (wall time with no tool working on a host): {over:.2f} s of "
                  f"{wall:.1f} s = {100 * over / wall:.1f}% (target < 3%: {'yes' if over / wall < 0.03 else 'NO'})"]  # fmt: skip
        hand = all_runs.get("hand")
        if hand and hand.wall:
            speed = statistics.median(hand.wall) / wall
            lines.append(
                f"hand script / cutover: {speed:.2f}x (target >= 1.5x: {'yes' if speed >= 1.5 else 'NO'})"
            )
        lines += [
            "",
            "cutover's steps in its last run (journal durations; the backups and the restores run at once):",
            "",
        ]
        lines += [f"    {seconds:8.2f} s  {task}" for task, seconds in cutover_steps(r)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = ~1 GB database + 30,000 files / 1 GB")
    parser.add_argument("--reps", type=int, default=1, help="timed runs per engine (default 1)")
    parser.add_argument("--engines", default="cutover,hand,ansible", help="comma-separated")
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds one run may take")
    options = parser.parse_args()
    names = [n.strip() for n in options.engines.split(",") if n.strip()]
    if "ansible" in names:
        _env.ensure_others()
    out = _env.BENCH / "out"
    out.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="w3-", dir=out) as tmp,
        w3_estate(Path(tmp), Scale(options.scale)) as estate,
    ):
        print(
            f"[w3] estate ready in {estate.built_in:.0f} s: {estate.description}", file=sys.stderr, flush=True
        )
        all_runs = {n: Runs(ENGINES[n](estate, Path(tmp) / "work" / n)) for n in names}
        for round_ in range(options.reps):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                run_once(all_runs[name], options.budget)
                print(
                    f"[w3] {name}: {all_runs[name].wall[-1]:.1f} s (load {_env.load_average()})",
                    file=sys.stderr,
                    flush=True,
                )
        print(report(estate.description, estate.built_in, all_runs, options.reps))


if __name__ == "__main__":
    main()
