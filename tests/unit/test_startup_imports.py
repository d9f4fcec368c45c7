"""Start-up: what a plain run does not load, and the parts that replace what it no longer loads.

A local 1 host x 1 task run off a terminal, with no vault value and an unchanged inventory and
playbook, needs neither networkx (the plan's graph is plain dicts: engine/plan/digraph.py), nor
rich (plain lines off a terminal), nor cryptography (no vault), nor jsonschema (the documents
were found valid by the run before: engine/load/schema.py). These are behaviours, read from
`sys.modules` in a real `cutover run` process, not timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from engine.cli.console import ConsoleReporter
from engine.core.secrets import Masker
from engine.load import schema
from engine.plan.cycles import find_cycle, topological_order
from engine.plan.digraph import DiGraph

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("networkx", "rich", "cryptography", "jsonschema")
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['cutover', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('engine', run_name='__main__')\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _run(folder: Path, *args: str) -> tuple[int, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "playbook.yml", "-i", "inventory.yml", *args],
        cwd=folder, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert loaded, done.stderr
    return done.returncode, done.stdout, [m for m in loaded[-1][len("LOADED=") :].split(",") if m]


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yml").write_text(
        "estate: startup\ndefaults: {connection: local}\nhosts:\n  l1: {}\n"
    )
    (tmp_path / "playbook.yml").write_text('- hosts: all\n  tasks:\n    - name: t\n      command: "true"\n')
    return tmp_path


def test_a_plain_run_loads_no_graph_library_no_rich_no_crypto_and_validates_once(estate: Path):
    code, out, first = _run(estate)
    assert code == 0, out
    assert "networkx" not in first and "rich" not in first and "cryptography" not in first
    assert "jsonschema" in first  # the first run validates the documents
    assert (estate / ".cutover" / schema._VALID_FILE_NAME).read_text().strip()
    code, out, second = _run(estate)
    assert code == 0, out
    assert second == []  # unchanged documents: not validated again
    assert "changed  l1  t" in out
    assert out.splitlines()[-2:] == [" changed ", "       1 "]  # the summary, as rich drew it


def test_an_invalid_document_is_reported_every_time_even_after_valid_runs(estate: Path):
    assert _run(estate)[0] == 0
    (estate / "playbook.yml").write_text(
        '- hosts: all\n  tasks:\n    - name: t\n      command: "true"\n  bogus: 1\n'
    )
    for _ in range(2):
        code, out, loaded = _run(estate)
        assert code == 2
        assert "jsonschema" in loaded
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "playbook.yml", "-i", "inventory.yml"],
        cwd=estate, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (
        "playbook.yml:5:3" in done.stderr + done.stdout and "unknown key 'bogus'" in done.stderr + done.stdout
    )


def test_the_validation_digest_tells_types_and_keys_apart():
    schema.remember_valid_in("/nonexistent-state-dir")
    try:
        shape = {"type": "object"}
        digests = {
            schema._digest(doc, shape, None)
            for doc in ({"a": 1}, {"a": "1"}, {"a": 1.0}, {"a": True}, {"a": [1]})
        }
        assert len(digests) == 5
        assert schema._digest({1: "a"}, shape, None) is None  # a non-string key: validated every time
        assert schema._digest({"a": 1}, shape, lambda v: False) is None  # a lambda may change its mind
        assert schema._digest({"a": 1}, {"type": "array"}, None) != schema._digest({"a": 1}, shape, None)
    finally:
        schema.remember_valid_in(None)


def _random_dag(seed: int) -> list[tuple[str, str]]:
    import random

    rng = random.Random(seed)
    names = [f"n{i}" for i in range(40)]
    rng.shuffle(names)
    return [(names[a], names[b]) for a in range(40) for b in range(a + 1, 40) if rng.random() < 0.08]


@pytest.mark.parametrize("seed", range(5))
def test_the_plain_graph_orders_nodes_as_networkx_does(seed: int):
    edges = _random_dag(seed)
    plain, real = DiGraph(edges), nx.DiGraph(edges)
    assert plain.topological_order() == list(nx.topological_sort(real))
    assert topological_order(real) == plain.topological_order()
    node = plain.topological_order()[-1]
    assert nx.ancestors(plain, node) == nx.ancestors(real, node)  # what the products' policies call
    assert list(plain.predecessors(node)) == list(real.predecessors(node))
    assert plain.number_of_edges() == real.number_of_edges() and sorted(plain.edges) == sorted(real.edges)


def test_a_cycle_in_the_plain_graph_is_found_as_networkx_finds_it():
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("x", "a")]
    assert topological_order(DiGraph(edges)) is None
    assert find_cycle(DiGraph(edges)) == find_cycle(nx.DiGraph(edges)) == ["a", "b", "c"]


def test_the_console_off_a_terminal_writes_plain_lines_without_rich():
    class Stream(list):
        def write(self, text: str) -> None:
            self.append(text)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    stream = Stream()
    reporter = ConsoleReporter(Masker(), stream=stream)  # type: ignore[arg-type]
    reporter.message("[bold]not markup[/] here")
    assert not reporter.styled and reporter._console is None
    assert "".join(stream) == "[bold]not markup[/] here\n"
    assert json.dumps(stream)  # plain strings only
