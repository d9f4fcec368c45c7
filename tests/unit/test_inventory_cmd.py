"""`cutover inventory`: hosts with resolved roles, groups and variables, secrets masked; the group tree."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.cli.inventory_cmd import is_secret_name
from engine.load.vault.keyring import encrypt_text
from tests.support.plans import write

INVENTORY = """
estate: acme
vars: {crm_version: "7.3", db_password: hunter2, api_token: abc, passes: 3}
defaults: {connection: ssh, user: deploy}
hosts:
  db1:
    roles: [db]
    password: s3cret
  web1:
    roles: [web, dtls]
    port: 2222
    vars: {site: paris}
  lone: {}
groups:
  webs: {hosts: [web1]}
  crm: {children: [webs], hosts: [db1]}
"""


@pytest.fixture
def inventory(tmp_path, monkeypatch):
    monkeypatch.chdir(write(tmp_path, {"inventory.yml": INVENTORY}))
    return "inventory.yml"


def test_listing_shows_connection_roles_groups_and_masked_variables(inventory, capsys):
    assert main(["inventory", "-i", inventory]) == 0
    out = capsys.readouterr().out
    assert "estate acme (3 hosts)" in out
    assert "web1  [ssh deploy@web1:2222]  roles: web, dtls  groups: crm, webs" in out
    assert "lone  [ssh deploy@lone]  roles: -  groups: -" in out
    assert '    db_password = "********"' in out and '    api_token = "********"' in out
    assert "    passes = 3" in out and '    site = "paris"' in out
    assert "hunter2" not in out and "s3cret" not in out


def test_json_masks_connection_passwords_and_vault_values(tmp_path, monkeypatch, capsys):
    sealed = "".join(f"        {line}\n" for line in encrypt_text("topsecret", "pw").splitlines())
    write(
        tmp_path,
        {"inventory.yml": f"hosts:\n  a:\n    password: p4ss\n    vars:\n      key: !vault |\n{sealed}"},
    )
    monkeypatch.chdir(tmp_path)
    assert main(["inventory", "-i", "inventory.yml", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["hosts"]["a"]
    assert data["settings"]["password"] == "********" and data["vars"]["key"] == "********"


def test_graph_shows_nested_groups_and_ungrouped_hosts(inventory, capsys):
    assert main(["inventory", "-i", inventory, "--graph"]) == 0
    assert capsys.readouterr().out == (
        "@all:\n  |--@ungrouped:\n  |  |--lone\n  |--@crm:\n  |  |--@webs:\n  |  |  |--web1\n  |  |--db1\n"
    )


def test_one_host_and_an_unknown_host(inventory, capsys):
    assert main(["inventory", "-i", inventory, "--host", "db1"]) == 0
    assert "web1" not in capsys.readouterr().out
    assert main(["inventory", "-i", inventory, "--host", "db9"]) == 2
    assert "no host 'db9'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("ansible_ssh_pass", True),
        ("API_TOKEN", True),
        ("licence_key", True),
        ("sa_pwd", True),
        ("passes", False),
        ("crm_version", False),
        ("keyboard", False),
    ],
)
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret
