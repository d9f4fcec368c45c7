"""Ansible INI inventories and inventory directories: what each line means, and every mistake located.

The reference for what a line means is Ansible's own `ini` inventory plugin; the comparison with
the real `ansible-inventory` is in tests/integration/test_ansible_inventory_compat.py. Here: the
details (ranges, ports, value types, connection variables), the directory rules, where each
variable came from, and the errors (file:line:col, exit 2, nothing printed on stdout).
"""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.core.errors import UserError
from engine.load.inventory import load_inventory
from engine.load.inventory_ini import expand_host_pattern, looks_like_ini, parse_value
from engine.load.vault.keyring import VaultKeyring, encrypt_text
from tests.support.plans import write


@pytest.mark.parametrize(
    ("pattern", "names", "port"),
    [
        ("web[01:04].example.com", ["web01.example.com", "web02.example.com", "web03.example.com",
                                    "web04.example.com"], None),
        ("db-[a:c]", ["db-a", "db-b", "db-c"], None),
        ("node[0:6:3]", ["node0", "node3", "node6"], None),
        ("r[1:2]c[a:b]", ["r1ca", "r1cb", "r2ca", "r2cb"], None),
        ("web[8:10]:2222", ["web8", "web9", "web10"], 2222),
        ("jump:2200", ["jump"], 2200),
        ("fe80::1", ["fe80::1"], None),
        ("plain", ["plain"], None),
    ],
)
def test_host_patterns_expand_as_in_ansible(pattern, names, port):
    assert expand_host_pattern(pattern) == (names, port)


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("1.5", 1.5), ("True", True), ("yes", "yes"), ("[1, 2]", [1, 2]), ("{'a': 1}", {"a": 1}),
     ('"quoted"', "quoted"), ("two words", "two words"), ("(1, 2)", [1, 2]), ("", "")],
)
def test_values_are_python_literals_or_text(text, value):
    assert parse_value(text) == value


def test_ini_is_told_from_yaml_by_its_first_line():
    assert looks_like_ini("# c\n[web]\nweb1\n") and looks_like_ini("web1 ansible_host=1.2.3.4\n")
    assert not looks_like_ini("all:\n  hosts:\n") and not looks_like_ini("---\nall: {}\n")


def test_sections_children_vars_and_connection_variables(tmp_path):
    inv = load_inventory(write(tmp_path, {"estate.ini": """\
        jump ansible_host=192.0.2.1 ansible_user=ops
        [sage]
        crm[1:2] ansible_connection=psrp ansible_winrm_server_cert_validation=ignore ansible_port=5986
        [sql]
        db1 ansible_connection=winrm ansible_password='p w'
        [windows:children]
        sage
        sql
        [windows:vars]
        ansible_winrm_transport=ntlm
        crm_version=7.3
        """}) / "estate.ini")
    assert inv.name == "estate" and list(inv.hosts) == ["jump", "crm1", "crm2", "db1"]
    crm1, db1, jump = inv.hosts["crm1"], inv.hosts["db1"], inv.hosts["jump"]
    assert crm1.connection == "winrm" and crm1.settings["port"] == 5986
    assert crm1.settings["winrm"] == {"transport": "ntlm", "validate_certs": False}
    assert db1.settings["password"] == "p w" and db1.vars["crm_version"] == 7.3
    assert jump.address == "192.0.2.1" and jump.settings["user"] == "ops" and jump.groups == ()
    assert inv.groups["windows"].hosts == ("crm1", "crm2", "db1")
    assert "ansible_winrm_transport" not in crm1.vars


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("[web]\nweb1\n[web:vars]\nport 80\n", "4:1", "expected key=value, got 'port 80'"),
        ("[web]\nweb1 http_port\n", "2:6", "expected key=value, got 'http_port'"),
        ("[web]\nweb1 note='open\n", "2:6", "cannot split the host line: no closing quotation"),
        ("[web:hosts2]\nweb1\n", "1:6", "unknown type 'hosts2'"),
        ("[web ]\n", "1:1", "invalid section '[web ]'"),
        ("[crm:children]\nweb\n", "2:1", "[crm:children] names the group 'web', which is never defined"),
        ("[db:vars]\nx=1\n", "1:1", "[db:vars] sets variables of the group 'db', which is never defined"),
        ("[web]\nweb[04:01]\n", "2:4", "goes backwards"),
        ("[web]\nweb[1:c]\n", "2:4", "mixes letters and numbers"),
        ("[web]\nweb[01:4]\n", "2:4", "both ends need 2 digits"),
        ("[web]\nweb1:\n", "2:5", "ends with ':'"),
        ("[web]\nweb1:http\n", "2:6", "'http' is not a port number"),
        ("[web]\nweb1 ansible_connection=docker\n", "2:25", "'docker' is not a connection cutover has"),
    ],
)
def test_a_line_that_does_not_parse_is_located_and_nothing_is_shown(text, where, message, tmp_path,
                                                                    monkeypatch, capsys):
    write(tmp_path, {"hosts.ini": text})
    monkeypatch.chdir(tmp_path)
    assert main(["inventory", "-i", "hosts.ini", "--list"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"hosts.ini:{where}: " in err and message in err and "Traceback" not in err


def test_every_bad_line_is_reported_at_once(tmp_path):
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, {"h.ini": "[a]\nx y\n[b]\nz w\n"}) / "h.ini")
    assert [str(p.location) for p in caught.value.problems] == [f"{tmp_path}/h.ini:2:3", f"{tmp_path}/h.ini:4:3"]


def test_a_directory_merges_its_sources_in_name_order_and_skips_what_ansible_skips(tmp_path):
    inv = load_inventory(write(tmp_path, {
        "estate/01-web.ini": "[web]\nweb1 tier=first\n",
        "estate/02-web.yml": "all:\n  children:\n    web:\n      hosts:\n        web1: {tier: second}\n        web2:\n",
        "estate/sub/03.ini": "[db]\ndb1\n",
        "estate/notes.md": "[not]\nparsed\n",
        "estate/.hidden.ini": "[hidden]\nh1\n",
        "estate/old.ini.bak": "[bak]\nb1\n",
        "estate/group_vars/web.yml": "tier: group-file\n",
    }) / "estate")
    assert inv.name == "estate" and sorted(inv.hosts) == ["db1", "web1", "web2"]
    assert inv.hosts["web1"].vars["tier"] == "second" and inv.hosts["web2"].vars["tier"] == "group-file"


def test_a_cutover_form_file_in_an_inventory_directory_is_refused(tmp_path):
    with pytest.raises(UserError, match="must be an Ansible inventory"):
        load_inventory(write(tmp_path, {"d/a.yml": "hosts:\n  web1: {}\n"}) / "d")


def test_a_vars_file_that_is_not_a_mapping_is_located(tmp_path):
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, {"hosts.ini": "[web]\nweb1\n", "group_vars/web.yml": "- a\n- b\n"})
                       / "hosts.ini")
    assert str(caught.value.problems[0].location).endswith("group_vars/web.yml:1:1")
    assert "must be a mapping" in caught.value.problems[0].message


def test_vars_origin_names_the_file_line_and_layer(tmp_path, monkeypatch, capsys):
    write(tmp_path, {"hosts.ini": "[web]\nweb1 http_port=8080\n[web:vars]\nsite=paris\ncolour=blue\n",
                     "group_vars/all.yml": "site: everywhere\ndb_password: s3cret\n",
                     "host_vars/web1/main.yml": "colour: red\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["inventory", "-i", "hosts.ini", "--host", "web1", "--vars-origin"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "web1:",
        '    colour = "red"    <- host_vars/web1/main.yml:1:9 (host_vars/web1 beside the inventory)',
        '    db_password = "********"    <- group_vars/all.yml:2:14 (group_vars/all beside the inventory)',
        "    http_port = 8080    <- hosts.ini:2:16 (host web1)",
        '    site = "everywhere"    <- group_vars/all.yml:1:7 (group_vars/all beside the inventory)',
    ]


def test_vars_origin_of_a_cutover_inventory_follows_its_own_order(tmp_path, monkeypatch, capsys):
    write(tmp_path, {"inv.yml": "vars: {a: estate, b: estate}\ndefaults: {user: ops}\nhosts:\n  h1:\n"
                                "    port: 2222\n    vars: {b: host}\ngroups:\n  g: {hosts: [h1], vars: {a: group}}\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["inventory", "-i", "inv.yml", "--vars-origin"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "h1:",
        '    a = "group"    <- inv.yml:8:30 (group g)',
        '    ansible_port = 2222    <- inv.yml:5:11 (host h1)',
        '    ansible_user = "ops"    <- inv.yml:2:18 (defaults)',
        '    b = "host"    <- inv.yml:6:15 (host h1)',
    ]


def test_an_encrypted_ini_inventory_is_read_with_its_password(tmp_path):
    path = write(tmp_path, {"hosts.ini": encrypt_text("[web]\nweb1 ansible_user=deploy\n", "pw")}) / "hosts.ini"
    inv = load_inventory(path, VaultKeyring({"default": "pw"}))
    assert inv.hosts["web1"].settings["user"] == "deploy"
    with pytest.raises(UserError, match="no password for vault id 'default'"):
        load_inventory(path)
