"""Variable precedence, layer by layer (docs/playbooks.md, "Variable precedence"):

estate < parent group < child group < host < play (`vars_files` < `vars`) < block < task
< registered results and facts < `-e`.

The inventory layers are resolved when the inventory loads; play, block, task and `-e` when the
plan is built (host patterns, `serial`, task names, what a destructive step destroys); facts at
run time by the executor's `NodeRunner.scope_for`, which is checked here with the same plan.
"""

from __future__ import annotations

import pytest

from engine.api.module import RunContext
from engine.api.registry import ModuleRegistry
from engine.execute.hoststate import HostState
from engine.execute.runner import NodeRunner
from engine.load.inventory import load_inventory
from engine.load.templating import Templar
from engine.plan.builder import static_scope
from tests.support.plans import plan, write

LAYERED = """
estate: layers
vars: {who: estate, estate_only: e, shared: {from: estate}}
defaults:
  connection: ssh
  user: deploy
  ssh: {connect_timeout: 5, key_file: /keys/default}
hosts:
  web1:
    vars: {who: host}
    ssh: {key_file: /keys/web1}
  web2: {}
  db1:
    groups: [late]
groups:
  europe:
    children: [paris]
    vars: {who: europe, europe_only: eu}
    user: ops
  paris:
    hosts: [web1, web2]
    vars: {who: paris}
    port: 2222
  early:
    hosts: [db1]
    vars: {who: early, order: early}
  late:
    vars: {who: late, order: late}
"""


@pytest.fixture
def layered(tmp_path):
    return load_inventory(write(tmp_path, {"inventory.yml": LAYERED}) / "inventory.yml")


def test_inventory_layers_estate_then_parent_then_child_group_then_host(layered):
    web1, web2 = layered.hosts["web1"], layered.hosts["web2"]
    assert web1.vars["who"] == "host"
    assert web2.vars["who"] == "paris"  # the child group wins over its parent
    assert web2.vars["europe_only"] == "eu" and web2.vars["estate_only"] == "e"
    assert web2.groups == ("europe", "paris")  # parents first


def test_sibling_groups_apply_in_file_order(layered):
    db1 = layered.hosts["db1"]
    assert db1.vars["who"] == "late" and db1.vars["order"] == "late"
    assert db1.groups == ("early", "late")


def test_variables_replace_whole_values_they_do_not_merge_dicts(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            {
                "inventory.yml": """
        vars: {crm: {version: "7.2", name: CRM}}
        hosts:
          web1:
            vars: {crm: {version: "7.3"}}
    """
            },
        )
        / "inventory.yml"
    )
    assert inv.hosts["web1"].vars["crm"] == {"version": "7.3"}


def test_connection_settings_defaults_then_groups_then_host(layered):
    web1, db1 = layered.hosts["web1"].settings, layered.hosts["db1"].settings
    assert web1["user"] == "ops" and web1["port"] == 2222 and web1["connection"] == "ssh"
    # transport sections merge key by key
    assert web1["ssh"] == {"connect_timeout": 5, "key_file": "/keys/web1"}
    assert db1["user"] == "deploy" and "port" not in db1
    assert layered.hosts["web2"].address == "web2"


def test_ansible_inventory_layers(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            {
                "hosts.yml": """
        all:
          vars: {who: all, ansible_user: admin, ansible_port: 22}
          hosts:
            solo:
          children:
            europe:
              vars: {who: europe, ansible_port: 2200}
              children:
                paris:
                  vars: {who: paris}
                  hosts:
                    web1: {who: host, ansible_host: 10.0.0.5, ansible_connection: paramiko}
                    web2:
            ungrouped:
              hosts:
                lone: {ansible_ssh_pass: secret}
    """
            },
        )
        / "hosts.yml"
    )
    web1, web2, solo, lone = (inv.hosts[h] for h in ("web1", "web2", "solo", "lone"))
    assert (web1.vars["who"], web2.vars["who"], solo.vars["who"]) == ("host", "paris", "all")
    assert web1.address == "10.0.0.5" and web1.connection == "ssh"
    assert web2.settings["port"] == 2200 and solo.settings["port"] == 22 and web2.settings["user"] == "admin"
    assert lone.groups == () and lone.settings["password"] == "secret"
    assert "ansible_user" not in web2.vars
    assert inv.groups["paris"].hosts == ("web1", "web2") and inv.groups["europe"].hosts == ("web1", "web2")


def test_a_group_under_two_parents_keeps_its_hosts_from_both_places(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            {
                "hosts.yml": """
        all:
          children:
            crm:
              children:
                web:
                  hosts: {web1: }
            monitored:
              children:
                web:
                  hosts: {web2: }
    """
            },
        )
        / "hosts.yml"
    )
    assert inv.groups["web"].hosts == ("web1", "web2")
    assert inv.hosts["web2"].groups == ("crm", "monitored", "web")


PLAYBOOK = """
- hosts: all
  vars_files: [vars.yml]
  vars: {who: play, from_play: p}
  tasks:
    - name: "{{ who }} (task {{ inventory_hostname }})"
      command: echo
      vars: {who: task}
    - name: "{{ who }}"
      command: echo
    - name: block
      vars: {who: block, from_block: b}
      block:
        - name: "{{ who }}"
          command: echo
        - name: "{{ who }}"
          command: echo
          vars: {who: inner task}
"""
FILES = {"vars.yml": "who: vars_file\nfrom_file: f\n"}
INVENTORY = "vars: {who: estate}\nhosts:\n  web1:\n    connection: local\n    vars: {who: host}\n"


def test_play_then_block_then_task_then_extra_vars_before_the_run(tmp_path):
    p = plan(tmp_path, PLAYBOOK, INVENTORY, extra_files=FILES)
    assert [n.label for n in p.steps()] == ["task (task web1)", "play", "block", "inner task"]
    scope = static_scope(p, p.nodes["p0/2.b0@web1"])
    assert (scope["from_file"], scope["from_play"], scope["from_block"]) == ("f", "p", "b")
    assert scope["inventory_hostname"] == "web1" and scope["estate"] == "inventory"

    with_e = plan(tmp_path, PLAYBOOK, INVENTORY, extra_files=FILES, extra_vars={"who": "cli"})
    assert {n.label for n in with_e.steps()} == {"cli", "cli (task web1)"}


def test_vars_files_are_below_the_play_vars(tmp_path):
    p = plan(
        tmp_path,
        "- hosts: all\n  vars_files: [vars.yml]\n  tasks:\n    - name: '{{ who }}'\n      command: x\n",
        INVENTORY,
        extra_files=FILES,
    )
    assert p.steps()[0].label == "vars_file"


def test_host_patterns_and_serial_see_extra_vars_over_estate_vars(tmp_path):
    inventory = (
        "vars: {target: db1, batch: 2}\nhosts:\n  db1: {connection: local}\n  web1: {connection: local}\n"
    )
    playbook = "- hosts: '{{ target }}'\n  serial: '{{ batch }}'\n  tasks:\n    - command: x\n"
    assert [n.host for n in plan(tmp_path, playbook, inventory).steps()] == ["db1"]
    p = plan(tmp_path, playbook, inventory, extra_vars={"target": "all", "batch": 1})
    assert [[n.host for n in w] for w in p.waves()] == [["db1"], ["web1"]]


def test_at_run_time_facts_beat_task_vars_and_extra_vars_beat_facts(tmp_path):
    p = plan(tmp_path, PLAYBOOK, INVENTORY, extra_files=FILES)
    states = {"web1": HostState()}
    runner = NodeRunner(p, RunContext(run_id="r1", operator="test"), None, ModuleRegistry(), states)
    node = p.nodes["p0/2.b1@web1"]  # inner task: task vars set `who`

    def who() -> str:
        return Templar(runner.scope_for(node)).render("{{ who }}")

    assert who() == "inner task"
    states["web1"].facts["who"] = "registered"
    assert who() == "registered"
    p.extra_vars["who"] = "cli"
    assert who() == "cli"
    scope = runner.scope_for(p.nodes["p0/1@web1"])
    assert (scope["from_file"], scope["run_id"], scope["estate"]) == ("f", "r1", "inventory")
