"""cutover reads an Ansible estate as `ansible-inventory` does: same hosts, groups, variables and tree.

The same files (an INI inventory with ranges, ports, children and vars; a YAML one; a directory
holding both; group_vars/ and host_vars/ as files and folders beside the inventory and beside a
playbook) go through the real ansible-inventory and through `cutover inventory`, and the
outputs are compared: `--list` (groups with their direct hosts and children, every host's
variables) and `--graph` line for line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from tests.support.ansible_tools import run_ansible
from tests.support.plans import write

INI = """\
# the web tier; ranges and a port
[web]
web[01:03].example.com http_port=8080 ansible_user=deploy
db-[a:b]:2222 label="db server"

[win]
app1 ansible_host=10.0.0.5 ansible_connection=winrm ansible_winrm_transport=ntlm

[crm:children]
web
win

[crm:vars]
site=paris
flag=yes
count=3
ratio=1.5
text="[1, 2]"
items=[1, 2]
mapping={'a': 1}
truth=True
shadow=crm-inline

[web:vars]
shadow=web-inline
ansible_group_priority=5

[all:vars]
who=all-inline
"""
YAML = """\
all:
  hosts:
    jump1:
      ansible_host: 192.0.2.9
  children:
    monitoring:
      hosts:
        mon1: {level: 2}
        web01.example.com:
      vars:
        shadow: monitoring-inline
        nested: {a: [1, 2], b: null}
"""
VARS = {
    "group_vars/all.yml": "who: all-file\nplain: from-all\n",
    "group_vars/web/10-main.yml": "who: web-file\nweb_only: 1\n",
    "group_vars/web/20-more.yaml": "web_only: 2\n",
    "group_vars/win": "os: windows\n",
    "group_vars/.hidden.yml": "never: read\n",
    "host_vars/app1.yml": "who: app1-file\n",
    "host_vars/web02.example.com/vars.yml": "who: web02-file\n",
}


def _cutover(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["inventory", *args]) == 0
    return capsys.readouterr().out


def _ansible_list(args: list[str], home: Path, cwd: Path) -> dict:
    data = json.loads(run_ansible("ansible-inventory", [*args, "--list"], home, cwd=cwd).stdout)
    data["_meta"].pop("profile", None)
    return data


def _same(cutover: dict, ansible: dict) -> None:
    assert sorted(cutover) == sorted(ansible)
    for name, entry in ansible.items():
        if name == "_meta":
            continue
        assert sorted(cutover[name].get("hosts", [])) == sorted(entry.get("hosts", [])), name
        assert cutover[name].get("children", []) == entry.get("children", []), name
    assert cutover["_meta"]["hostvars"] == ansible["_meta"]["hostvars"]


@pytest.mark.parametrize("layout", ["ini", "yaml+ini directory"])
def test_list_and_graph_match_ansible_inventory(layout, tmp_path, monkeypatch, capsys):
    files = {**VARS, "hosts.ini": INI} if layout == "ini" else {
        **{f"inventory/{k}": v for k, v in VARS.items()}, "inventory/10-hosts.ini": INI,
        "inventory/20-more.yml": YAML, "inventory/README.md": "not an inventory\n"}
    write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    source = "hosts.ini" if layout == "ini" else "inventory"
    ansible = _ansible_list(["-i", source], tmp_path / "home", tmp_path)
    cutover = json.loads(_cutover(["-i", source, "--list"], capsys))
    _same(cutover, ansible)
    # the layers really were exercised: these values each come from a different one
    web1, web2, app1 = (ansible["_meta"]["hostvars"][h] for h in ("web01.example.com", "web02.example.com", "app1"))
    assert (web1["who"], web2["who"], app1["who"]) == ("web-file", "web02-file", "app1-file")
    assert web1["web_only"] == 2 and web1["plain"] == "from-all" and "never" not in web1
    assert ansible["_meta"]["hostvars"]["db-a"]["ansible_port"] == 2222
    graph = run_ansible("ansible-inventory", ["-i", source, "--graph"], tmp_path / "home", cwd=tmp_path).stdout
    assert _cutover(["-i", source, "--graph"], capsys) == graph


def test_group_vars_beside_the_playbook_come_after_the_inventorys(tmp_path, monkeypatch, capsys):
    write(tmp_path, {
        "inv/hosts.ini": INI, **{f"inv/{k}": v for k, v in VARS.items()},
        "play/group_vars/all.yml": "plain: from-playbook-all\n",
        "play/group_vars/web.yml": "who: web-playbook\n",
        "play/host_vars/app1.yml": "who: app1-playbook\n",
    })
    monkeypatch.chdir(tmp_path)
    args = ["-i", "inv/hosts.ini", "--playbook-dir", "play"]
    ansible = _ansible_list(args, tmp_path / "home", tmp_path)
    cutover = json.loads(_cutover([*args, "--list"], capsys))
    _same(cutover, ansible)
    assert ansible["_meta"]["hostvars"]["app1"]["who"] == "app1-playbook"
    assert ansible["_meta"]["hostvars"]["web01.example.com"]["plain"] == "from-playbook-all"


def test_host_variables_match_ansible_inventory_host(tmp_path, monkeypatch, capsys):
    write(tmp_path, {**VARS, "hosts.ini": INI})
    monkeypatch.chdir(tmp_path)
    for host in ("web03.example.com", "app1", "db-b"):
        ansible = json.loads(run_ansible("ansible-inventory", ["-i", "hosts.ini", "--host", host],
                                         tmp_path / "home", cwd=tmp_path).stdout)
        assert json.loads(_cutover(["-i", "hosts.ini", "--host", host], capsys)) == ansible
