"""W3's three ways to do the same 1CRM update and rollback: cutover, a hand script, ansible-core.

Each gets the estate and a work folder, says what to run (argv), and afterwards proves it did
the work from its own record (cutover's journal, the script's last line, ansible's recap): the
update reached the new version, the rollback the old one. The harness checks the estate itself
(every file, folder, link and table as before) after every run of every engine.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from abc import ABC, abstractmethod
from pathlib import Path

from bench._env import BENCH, OTHERS, child_env
from bench._w3_estate import W3Estate
from bench.engines import ansible_env, close_control_masters, ssh_client_args, write_ansible_cfg
from engine.journal.store import Journal
from tests.support import onecrm_site as site

W3 = BENCH / "w3"


class W3Engine(ABC):
    name: str
    title: str

    def __init__(self, estate: W3Estate, workdir: Path):
        self.estate = estate
        self.workdir = workdir
        self.runs = 0
        workdir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def argv(self) -> list[str]:
        """The command of the next run (run from `workdir`)."""

    def env(self) -> dict[str, str]:
        return child_env()

    @abstractmethod
    def evidence(self, stdout: str) -> list[str]:
        """What is missing from the run's own record of the work (empty: it says it did it all)."""

    def disconnect(self) -> None:  # noqa: B027 - optional: most engines leave nothing connected
        """End what the run left connected, before its CPU time is counted (untimed)."""

    def after(self) -> None:
        """Clean up between runs (untimed): the backups the run wrote."""
        self.estate.clear_backups(self.workdir / "backups")

    def tool_busy(self) -> list[tuple[float, float]] | None:
        """Intervals during which a tool worked on a host in the last run, when the engine can tell."""
        return None


class CutoverW3(W3Engine):
    name, title = "cutover", "cutover"

    def __init__(self, estate: W3Estate, workdir: Path):
        super().__init__(estate, workdir)
        estate.cutover_inventory(workdir / "inventory.yml")

    def _trace(self) -> Path:
        return self.workdir / f"trace{self.runs}.json"

    def argv(self) -> list[str]:
        self.runs += 1
        return [
            sys.executable,
            str(BENCH / "_traced_cutover.py"),
            str(self._trace()),
            "run",
            str(W3 / "cutover.yml"),
            "-i",
            "inventory.yml",
            "--forks",
            "2",
        ]

    def evidence(self, stdout: str) -> list[str]:
        journal = Journal(str(self.workdir / ".cutover" / "runs.db"))
        try:
            run_id = journal.runs(1)[0]["id"]
            # a task of a two-host play has a node per host, one of them skipped: keep the one that ran
            nodes = {row["task"]: row for row in journal.nodes(run_id) if row.get("status") != "skipped"}
        finally:
            journal.close()
        missing = []
        checks = {
            "Post-checks (files, database, the site answers)": {
                "files": site.NEW,
                "database": site.NEW,
                "status": 200,
            },
            "Version after the rollback": {"files": site.OLD, "database": site.OLD},
        }
        for task, wanted in checks.items():
            result = (nodes.get(task) or {}).get("result") or {}
            got = {k: result.get(k) for k in wanted}
            if got != wanted:
                missing.append(f"{task}: {got}, expected {wanted}")
        for task in ("Dump the database, verified", "Archive the install folder, verified"):
            if (nodes.get(task) or {}).get("status") != "changed":
                missing.append(f"{task}: {(nodes.get(task) or {}).get('status')}")
        return missing

    def tool_busy(self) -> list[tuple[float, float]]:
        return [(float(t[0]), float(t[1])) for t in json.loads(self._trace().read_text())]


class HandW3(W3Engine):
    name, title = "hand", "hand script"

    def argv(self) -> list[str]:
        self.runs += 1
        est = self.estate
        args = [str(W3 / "hand.sh"), str(est.root), str(self.workdir / "backups"), est.server.socket,
                est.database, str(est.package), est.url, site.OLD, site.NEW]  # fmt: skip
        # as the operator does: log in to the server and run the script there
        return ["ssh", "-F", str(est.sshd.config_path), "h1", "bash " + shlex.join(args)]

    def evidence(self, stdout: str) -> list[str]:
        wanted = f"W3 hand: updated to {site.NEW} and rolled back to {site.OLD}"
        return [] if wanted in stdout else [f"the script did not end with {wanted!r}"]


class AnsibleW3(W3Engine):
    name, title = "ansible", "ansible-core"

    def __init__(self, estate: W3Estate, workdir: Path):
        super().__init__(estate, workdir)
        (workdir / "inventory.ini").write_text("[w3]\nh1\nh2\n")
        write_ansible_cfg(workdir, 2, ssh_client_args(estate.sshd.config_path))
        variables = {
            "root": str(estate.root),
            "backups": str(workdir / "backups"),
            "socket": estate.server.socket,
            "db": estate.database,
            "package": str(estate.package),
            "url": estate.url,
            "old": site.OLD,
            "new": site.NEW,
        }
        (workdir / "vars.json").write_text(json.dumps(variables))
        self._env = ansible_env(workdir)

    def _control(self) -> Path:
        return self.workdir / f"cp{self.runs}"

    def argv(self) -> list[str]:
        self.runs += 1
        self._control().mkdir(exist_ok=True)
        self._env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(self._control())
        playbook = str(W3 / "ansible.yml")
        return [str(OTHERS / "bin" / "ansible-playbook"), "-i", "inventory.ini", playbook, "-e", "@vars.json"]

    def env(self) -> dict[str, str]:
        return self._env

    def evidence(self, stdout: str) -> list[str]:
        recap = dict(
            re.findall(r"^(h[12])\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=0\s+(failed=\d+)", stdout, re.M)
        )
        if recap != {"h1": "failed=0", "h2": "failed=0"}:
            return [f"ansible's recap is not clean for h1 and h2: {recap}"]
        return []

    def disconnect(self) -> None:
        """ansible's ControlPersist masters keep the sessions (and their CPU time) open: close them."""
        close_control_masters(self._control(), self.estate.sshd.config_path)


ENGINES: dict[str, type[W3Engine]] = {"cutover": CutoverW3, "hand": HandW3, "ansible": AnsibleW3}
