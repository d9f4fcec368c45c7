"""Timing engines side by side: alternating order, medians, a time bound for every cell.

Load from the other users of a shared 2-core machine comes and goes; running the engines in
turn (the order rotates every round) spreads it over all of them, and the median ignores the
odd run that met a burst. CPU time is counted too (the engine and every process it waited for,
plus what the sshd spent on its sessions), which load does not inflate the way it does wall time.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.engines import Prepared


@dataclass
class Cell:
    """One engine on one workload: the times of its timed runs, or why it was not measured."""

    engine: str
    times: list[float] = field(default_factory=list)
    #: CPU seconds of each timed run: the engine's processes and the server side of its sessions
    cpu: list[float] = field(default_factory=list)
    skipped: str | None = None
    failed: str | None = None
    #: said next to a median that rests on fewer runs than asked
    note: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    def describe(self) -> str:
        if self.median is not None:
            return f"{self.median:.2f} s"
        return "not measured" if self.skipped else "failed"


class RunFailed(Exception):
    pass


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(
    prepared: Prepared, timeout: float, server_cpu: Callable[[], float] | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; RunFailed (with the output's tail) on a non-zero exit or timeout."""
    argv = prepared.next_run()
    cpu0, server0 = _children_cpu(), server_cpu() if server_cpu else 0.0
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            cwd=prepared.cwd,
            env=prepared.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise RunFailed(f"did not finish within {timeout:.0f} s") from None
    finally:
        elapsed = time.perf_counter() - start
        prepared.after()
    if proc.returncode != 0:
        tail = (proc.stdout[-800:] + "\n" + proc.stderr[-800:]).strip()
        raise RunFailed(f"exit {proc.returncode}: {tail}")
    if server_cpu:
        time.sleep(0.2)  # sshd reaps its ended sessions (their CPU is added to its children's) on SIGCHLD
    cpu = _children_cpu() - cpu0 + (server_cpu() - server0 if server_cpu else 0.0)
    return elapsed, cpu


def side_by_side(
    prepared: dict[str, Prepared],
    reps: int,
    budget: float,
    cells: dict[str, Cell],
    setup_run: bool,
    server_cpu: Callable[[], float] | None = None,
) -> None:
    """Up to `reps` timed runs of each engine, in rounds whose order rotates.

    `setup_run`: one untimed run of each engine first (W2's run that creates the files). Every
    cell is bounded: an engine stops being timed once its runs (the setup run included) have used
    `budget` seconds or the next run would overrun them; a single run is killed at the bound.
    At least one timed run is attempted whenever the setup run left time for it.
    """
    spent = {name: 0.0 for name in prepared}
    if setup_run:
        for name in prepared:
            try:
                spent[name] = run_once(prepared[name], budget, server_cpu)[0]
            except RunFailed as exc:
                cells[name].failed = f"setup run: {exc}"
    active = [n for n in prepared if cells[n].failed is None]
    for round_ in range(reps):
        shift = round_ % max(len(active), 1)
        for name in active[shift:] + active[:shift]:
            cell = cells[name]
            if cell.failed or cell.skipped:
                continue
            last = cell.times[-1] if cell.times else (spent[name] if setup_run else 0.0)
            left = budget - spent[name]
            if spent[name] + last > budget:
                if not cell.times:
                    cell.skipped = f"the setup run took {last:.0f} s: it and one timed run would exceed the {budget:.0f} s bound"
                continue  # another run would overrun the bound: keep the runs made
            try:
                took, cpu = run_once(prepared[name], left, server_cpu)
            except RunFailed as exc:
                if "did not finish" in str(exc) and cell.times:
                    cell.note = f"run {len(cell.times) + 1} stopped at the {budget:.0f} s bound; median of {len(cell.times)}"
                elif "did not finish" in str(exc):
                    cell.skipped = f"a run did not finish within the {budget:.0f} s bound"
                else:
                    cell.failed = str(exc)
                continue
            cell.times.append(took)
            cell.cpu.append(cpu)
            spent[name] += took
