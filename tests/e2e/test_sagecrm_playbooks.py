"""The other Sage CRM playbooks end to end: backup, test upgrade from live backups, maintenance; the demo."""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.runs import REPO, run_cli
from tests.support.sagecrm_estates import SimEstate, differences, inventory_doc


def test_test_upgrade_restores_the_live_backups_then_upgrades(tmp_path):
    live = SimEstate(tmp_path, "cluster")
    doc = inventory_doc("cluster", mirror_of="inventory.yml")
    doc["estate"] = "sagecrm-cluster-test"
    doc["hosts"] = {f"test-{name}": spec for name, spec in doc["hosts"].items()}
    doc["databases"]["crm"]["path"] = ".cutover/sim/test-crm.sqlite"
    test = SimEstate(tmp_path, "cluster", doc=doc, inventory_name="test.yml")
    with sqlite3.connect(test.db_path) as db:  # the test database has drifted from the live one
        db.execute("DELETE FROM Company WHERE Comp_CompanyId = 1")
    db_server = test.host("test-crm2").registry_value(
        "HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "DefaultDatabaseServer"
    )
    live_before = live.snapshot()

    backup = live.run("backup.yml")
    assert backup.rc == 0, backup.out + backup.err
    result = test.run("test-upgrade.yml", "--approve-all", "--from-run", live.last_run())
    assert result.rc == 0, result.out + result.err

    assert differences(live_before, live.snapshot()) == []  # the live estate was only read
    assert test.db_version() == "7.3"
    with sqlite3.connect(test.db_path) as db:
        assert db.execute("SELECT Comp_Name FROM Company WHERE Comp_CompanyId = 1").fetchone() is not None
    for name in test.hosts:
        host = test.host(name)
        assert host.registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version")["data"] == "7.3"
        kept = host.registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "DefaultDatabaseServer")
        assert kept == db_server
    gates = {f["category"] for f in test.findings(test.last_run())}
    assert "checklist" in gates


@pytest.mark.parametrize("profile", ["hourly", "nightly", "weekly"])
def test_maintenance_profiles_on_the_simulated_database(tmp_path, profile):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("maintenance.yml", "-e", f"profile={profile}", "--output", "jsonl")
    assert result.rc == 0, result.out + result.err
    ran = {e["node"]: e["status"] for e in result.events() if e["event"] == "node_ended"}
    assert ran, result.out
    if profile == "weekly":
        backups = list((tmp_path / ".cutover" / "backups" / "crm").glob("*.sqlite"))
        assert backups, "the weekly profile takes a full backup"


def test_maintenance_needs_a_profile(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("maintenance.yml")
    assert result.rc != 0
    assert "choose a profile" in result.out + result.err


def test_the_demo_runs_from_a_fresh_folder(tmp_path):
    """`cutover run playbooks/sagecrm/upgrade.yml -i examples/demo/inventory.yml --approve-all`."""
    args = [
        "run",
        str(REPO / "playbooks/sagecrm/upgrade.yml"),
        "-i",
        str(REPO / "examples/demo/inventory.yml"),
        "--approve-all",
    ]
    result = run_cli(args, tmp_path)
    assert result.rc == 0, result.out + result.err
    assert list((tmp_path / ".cutover" / "reports").glob("*/report.html"))
    assert (tmp_path / ".cutover" / "sim" / "sagecrm-demo-crm.sqlite").exists()


@pytest.mark.parametrize("name", ["sagecrm-single.yml", "sagecrm-cluster.yml", "sagecrm-test-mirror.yml"])
def test_example_inventories_plan_the_upgrade(tmp_path, name):
    result = run_cli(
        ["plan", str(REPO / "playbooks/sagecrm/upgrade.yml"), "-i", str(REPO / "inventories" / name)],
        tmp_path,
    )
    assert result.rc == 0, result.out + result.err
