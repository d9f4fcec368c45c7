"""The variables the engine defines for every task: one list of names, and their values.

Before the run (planning, names of steps, `validate`) a task sees `BEFORE_RUN` and the run
variables of the plug-ins (each product's section under its name, engine/api/plugins.py); the
executor adds `DURING_RUN` (engine/execute/runner.py). `validate` accepts every name of
`engine_names()` without a definition in the inventory or the playbook. They are the lowest
layer of a task's variables: the inventory and the playbook may override each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.api.plugins import PLUGINS
from engine.core.model import Host, Inventory

#: known before the run, for each host (and `play_hosts` within a play)
BEFORE_RUN = (
    "inventory_hostname",
    "group_names",
    "roles",
    "groups",
    "estate",
    "playbook_dir",
    "inventory_dir",
    "databases",
    "play_hosts",
)
#: added by the executor for the run (`during_run`)
DURING_RUN = ("hostvars", "run_id", "check_mode", "ansible_check_mode", "omit")
#: the value of `omit`: an argument rendered to it is left out
OMIT = "__omit__"
#: set around one task: its loop item and loop counters, and names templates read from the engine
AROUND_TASK = ("item", "ansible_loop", "now", "host", "facts")


def during_run(hostvars: Mapping[str, Any], run_id: str, check_mode: bool) -> dict[str, Any]:
    """The `DURING_RUN` variables of a run."""
    return {
        "hostvars": hostvars,
        "run_id": run_id,
        "check_mode": check_mode,
        "ansible_check_mode": check_mode,
        "omit": OMIT,
    }


def engine_names() -> frozenset[str]:
    """Every name a template may use without defining it."""
    return frozenset(BEFORE_RUN + DURING_RUN + AROUND_TASK) | PLUGINS.variable_names()


@dataclass(frozen=True)
class EstateVariables:
    """What every host of one plan shares, computed once per plan."""

    groups: Mapping[str, list[str]]
    playbook_dir: str
    inventory_dir: str
    databases: Mapping[str, Any]
    products: Mapping[str, Any]

    @classmethod
    def of(cls, inventory: Inventory, playbook_dir: str, inventory_dir: str) -> EstateVariables:
        return cls(
            groups={"all": list(inventory.hosts)} | {name: list(g.hosts) for name, g in inventory.groups.items()},
            playbook_dir=playbook_dir,
            inventory_dir=inventory_dir,
            databases=dict(inventory.databases),
            products=PLUGINS.variables_for(inventory),
        )

    def for_host(self, inventory: Inventory, host: Host, play_hosts: list[str] | None) -> dict[str, Any]:
        """`BEFORE_RUN` and the plug-ins' variables of one host (`play_hosts` only within a play)."""
        found: dict[str, Any] = {
            "inventory_hostname": host.name,
            "group_names": list(host.groups),
            "roles": list(host.roles),
            "groups": self.groups,
            "estate": inventory.name,
            "playbook_dir": self.playbook_dir,
            "inventory_dir": self.inventory_dir,
            "databases": self.databases,
            **self.products,
        }
        if play_hosts is not None:
            found["play_hosts"] = play_hosts
        return found
