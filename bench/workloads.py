"""The workloads every engine runs, and the targets they are run against.

W1: N hosts x 10 tasks of the command `true`. W2: N hosts x 10 idempotent file tasks (each a
file with given content; cutover `copy` with `backup: true`), timed on runs that find nothing
to change. Start-up: one host, one `true` task. Each runs over SSH to a private sshd on
127.0.0.1 (host aliases h1..hN of tests/support/sshd.py, one connection per alias as if they
were separate machines) and over the engines' local connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Workload:
    kind: str  # true | file
    transport: str  # ssh | local
    hosts: int
    tasks: int = 10
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or {"true": "W1", "file": "W2"}[self.kind]

    @property
    def key(self) -> str:
        return f"{self.name}-{self.transport}-{self.hosts}"

    @property
    def setup_run(self) -> bool:
        """W2 is timed on re-runs (a first, untimed run creates the files); start-up, the first
        workload of a transport, gets an untimed run too, so every engine's caches are warm."""
        return self.kind == "file" or self.label == "start-up"

    def content(self, task: int) -> str:
        """What file task `task` puts in its file (the same for every engine)."""
        return f"# managed by the benchmark\nsetting_{task} = value {task}\n"


@dataclass
class Target:
    """Where the workload's hosts are: SSH aliases with their client config, or local names."""

    transport: str
    aliases: list[str]
    ssh_config: Path | None = None
    known_hosts: Path | None = None
    #: root of the files W2 manages (one folder per engine and host below it)
    files_root: Path = field(default_factory=lambda: Path("/tmp"))
    #: CPU seconds the server side has spent so far (the sshd's sessions), when there is one
    server_cpu: Callable[[], float] | None = None

    def hosts(self, n: int) -> list[str]:
        return self.aliases[:n]


def ssh_workloads(sizes: list[int], tasks: int = 10) -> list[Workload]:
    out = [Workload("true", "ssh", 1, 1, label="start-up")]
    out += [Workload("true", "ssh", n, tasks) for n in sizes]
    out += [Workload("file", "ssh", n, tasks) for n in sizes]
    return out


#: Not in the default set (ansible needs minutes for it): W1 with 100 tasks per host, where the cost
#: of a task weighs more than the cost of a connection, as in a real upgrade playbook.
LONG = Workload("true", "ssh", 10, 100, label="W1-long")


def local_workloads(sizes: list[int], tasks: int = 10) -> list[Workload]:
    out = [Workload("true", "local", 1, 1, label="start-up")]
    out += [Workload("true", "local", n, tasks) for n in sizes]
    out += [Workload("file", "local", n, tasks) for n in sizes]
    return out


#: (workload name, transport, hosts) -> (max ratio cutover/ansible, max ratio cutover/pyinfra)
def target_for(workload: Workload) -> tuple[float, float] | None:
    """The brief's targets: over SSH at N = 10, 50, 100, 10x faster than ansible, 3x than pyinfra."""
    if workload.transport == "ssh" and workload.name in ("W1", "W2") and workload.hosts >= 10:
        return 0.10, 1 / 3
    return None
