"""The three engines, each given the same workload in its own words, run as an operator would.

Every engine gets its fastest documented settings, so that a ratio says something about the
engine and not about a default: as many parallel hosts as the workload has (ansible `forks`,
pyinfra `--parallel`, cutover `--forks`), ansible with `pipelining` and no fact gathering,
all three reading the same OpenSSH client config. ansible's ControlPersist masters are closed
after each run (a fresh `control_path_dir` per run), so every run pays its connections as
cutover's and pyinfra's runs do.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import textwrap
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench._env import OTHERS, child_env, cutover_bin
from bench.workloads import Target, Workload


@dataclass
class Prepared:
    """A command ready to run in `cwd`; `after` cleans up what a run leaves behind."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    engine: Engine
    run_index: int = 0

    def next_run(self) -> list[str]:
        """argv for the next run (engines that need a fresh directory per run rewrite it)."""
        self.run_index += 1
        return self.engine.argv_for_run(self)

    def after(self) -> None:
        self.engine.after_run(self)


class Engine(ABC):
    name: str

    def supports(self, workload: Workload) -> str | None:
        """None when the engine can run the workload, else why not."""
        return None

    @abstractmethod
    def prepare(self, workload: Workload, target: Target, workdir: Path) -> Prepared: ...

    def argv_for_run(self, prepared: Prepared) -> list[str]:
        return prepared.argv

    def after_run(self, prepared: Prepared) -> None:
        return None


def _dest(target: Target, engine: str, host_expr: str, task: int) -> str:
    return f"{target.files_root}/{engine}/{host_expr}/f{task}.conf"


def make_dirs(target: Target, engine: str, hosts: list[str]) -> None:
    """W2's folders exist beforehand (the engines differ in whether `copy` creates parents)."""
    for host in hosts:
        (target.files_root / engine / host).mkdir(parents=True, exist_ok=True)


class Cutover(Engine):
    name = "cutover"

    def prepare(self, workload: Workload, target: Target, workdir: Path) -> Prepared:
        hosts = target.hosts(workload.hosts)
        if workload.transport == "ssh":
            defaults = {"connection": "ssh", "ssh": {"config_file": str(target.ssh_config)}}
        else:
            defaults = {"connection": "local"}
        inventory = {"estate": "bench", "defaults": defaults, "hosts": {h: {} for h in hosts}}
        tasks = []
        for i in range(workload.tasks):
            if workload.kind == "true":
                tasks.append({"name": f"t{i}", "command": "true"})
            else:
                dest = _dest(target, self.name, "{{ inventory_hostname }}", i)
                tasks.append(
                    {"name": f"f{i}", "copy": {"dest": dest, "content": workload.content(i), "backup": True}}
                )
        if workload.kind == "file":
            make_dirs(target, self.name, hosts)
        (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        (workdir / "playbook.yml").write_text(
            yaml.safe_dump([{"hosts": "all", "tasks": tasks}], sort_keys=False)
        )
        forks = str(max(workload.hosts, 1))
        argv = [cutover_bin(), "run", "playbook.yml", "-i", "inventory.yml", "--forks", forks]
        return Prepared(argv, workdir, child_env(), self)


def ssh_client_args(ssh_config: Path) -> str:
    """ansible's `ssh_args`: our client config, with ControlPersist masters as ansible's default has them."""
    return f"-F {ssh_config} -o ControlMaster=auto -o ControlPersist=60s"


def write_ansible_cfg(workdir: Path, forks: int, ssh_args: str) -> None:
    """ansible.cfg at ansible's fastest documented settings: forks, pipelining, no fact gathering."""
    (workdir / "ansible.cfg").write_text(
        textwrap.dedent(f"""\
        [defaults]
        forks = {forks}
        gathering = explicit
        host_key_checking = True
        interpreter_python = /usr/bin/python3
        retry_files_enabled = False
        deprecation_warnings = False
        [ssh_connection]
        pipelining = True
        ssh_args = {ssh_args}
        control_path = %(directory)s/%%n
        """)
    )


def ansible_env(workdir: Path) -> dict[str, str]:
    return child_env(ANSIBLE_CONFIG=str(workdir / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"))


def close_control_masters(control: Path, ssh_config: Path | None) -> None:
    """Close the ControlPersist masters of a run, so the next run connects afresh."""
    for socket in control.glob("*"):
        subprocess.run(
            ["ssh", "-F", str(ssh_config), "-o", f"ControlPath={socket}", "-O", "exit", socket.name],
            capture_output=True,
            timeout=30,
        )


class Ansible(Engine):
    name = "ansible"

    def prepare(self, workload: Workload, target: Target, workdir: Path) -> Prepared:
        hosts = target.hosts(workload.hosts)
        if workload.transport == "ssh":
            assert target.ssh_config is not None
            lines = [f"{h}" for h in hosts]
            ssh_args = ssh_client_args(target.ssh_config)
        else:
            lines = [f"{h} ansible_connection=local" for h in hosts]
            ssh_args = ""
        (workdir / "inventory.ini").write_text("[bench]\n" + "\n".join(lines) + "\n")
        write_ansible_cfg(workdir, max(workload.hosts, 1), ssh_args)
        tasks = []
        for i in range(workload.tasks):
            if workload.kind == "true":
                tasks.append({"name": f"t{i}", "ansible.builtin.command": "true"})
            else:
                dest = _dest(target, self.name, "{{ inventory_hostname }}", i)
                tasks.append(
                    {
                        "name": f"f{i}",
                        "ansible.builtin.copy": {
                            "dest": dest,
                            "content": workload.content(i),
                            "backup": True,
                        },
                    }
                )
        if workload.kind == "file":
            make_dirs(target, self.name, hosts)
        play = {"hosts": "all", "gather_facts": False, "tasks": tasks}
        (workdir / "playbook.yml").write_text(yaml.safe_dump([play], sort_keys=False))
        env = ansible_env(workdir)
        argv = [str(OTHERS / "bin" / "ansible-playbook"), "-i", "inventory.ini", "playbook.yml"]
        prepared = Prepared(argv, workdir, env, self)
        prepared.target = target  # type: ignore[attr-defined]
        prepared.hosts = hosts  # type: ignore[attr-defined]
        return prepared

    def _control_dir(self, prepared: Prepared) -> Path:
        return prepared.cwd / f"cp{prepared.run_index}"

    def argv_for_run(self, prepared: Prepared) -> list[str]:
        control = self._control_dir(prepared)
        control.mkdir(exist_ok=True)
        prepared.env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control)
        return prepared.argv

    def after_run(self, prepared: Prepared) -> None:
        """Close the ControlPersist masters of this run, so the next run connects afresh."""
        target: Target = prepared.target  # type: ignore[attr-defined]
        close_control_masters(self._control_dir(prepared), target.ssh_config)


class Pyinfra(Engine):
    name = "pyinfra"

    def supports(self, workload: Workload) -> str | None:
        if workload.transport == "local" and workload.hosts > 1:
            return "pyinfra has one @local host only"
        return None

    def prepare(self, workload: Workload, target: Target, workdir: Path) -> Prepared:
        hosts = target.hosts(workload.hosts)
        if workload.transport == "ssh":
            data = {
                "ssh_config_file": str(target.ssh_config),
                "ssh_known_hosts_file": str(target.known_hosts),
                "ssh_strict_host_key_checking": "yes",
            }
            inventory = f"hosts = [(name, {json.dumps(data)}) for name in {json.dumps(hosts)}]\n"
        else:
            inventory = 'hosts = ["@local"]\n'
        (workdir / "inventory.py").write_text(inventory)
        if workload.kind == "true":
            body = f"for i in range({workload.tasks}):\n    server.shell(name=f't{{i}}', commands=['true'])\n"
        else:
            contents = [workload.content(i) for i in range(workload.tasks)]
            host_expr = "{host.name}" if workload.transport == "ssh" else "@local"
            dest = _dest(target, self.name, host_expr, 0).replace("f0.conf", "f{i}.conf")
            body = (
                f"for i, text in enumerate({contents!r}):\n"
                f"    files.put(name=f'f{{i}}', src=StringIO(text), dest=f'{dest}')\n"
            )
            make_dirs(target, self.name, hosts if workload.transport == "ssh" else ["@local"])
        (workdir / "deploy.py").write_text(
            "from io import StringIO\n\nfrom pyinfra import host\nfrom pyinfra.operations import files, server\n\n"
            + body
        )
        argv = [
            str(OTHERS / "bin" / "pyinfra"),
            "inventory.py",
            "deploy.py",
            "-y",
            "--parallel",
            str(max(workload.hosts, 1)),
        ]
        return Prepared(argv, workdir, child_env(), self)


class CutoverEarly(Cutover):
    """cutover with its SSH connections started when the inventory is read (bench/_early_connect.py)."""

    name = "cutover-early"

    def prepare(self, workload: Workload, target: Target, workdir: Path) -> Prepared:
        prepared = super().prepare(workload, target, workdir)
        wrapper = [
            sys.executable,
            str(Path(__file__).with_name("_early_connect.py")),
            str(workdir / "trace.json"),
        ]
        prepared.argv = [*wrapper, *prepared.argv[1:]]
        return prepared


class SshFloor(Engine):
    """Not an engine: the physical floor of W1 over SSH, one `ssh HOST true` per host, all at once.

    Each host's connection is made exactly as the engines make theirs (the same client config:
    key exchange, keys, known hosts) and runs the workload's commands in one session: what no
    SSH-based engine can go below on this machine.
    """

    name = "ssh-floor"

    def supports(self, workload: Workload) -> str | None:
        if workload.transport != "ssh" or workload.kind != "true":
            return "the floor is measured for `true` over SSH only"
        return None

    def prepare(self, workload: Workload, target: Target, workdir: Path) -> Prepared:
        hosts = target.hosts(workload.hosts)
        commands = "; ".join(["true"] * workload.tasks)
        script = (
            'for h in "$@"; do ssh -F "$CONFIG" "$h" ' + shlex.quote(commands) + " & done; "
            'status=0; for job in $(jobs -p); do wait "$job" || status=1; done; exit $status'
        )
        argv = ["sh", "-c", script, "sh", *hosts]
        return Prepared(argv, workdir, child_env(CONFIG=str(target.ssh_config)), self)


ENGINES: dict[str, type[Engine]] = {
    "cutover": Cutover,
    "ansible": Ansible,
    "pyinfra": Pyinfra,
    "cutover-early": CutoverEarly,
    "ssh-floor": SshFloor,
}
