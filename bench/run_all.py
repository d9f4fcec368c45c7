"""Every benchmark in one run, and the table: cutover side by side with ansible-core and pyinfra.

    python bench/run_all.py            # the full set (about an hour on 2 cores, most of it ansible)
    python bench/run_all.py --quick    # N = 10 only, 3 runs, small sim estates: a few minutes
    python bench/run_all.py --only side-by-side --sizes 10,50 --engines cutover,pyinfra

Sections: side by side (W1, W2, start-up; over SSH to a private sshd on 127.0.0.1 and over
local; the `ssh host true` floor), `cutover --version`, engine-only on simulated hosts
(throughput, makespan / critical path), planning (bench/plan_bench.py), WinRM commands
(bench/winrm_bench.py), W3 (a 1CRM update on real data: bench/w3_onecrm.py), W4 (a Sage CRM
upgrade on simulated servers: bench/w4_sagecrm.py), WinRM file transfer
(bench/transfer_bench.py), start-up with its import breakdown (bench/startup_bench.py).
`--scale` sizes W3, W4 and the transfers (1: the issue's sizes; develop with 0.01). The Markdown tables go to
stdout and to bench/out/latest.md; raw numbers to bench/out/latest.json. A benchmark, not a
test: it asserts nothing, and tells which targets were met.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _env  # noqa: E402
from bench._report import cpu_table, key_value_table, side_by_side_table  # noqa: E402

SECTIONS = ("side-by-side", "version", "sim", "plan", "winrm", "w3", "w4", "transfer", "startup")
OUT = _env.BENCH / "out"


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {_env.load_average()}] {text}", file=sys.stderr, flush=True)


def section_side_by_side(options: argparse.Namespace, raw: dict) -> str:
    from bench._sidebyside import run_side_by_side

    engines = options.engines
    rows = run_side_by_side(
        options.sizes, options.reps, options.budget, engines, options.transports, options.workloads
    )
    raw["side_by_side"] = [
        {
            "workload": r.workload.key,
            "hosts": r.workload.hosts,
            "tasks": r.workload.tasks,
            **{
                n: {"times": c.times, "median": c.median, "skipped": c.skipped, "failed": c.failed}
                for n, c in r.cells.items()
            },
        }
        for r in rows
    ]
    return (
        f"### Side by side (wall time of one run, median of up to {options.reps} runs; engines alternate)\n\n"
        + side_by_side_table(rows, engines)
        + "\n\n### CPU time of one run (median): the engine, every process it waited for, and the sshd's"
        " sessions (load inflates it far less than wall time)\n\n" + cpu_table(rows, engines)
    )


def section_version(options: argparse.Namespace, raw: dict) -> str:
    """`cutover --version`, the bound on what a command costs before it does anything."""
    argv = [_env.cutover_bin(), "--version"]
    subprocess.run(argv, capture_output=True, env=_env.child_env())  # bytecode cache warm
    times = []
    for _ in range(21 if not options.quick else 9):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=_env.child_env(), check=True)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    raw["version"] = {"times": times, "median": median}
    verdict = "yes" if median < 0.150 else "NO"
    return key_value_table(
        "`cutover --version`",
        {
            "median wall time": f"{median * 1000:.0f} ms (of {len(times)} runs; best {min(times) * 1000:.0f} ms)",
            "target < 150 ms met": verdict,
        },
    )


def section_sim(options: argparse.Namespace, raw: dict) -> str:
    from bench._sim_bench import overhead, sim_run

    hosts, tasks = (200, 20) if options.quick else (1000, 50)
    _log(f"sim throughput {hosts} x {tasks}")
    run = sim_run(hosts, tasks, forks=min(hosts, 100))
    o_hosts, o_tasks, base = (10, 10, 0.05) if options.quick else (50, 20, 0.1)
    _log(f"sim makespan {o_hosts} x {o_tasks}, latency {base}..{3 * base} s")
    timed, critical = overhead(o_hosts, o_tasks, base)
    ratio = timed.makespan / critical
    raw["sim"] = {"throughput": run.__dict__, "overhead": timed.__dict__, "critical_path": critical}
    return key_value_table(
        "engine only, simulated hosts",
        {
            f"{hosts} hosts x {tasks} `stat` steps, --forks {run.forks}": f"{run.wall:.1f} s for {run.steps} steps: {run.steps_per_second:.0f} steps/s, "
            f"{1000 * run.wall / max(run.steps, 1):.2f} ms per step; peak RSS {run.peak_rss_mb:.0f} MiB; "
            f"statuses {run.statuses}",
            f"{o_hosts} hosts x {o_tasks} steps, latency {base:g}/{2 * base:g}/{3 * base:g} s per host": f"critical path {critical:.2f} s, makespan {timed.makespan:.2f} s (first step start to last end), "
            f"whole command {timed.wall:.2f} s",
            "makespan / critical path (target <= 1.05)": f"{ratio:.3f} ({'yes' if ratio <= 1.05 else 'NO'})",
        },
    )


def _script(name: str, args: list[str], timeout: float) -> tuple[str, int]:
    path = _env.BENCH / name
    if not path.exists():
        return f"{name} is not in bench/ yet: not measured", -1
    try:
        proc = subprocess.run(
            [sys.executable, str(path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env.child_env(),
            cwd=_env.REPO,
        )
    except subprocess.TimeoutExpired:
        return f"{name} did not finish within {timeout:.0f} s: not measured", -1
    text = proc.stdout.strip() or proc.stderr.strip()[-2000:]
    return text, proc.returncode


def section_plan(options: argparse.Namespace, raw: dict) -> str:
    args = ["--hosts", "1000", "--tasks", "100"] if options.quick else []  # quick: the 100,000-node case only
    text, rc = _script("plan_bench.py", args, options.budget)
    raw["plan"] = {"output": text, "rc": rc}
    return f"### Planning (bench/plan_bench.py)\n\n```\n{text}\n```"


def section_winrm(options: argparse.Namespace, raw: dict) -> str:
    args = ["--calls", "60", "--run-ps-calls", "20"] if options.quick else []
    text, rc = _script("winrm_bench.py", args, options.budget)
    raw["winrm"] = {"output": text, "rc": rc}
    return f"### WinRM (bench/winrm_bench.py; target: persistent >= 3x run_ps)\n\n```\n{text}\n```"


def section_w3(options: argparse.Namespace, raw: dict) -> str:
    engines = ["cutover", "hand"] + (["ansible"] if "ansible" in options.engines else [])
    args = ["--scale", str(options.scale), "--reps", str(options.w3_reps), "--engines", ",".join(engines)]
    text, rc = _script("w3_onecrm.py", args, max(options.budget, 7200.0))
    raw["w3"] = {"output": text, "rc": rc}
    return (
        f"### W3: 1CRM update on real data over SSH (bench/w3_onecrm.py, scale {options.scale:g})\n\n{text}"
    )


def section_w4(options: argparse.Namespace, raw: dict) -> str:
    text, rc = _script("w4_sagecrm.py", ["--scale", str(options.scale)], max(options.budget, 3600.0))
    raw["w4"] = {"output": text, "rc": rc}
    return f"### W4: Sage CRM upgrade on simulated servers (bench/w4_sagecrm.py, scale {options.scale:g})\n\n{text}"


def section_transfer(options: argparse.Namespace, raw: dict) -> str:
    text, rc = _script("transfer_bench.py", ["--scale", str(options.scale)], options.budget)
    raw["transfer"] = {"output": text, "rc": rc}
    return f"### WinRM file transfer (bench/transfer_bench.py, scale {options.scale:g})\n\n{text}"


def section_startup(options: argparse.Namespace, raw: dict) -> str:
    text, rc = _script("startup_bench.py", ["--runs", "5" if options.quick else "11"], options.budget)
    raw["startup"] = {"output": text, "rc": rc}
    return f"### Start-up: local 1 host x 1 task (bench/startup_bench.py)\n\n{text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 10 only, 3 runs, small sim estates")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)"
    )
    parser.add_argument("--sizes", help="host counts for W1/W2, comma-separated (default 1,10,50,100)")
    parser.add_argument("--reps", type=int, help="timed runs per engine and workload (default 5, quick 3)")
    parser.add_argument("--engines", default="cutover,ansible,pyinfra", help="comma-separated")
    parser.add_argument(
        "--workloads",
        help="only these side-by-side workloads: start-up,W1,W2, and W1-long (10 hosts x 100 tasks)",
    )
    parser.add_argument("--transports", default="ssh,local", help="comma-separated: ssh, local")
    parser.add_argument(
        "--name", default="latest", help="write bench/out/NAME.md and NAME.json (default latest)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        help="W3/W4/transfer data: 1 = 1 GB database, 30,000 files / 1 GB, 200 MB package (quick: 0.01)",
    )
    parser.add_argument("--w3-reps", type=int, default=1, help="timed runs per engine in W3 (default 1)")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds one engine may spend on one workload (default 600)",
    )
    options = parser.parse_args()
    options.sizes = [int(n) for n in (options.sizes or ("10" if options.quick else "1,10,50,100")).split(",")]
    options.reps = options.reps or (3 if options.quick else 5)
    options.scale = options.scale if options.scale is not None else (0.01 if options.quick else 1.0)
    options.engines = [e.strip() for e in options.engines.split(",") if e.strip()]
    if "cutover" not in options.engines:
        options.engines.insert(0, "cutover")
    options.workloads = options.workloads.split(",") if options.workloads else None
    options.transports = [t.strip() for t in options.transports.split(",") if t.strip()]
    sections = options.only or list(SECTIONS)

    OUT.mkdir(exist_ok=True)
    if any(e in ("ansible", "pyinfra") for e in options.engines):
        _env.ensure_others()
    started = dt.datetime.now().astimezone()
    raw: dict = {
        "started": started.isoformat(timespec="seconds"),
        "machine": _env.machine(),
        "versions": _env.versions(),
        "options": {k: v for k, v in vars(options).items()},
    }
    parts = []
    for name in sections:
        _log(f"section {name}")
        parts.append(globals()[f"section_{name.replace('-', '_')}"](options, raw))
    raw["load_at_end"] = _env.load_average()
    header = [
        f"## Results of {started:%Y-%m-%d %H:%M %Z}" + (" (--quick)" if options.quick else ""),
        "",
        key_value_table("machine", {**raw["machine"], "load average at the end": raw["load_at_end"]}),
        "",
        key_value_table("versions", raw["versions"]),
    ]
    text = "\n".join(header) + "\n\n" + "\n\n".join(parts) + "\n"
    (OUT / f"{options.name}.md").write_text(text)
    (OUT / f"{options.name}.json").write_text(json.dumps(raw, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
