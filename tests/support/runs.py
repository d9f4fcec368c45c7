"""Helpers to write small estates and playbooks and run cutover on them, in-process or as a process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.journal.store import Journal

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        """The jsonl events of a run made with `--output jsonl`."""
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]

    def statuses(self) -> dict[str, str]:
        return {e["node"]: e["status"] for e in self.events() if e["event"] == "node_ended"}


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def local_inventory(path: Path, hosts: list[str], estate: str = "test", **extra: Any) -> Path:
    return write_yaml(path, {"estate": estate, "hosts": {h: {"connection": "local"} for h in hosts}, **extra})


def run_cli(args: list[str], cwd: Path) -> CliResult:
    """`cutover ARGS` in this process (fast), from `cwd`."""
    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                rc = main(args)
            except SystemExit as exit_:
                rc = int(exit_.code or 0)
    finally:
        os.chdir(previous)
    return CliResult(rc, out.getvalue(), err.getvalue())


def spawn_cli(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    """`cutover ARGS` as its own process (for signals, locks and crashes)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    return subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def journal_of(cwd: Path) -> Journal:
    return Journal(cwd / ".cutover" / "runs.db")


def wait_for_done_nodes(cwd: Path, count: int, timeout: float = 30.0) -> None:
    """Wait until the newest run in `cwd` has recorded `count` nodes done (another process writes it)."""
    import sqlite3
    import time

    db = cwd / ".cutover" / "runs.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM nodes WHERE status IN ('ok','changed','skipped') AND run_id ="
                        " (SELECT id FROM runs ORDER BY started DESC, rowid DESC LIMIT 1)").fetchone()
                if row and row[0] >= count:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"no {count} nodes done within {timeout}s")


def first_to_end(procs: list[subprocess.Popen[str]], timeout: float = 300.0) -> subprocess.Popen[str]:
    """The first of `procs` to exit (of two runs started together: the refused one)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                return proc
        time.sleep(0.05)
    raise AssertionError(f"none of {len(procs)} processes ended within {timeout:g}s")
