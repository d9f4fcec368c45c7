"""Write a playbook and an inventory into a folder and plan them with the real engine.

Planner, precedence and templating tests describe their estates as YAML text; these helpers put
the text in files (so every value has a real file:line:col) and run the same load -> plan path as
`cutover plan`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from engine.core.model import Inventory, Playbook
from engine.load.inventory import load_inventory
from engine.load.playbook import load_playbook
from engine.plan.builder import PlanOptions, build_plan
from engine.plan.graph import Plan

#: three posix hosts in two roles, nested groups, estate and group variables
ESTATE = """
estate: test
vars:
  level: estate
defaults:
  connection: local
hosts:
  db1:
    roles: [db]
  web1:
    roles: [web]
  web2:
    roles: [web]
groups:
  webs:
    hosts: [web1, web2]
  crm:
    children: [webs]
    hosts: [db1]
"""


def one_play(tasks: str, hosts: str = "all") -> str:
    """A playbook of one play on `hosts` whose tasks are the YAML list `tasks` (any indentation)."""
    body = textwrap.indent(textwrap.dedent(tasks).strip("\n"), "    ")
    return f"- hosts: {hosts}\n  tasks:\n{body}\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative name -> text, dedented) under `folder`; returns `folder`."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


def load(folder: Path, playbook: str, inventory: str = ESTATE, **extra: str) -> tuple[Playbook, Inventory]:
    """Write and load `site.yml` and `inventory.yml` (plus `extra` files) in `folder`."""
    write(folder, {"site.yml": playbook, "inventory.yml": inventory, **extra})
    return load_playbook(folder / "site.yml"), load_inventory(folder / "inventory.yml")


def plan(
    folder: Path,
    playbook: str,
    inventory: str = ESTATE,
    extra_files: dict[str, str] | None = None,
    **options: Any,
) -> Plan:
    """Write, load and plan; `options` are PlanOptions fields (limit, tags, extra_vars, ...)."""
    pb, inv = load(folder, playbook, inventory, **(extra_files or {}))
    return build_plan(pb, inv, PlanOptions(**options))


def step_ids(result: Plan) -> list[str]:
    """The plan's step ids in its (deterministic) topological order."""
    return [n.id for n in result.steps()]


def before(result: Plan, a: str, b: str) -> bool:
    """Whether step `a` must have ended before step `b` starts (a path in the graph)."""
    import networkx as nx

    return nx.has_path(result.graph, a, b)
