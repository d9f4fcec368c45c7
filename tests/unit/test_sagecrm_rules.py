"""Sage CRM estate rules: each broken rule is an error at the inventory's file:line when it loads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core.errors import UserError
from engine.load.inventory import load_inventory
from modules.sagecrm.product.estate import estate_of

BASE: dict[str, Any] = {
    "estate": "rules",
    "defaults": {"connection": "winrm"},
    "hosts": {
        "crm1": {"roles": ["web", "dtls", "email_manager", "replication"]},
        "crm2": {"roles": ["db", "web", "indexing"]},
        "crm3": {"roles": ["web", "escalation"]},
    },
    "databases": {"crm": {"dialect": "mssql", "server": "crm2", "host": "crm2", "max_connections": 100}},
    "sagecrm": {"database": "crm", "current_version": "7.2", "target_version": "7.3"},
}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "inventory.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def errors(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, doc))
    return [p.render() for p in caught.value.problems]


def changed(**hosts: list[str]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for name, roles in hosts.items():
        doc["hosts"][name] = {"roles": roles}
    return doc


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_valid_cluster_loads_with_its_estate(tmp_path):
    inventory = load_inventory(write(tmp_path, BASE))
    estate = estate_of(inventory)
    assert estate.db_server == "crm2"
    assert estate.web_servers == ("crm1", "crm2", "crm3")
    assert estate.dtls_server == "crm1"
    assert estate.install_path == "C:\\Program Files (x86)\\Sage\\CRM\\CRM"
    assert estate.config_key == "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"


def test_resources_are_spelled_as_the_windows_modules_spell_them(tmp_path):
    from modules.windows._windows import registry_resource

    estate = estate_of(load_inventory(write(tmp_path, BASE)))
    assert estate.registry_resources("crm1") == [registry_resource("crm1", k) for k in estate.registry_keys]


def test_exactly_one_database_server(tmp_path):
    none = errors(tmp_path, changed(crm2=["web", "indexing"]))
    assert any("no host has the role `db`" in e for e in none)
    two = errors(tmp_path, changed(crm3=["db", "web", "escalation"]))
    assert any("crm3 is a second database server" in e for e in two)
    path = tmp_path / "inventory.yml"
    assert any(e.startswith(f"{path}:{line_of(path, 'crm3:')}:") for e in two)


def test_dtls_is_one_web_server(tmp_path):
    assert any(
        "needs one DTLS server" in e
        for e in errors(tmp_path, changed(crm1=["web", "email_manager", "replication"]))
    )
    doc = changed(crm2=["db", "dtls", "indexing"])
    found = errors(tmp_path, doc)
    assert any("the DTLS server crm2 must be one of the web servers" in e for e in found)


def test_each_service_on_exactly_one_server(tmp_path):
    found = errors(tmp_path, changed(crm3=["web", "escalation", "indexing"]))
    assert any("the indexing service (CRMIndexerService) is on crm2 and again on crm3" in e for e in found)


def test_one_replication_engine_on_the_first_server_of_its_group(tmp_path):
    two = errors(tmp_path, changed(crm3=["web", "escalation", "replication"]))
    assert any("second replication engine" in e for e in two)
    moved = changed(crm1=["web", "dtls", "email_manager"], crm3=["web", "escalation", "replication"])
    assert any("must be on the first server of its group (crm1)" in e for e in errors(tmp_path, moved))
    grouped = copy.deepcopy(moved)
    grouped["groups"] = {"site_b": {"hosts": ["crm3"]}}
    grouped["sagecrm"]["replication"] = {"group": "site_b"}
    load_inventory(write(tmp_path, grouped))


def test_database_connections_cover_every_web_server(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["databases"]["crm"]["max_connections"] = 50
    found = errors(tmp_path, doc)
    assert any("max_connections is 50 but 3 web server(s) need 60" in e for e in found)
    doc["sagecrm"]["connections"] = {"dll": 5, "tomcat_pool": 10}
    load_inventory(write(tmp_path, doc))


def test_section_shape_errors_are_located(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["sagecrm"]["instal_name"] = "CRM"
    doc["sagecrm"]["target_version"] = "7.1"
    found = errors(tmp_path, doc)
    path = tmp_path / "inventory.yml"
    assert any("instal_name" in e and e.startswith(f"{path}:{line_of(path, 'instal_name')}:") for e in found)


def test_versions_and_database_target(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["sagecrm"]["target_version"] = "7.2"
    doc["sagecrm"]["database"] = "nope"
    found = errors(tmp_path, doc)
    assert any("target_version 7.2 is not above current_version 7.2" in e for e in found)
    assert any("sagecrm.database names 'nope'" in e for e in found)


def test_a_misspelt_role_is_refused_with_a_hint(tmp_path):
    found = errors(tmp_path, changed(crm3=["web", "escalaton"]))
    assert any("unknown Sage CRM role 'escalaton'" in e and "did you mean 'escalation'" in e for e in found)


def mirror_of_base() -> dict[str, Any]:
    test = copy.deepcopy(BASE)
    test["hosts"] = {f"test-{k}": v for k, v in test["hosts"].items()}
    test["databases"]["crm"].update(server="test-crm2", host="test-crm2")
    test["sagecrm"]["mirror_of"] = "live.yml"
    test["sagecrm"]["multi_server"] = {"parameters": dict(NAMES)}
    return test


#: the custom_sysparams names a test estate must give (read on the live system; no default)
NAMES = {"servers": "S", "load_balancing": "LB", "dtls_server": "D", "fqdns": "F"}


def test_a_test_estate_refuses_to_run_without_the_real_multi_server_names(tmp_path):
    """Written under guessed names the restored production rows would stay: the names must be given."""
    write(tmp_path, BASE, "live.yml")
    test = mirror_of_base()
    del test["sagecrm"]["multi_server"]["parameters"]["dtls_server"]
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, test, "test.yml"))
    problems = [p.message for p in caught.value.problems]
    assert len(problems) == 1 and problems[0].startswith("sagecrm.multi_server.parameters.dtls_server is not set")
    assert caught.value.problems[0].location is not None


def test_a_test_estate_mirrors_its_live_estate(tmp_path):
    write(tmp_path, BASE, "live.yml")
    test = mirror_of_base()
    load_inventory(write(tmp_path, test, "test.yml"))

    test["hosts"]["test-crm3"] = {"roles": ["web"]}
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, test, "test.yml"))
    assert (
        "test server test-crm3 has roles ['web'] but its live server crm3 has ['escalation', 'web']"
        in str(caught.value)
    )

    del test["hosts"]["test-crm3"]
    test["hosts"]["test-crm1"]["roles"] = ["web", "dtls", "email_manager", "replication", "escalation"]
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, test, "test.yml"))
    assert "the test estate has 2 server(s), the live estate 3" in str(caught.value)


def test_a_test_estate_on_live_servers_is_refused(tmp_path):
    write(tmp_path, BASE, "live.yml")
    test = mirror_of_base()
    for name, host in test["hosts"].items():
        host["address"] = name.removeprefix("test-")
    with pytest.raises(UserError) as caught:
        load_inventory(write(tmp_path, test, "test.yml"))
    assert "test server test-crm1 is a live server (crm1)" in str(caught.value)
