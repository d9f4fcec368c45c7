"""W1, W2 and start-up through cutover, ansible-core and pyinfra, against one private sshd."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench._env import BENCH, ensure_others
from bench._measure import Cell, side_by_side
from bench.engines import ENGINES
from bench.workloads import LONG, Target, Workload, local_workloads, ssh_workloads

sys.path.insert(0, str(BENCH.parent))
from tests.support.sshd import SSHD  # noqa: E402

SFTP_SERVER = "/usr/lib/openssh/sftp-server"


class BenchSSHD(SSHD):
    """The test sshd plus the SFTP subsystem, which pyinfra and ansible use to send files."""

    def cpu(self) -> float:
        """CPU seconds of the sshd's ended sessions (and everything they ran): its children's times."""
        assert self._proc is not None
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def _write_configs(self) -> None:
        super()._write_configs()
        with (self.dir / "sshd_config").open("a") as config:
            config.write(f"Subsystem sftp {SFTP_SERVER}\n")


@dataclass
class Row:
    workload: Workload
    cells: dict[str, Cell]


def run_side_by_side(
    sizes: list[int],
    reps: int,
    budget: float,
    engines: list[str],
    transports: list[str],
    names: list[str] | None = None,
    log: bool = True,
) -> list[Row]:
    """Every workload through every engine; one row per workload, in the order they ran."""
    if any(e in ("ansible", "pyinfra") for e in engines):
        ensure_others()
    rows: list[Row] = []
    work = Path(
        tempfile.mkdtemp(prefix="cutover-bench-", dir=BENCH / "out" if (BENCH / "out").is_dir() else None)
    )
    try:
        if "ssh" in transports:
            with BenchSSHD(max(*sizes, LONG.hosts), base_dir=str(work), fast_kex=True) as server:
                target = Target(
                    "ssh", server.aliases, server.config_path, server.known_hosts, work / "files", server.cpu
                )
                rows += _all(_chosen(ssh_workloads(sizes), names), target, work, reps, budget, engines, log)
        if "local" in transports:
            target = Target("local", [f"l{i}" for i in range(1, max(sizes) + 1)], files_root=work / "files")
            rows += _all(_chosen(local_workloads(sizes), names), target, work, reps, budget, engines, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _chosen(workloads: list[Workload], names: list[str] | None) -> list[Workload]:
    chosen = [w for w in workloads if not names or w.name in names]
    if names and LONG.name in names and workloads and workloads[0].transport == LONG.transport:
        chosen.append(LONG)
    return chosen


def _all(
    workloads: list[Workload],
    target: Target,
    work: Path,
    reps: int,
    budget: float,
    engines: list[str],
    log: bool,
) -> list[Row]:
    rows = []
    for workload in workloads:
        cells = {name: Cell(name) for name in engines}
        prepared = {}
        for name in engines:
            engine = ENGINES[name]()
            why_not = engine.supports(workload)
            if why_not:
                cells[name].skipped = why_not
                continue
            workdir = work / workload.key / name
            workdir.mkdir(parents=True)
            prepared[name] = engine.prepare(workload, target, workdir)
        side_by_side(prepared, reps, budget, cells, workload.setup_run, target.server_cpu)
        rows.append(Row(workload, cells))
        if log:
            shown = ", ".join(
                f"{n} {c.describe()}" + (f" (cpu {c.cpu_median:.2f} s)" if c.cpu_median is not None else "")
                for n, c in cells.items()
            )
            print(f"  {workload.key}: {shown}", file=sys.stderr, flush=True)
            for c in cells.values():
                if c.failed:
                    print(f"    {c.engine} failed: {c.failed}", file=sys.stderr)
    return rows
