"""The other Sage CRM playbooks end to end: backup, test upgrade from live backups, maintenance; the demo."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

from simulation.host import SimHost
from tests.support.runs import REPO, run_cli
from tests.support.sagecrm_estates import SimEstate, differences, inventory_doc

CRM_KEY = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
#: what each profile changes on the SQLite demo database (the SQL Server-only tasks are skipped)
PROFILE_CHANGES = {
    "hourly": set(),
    "nightly": {"Statistics update"},
    "weekly": {"Consistency check, index rebuild, full backup", "Clean-up of old backups"},
}


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


@pytest.mark.parametrize("profile", sorted(PROFILE_CHANGES))
def test_maintenance_profiles_on_the_simulated_database(tmp_path, profile):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("maintenance.yml", "-e", f"profile={profile}", "--output", "jsonl")
    assert result.rc == 0, result.out + result.err
    ended = [e for e in result.events() if e["event"] == "node_ended"]
    statuses = {e["task"]: e["status"] for e in ended}
    assert statuses.pop("A profile is chosen") == "ok"
    assert {task for task, status in statuses.items() if status == "changed"} == PROFILE_CHANGES[profile]
    others = {e["task"]: e["msg"] for e in ended if e["task"] in statuses and e["status"] != "changed"}
    assert set(others.values()) == {"condition is false"}, "every other task is skipped by its `when:`"
    backups = sorted((tmp_path / ".cutover" / "backups" / "crm").glob("*.sqlite"))
    if profile != "weekly":
        assert backups == []
        return
    assert len(backups) == 1, "the weekly profile takes one full backup"
    with sqlite3.connect(estate.db_path) as live, sqlite3.connect(backups[0]) as backup:
        count = "SELECT COUNT(*) FROM Company"
        assert backup.execute(count).fetchone() == live.execute(count).fetchone() != (0,)


def test_maintenance_needs_a_profile(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("maintenance.yml", "--output", "jsonl")
    assert result.rc == 1, result.out + result.err
    ended = [e for e in result.events() if e["event"] == "node_ended"]
    assert [(e["task"], e["status"]) for e in ended if e["status"] != "blocked"] == [
        ("A profile is chosen", "failed")
    ], "nothing runs without a profile"
    assert "choose a profile: -e profile=hourly|nightly|weekly|monthly" in ended[0]["error"]
    assert len(ended) == 9


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
    assert len(list((tmp_path / ".cutover" / "reports").glob("*/report.html"))) == 1
    with sqlite3.connect(tmp_path / ".cutover" / "sim" / "sagecrm-demo-crm.sqlite") as db:
        version = db.execute("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'Version'")
        assert version.fetchone() == ("7.3",)
    with sqlite3.connect(tmp_path / ".cutover" / "runs.db") as journal:
        statuses = {status for (status,) in journal.execute("SELECT status FROM nodes")}
        runs = journal.execute("SELECT status FROM runs").fetchall()
    assert runs == [("succeeded",)]
    assert statuses <= {"ok", "changed", "skipped"}, statuses
    for name in ("crm1", "crm2", "crm3"):
        host = SimHost.open(tmp_path / ".cutover", name)
        assert host.registry_value(CRM_KEY, "Version")["data"] == "7.3", name


@pytest.mark.parametrize("name", ["sagecrm-single.yml", "sagecrm-cluster.yml", "sagecrm-test-mirror.yml"])
def test_example_inventories_plan_the_upgrade(tmp_path, name):
    """The guide's order on every example: each server backed up before its installer, the database server first."""
    inventory = REPO / "inventories" / name
    result = run_cli(
        ["plan", str(REPO / "playbooks/sagecrm/upgrade.yml"), "-i", str(inventory), "--format", "json"],
        tmp_path,
    )
    assert result.rc == 0, result.out + result.err
    steps = json.loads(result.out)["steps"]
    hosts = yaml.safe_load(inventory.read_text())["hosts"]

    def wave(host: str, module: str) -> int:
        waves = [s["wave"] for s in steps if s["host"] == host and s["module"] == module]
        assert len(waves) == 1, (host, module, waves)
        return waves[0]

    (db_host,) = [h for h, spec in hosts.items() if "db" in spec["roles"]]
    for host in hosts:
        assert wave(host, "crm_backup") < wave(host, "crm_installer"), host
        if host != db_host:
            assert wave(db_host, "crm_installer") < wave(host, "crm_installer"), host
