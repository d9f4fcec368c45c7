"""Benchmark: how fast cutover loads and plans a large estate, and how much memory it takes.

Why: an operator runs `cutover plan` and `cutover validate` many times while writing a playbook;
on a large estate they must stay interactive. The budget is 100,000 plan nodes in under 5 s and
1 GB. This is a benchmark that prints numbers, not a test: machines differ.

Each scenario generates an inventory (hosts in roles and nested groups, estate/group/host
variables) and a playbook (three plays, templated arguments, a block, `needs:` barriers, a
rolling play, handlers) in a temporary folder, then times, in a fresh process so the peak memory
is its own: loading the inventory, loading the playbook, planning, and the static checks of
`cutover validate`.

    python bench/plan_bench.py                      # 1,000 hosts x 100 tasks, then 10,000 x 12
    python bench/plan_bench.py --hosts 2000 --tasks 100
    python bench/plan_bench.py --profile            # cProfile of the planning step (top functions)
    python bench/plan_bench.py --tracemalloc        # Python-level peak allocation too (slower)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BUDGET_SECONDS = 5.0
BUDGET_BYTES = 1 << 30
DEFAULT_SCENARIOS = [(1000, 100), (10000, 12)]


def write_estate(folder: Path, hosts: int, tasks: int) -> tuple[Path, Path]:
    """An inventory of `hosts` hosts and a playbook of about `tasks` tasks per host."""
    lines = [
        "estate: bench",
        "vars:",
        "  install_dir: /opt/crm",
        "  crm_version: '7.3'",
        "defaults:",
        "  connection: sim",
        "hosts:",
    ]
    for i in range(hosts):
        role = "db" if i % 50 == 0 else "web"
        lines += [f"  h{i:05d}:", f"    roles: [{role}]", f"    vars: {{slot: {i}}}"]
    sites = max(1, hosts // 100)
    lines.append("groups:")
    for s in range(sites):
        members = ", ".join(f"h{i:05d}" for i in range(s, hosts, sites))
        lines += [f"  site{s}:", f"    hosts: [{members}]", f"    vars: {{site: s{s}}}"]
    lines += ["  estate_all:", f"    children: [{', '.join(f'site{s}' for s in range(sites))}]"]
    inventory = folder / "inventory.yml"
    inventory.write_text("\n".join(lines) + "\n", encoding="utf-8")

    first = max(1, tasks * 6 // 10)
    rolling = max(1, tasks * 3 // 10)
    last = max(1, tasks - first - rolling - 2)  # + the rescue task and the handler: `tasks` steps per host
    play = ["- name: prepare", "  hosts: all", "  tasks:"]
    for j in range(first):
        play += [
            f"    - name: prepare step {j}",
            f"      id: prep{j}",
            f"      command: echo {{{{ install_dir }}}}/{j} {{{{ slot }}}}",
        ]
        if j % 10 == 9:
            play.append(f"      needs: [prep{j - 5}]")
    play += [
        "- name: upgrade",
        "  hosts: web:db",
        "  serial: '25%'",
        "  tasks:",
        "    - name: upgrade block",
        "      block:",
    ]
    for j in range(rolling):
        play += [
            f"        - name: upgrade step {j}",
            f"          command: echo {{{{ crm_version }}}} {j}",
            "          notify: restart",
        ]
    play += [
        "      rescue:",
        "        - name: report",
        "          debug: {msg: failed}",
        "  handlers:",
        "    - name: restart",
        "      command: echo restart",
        "- name: verify",
        "  hosts: estate_all",
        "  tasks:",
    ]
    for j in range(last):
        play += [f"    - name: verify {j}", '      debug: {msg: "{{ site }} ok"}']
    playbook = folder / "site.yml"
    playbook.write_text("\n".join(play) + "\n", encoding="utf-8")
    return inventory, playbook


class _Clock:
    """Wall and CPU seconds of named steps: on a busy machine the CPU time is the fairer number."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall[name] = time.perf_counter() - wall
        self.cpu[name] = time.process_time() - cpu


def _measure(hosts: int, tasks: int, profile: bool, trace: bool, out: Any) -> None:
    """Runs in a child process: the numbers of one scenario, sent back through `out`."""
    import cProfile
    import io
    import pstats
    import tracemalloc

    from engine.api.registry import ModuleRegistry
    from engine.load.inventory import load_inventory
    from engine.load.playbook import load_playbook
    from engine.plan.builder import build_plan
    from engine.validate.static_checks import check_plan

    with tempfile.TemporaryDirectory() as tmp:
        inv_path, pb_path = write_estate(Path(tmp), hosts, tasks)
        if trace:
            tracemalloc.start()
        clock = _Clock()
        with clock("inventory"):
            inventory = load_inventory(inv_path)
        with clock("playbook"):
            playbook = load_playbook(pb_path)
        profiler = cProfile.Profile() if profile else None
        with clock("plan"):
            plan = (
                build_plan(playbook, inventory)
                if profiler is None
                else profiler.runcall(build_plan, playbook, inventory)
            )
        with clock("validate"):
            check_plan(plan, ModuleRegistry())
        with clock("waves"):
            waves = len(plan.waves())
            plan.critical_path()
        result = {
            "hosts": hosts,
            "tasks": tasks,
            "nodes": plan.graph.number_of_nodes(),
            "steps": len(plan.steps()),
            "edges": plan.graph.number_of_edges(),
            "waves": waves,
            "times": clock.wall,
            "cpu": clock.cpu,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "traced_peak": tracemalloc.get_traced_memory()[1] if trace else None,
        }
        if profiler is not None:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(18)
            result["profile"] = text.getvalue()
        out.send(result)


def run_scenario(hosts: int, tasks: int, profile: bool = False, trace: bool = False) -> dict[str, Any]:
    """One scenario in a fresh process (so the peak memory is this scenario's alone)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measure, args=(hosts, tasks, profile, trace, send))
    child.start()
    result = receive.recv()
    child.join()
    return result


def report(result: dict[str, Any]) -> str:
    t, c = result["times"], result["cpu"]
    steps = ("inventory", "playbook", "plan")
    total, total_cpu = sum(t[k] for k in steps), sum(c[k] for k in steps)
    memory_ok = result["peak_rss"] <= BUDGET_BYTES
    verdict = "within" if total <= BUDGET_SECONDS and memory_ok else "OVER"
    if verdict == "OVER" and total_cpu <= BUDGET_SECONDS and memory_ok:
        verdict = f"within on CPU time (wall time over: the machine is busy, load {os.getloadavg()[0]:.1f})"

    def pair(name: str) -> str:
        return f"{t[name]:6.3f} s (cpu {c[name]:6.3f})"

    lines = [
        f"{result['hosts']:,} hosts x {result['tasks']} tasks: {result['nodes']:,} nodes "
        f"({result['steps']:,} steps, {result['edges']:,} edges, {result['waves']} waves)",
        f"  load inventory {pair('inventory')}   load playbook {pair('playbook')}",
        f"  plan           {pair('plan')}   {result['nodes'] / max(c['plan'], 1e-9):,.0f} nodes per CPU second",
        f"  validate       {pair('validate')}   waves + critical path {pair('waves')}",
        f"  load + plan    {total:6.3f} s (cpu {total_cpu:6.3f})   peak RSS {result['peak_rss'] / 2**20:,.0f} MiB"
        + (f"   traced peak {result['traced_peak'] / 2**20:,.0f} MiB" if result["traced_peak"] else ""),
        f"  budget {BUDGET_SECONDS:g} s and {BUDGET_BYTES >> 20} MiB: {verdict}",
    ]
    if result.get("profile"):
        lines.append(result["profile"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, help="hosts of a single scenario")
    parser.add_argument("--tasks", type=int, default=100, help="tasks per host of a single scenario")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the planning step")
    parser.add_argument("--tracemalloc", action="store_true", help="also report tracemalloc's peak (slower)")
    args = parser.parse_args(argv)
    scenarios = [(args.hosts, args.tasks)] if args.hosts else DEFAULT_SCENARIOS
    print(f"cutover plan benchmark (python {sys.version.split()[0]})")
    for hosts, tasks in scenarios:
        print(report(run_scenario(hosts, tasks, args.profile, args.tracemalloc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
