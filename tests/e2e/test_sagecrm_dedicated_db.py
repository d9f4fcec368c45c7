"""A Sage CRM estate whose database is on a dedicated SQL Server (issue 16, item 7).

The guide, chapter 6: "les fichiers d'installation Sage CRM seront créés sur les serveurs
Web/d'application et la base de données sur un serveur de base de données dédié distinct", and
"installez d'abord Sage CRM sur le serveur Web principal. Cette première installation doit
également installer la base de données". The simulated estate (`ROLES["dedicated"]`): `sql1`, a
plain Windows host with SQL Server (role `db` only, listed first), and two CRM servers.
"""

from __future__ import annotations

import json

from tests.support.runs import REPO, run_cli, write_yaml
from tests.support.sagecrm_estates import SimEstate, differences, inventory_doc


def _plan(estate: SimEstate) -> dict:
    result = run_cli(
        ["plan", "playbooks/sagecrm/upgrade.yml", "-i", str(estate.inventory), "--format", "json"],
        REPO,
    )
    assert result.rc == 0, result.err
    return json.loads(result.out)


def _wave(plan: dict, module: str, host: str) -> int:
    return next(s["wave"] for s in plan["steps"] if s["module"] == module and s["host"] == host)


def test_the_first_crm_server_upgrades_the_database_after_every_backup(tmp_path):
    estate = SimEstate(tmp_path, "dedicated")
    plan = _plan(estate)
    installer = {h: _wave(plan, "crm_installer", h) for h in ("crm1", "crm2")}
    assert installer["crm1"] < installer["crm2"]  # DB-first: crm1, not sql1 (listed first), goes first
    backups = {h: _wave(plan, "crm_backup", h) for h in ("sql1", "crm1", "crm2")}
    assert max(backups.values()) < installer["crm1"]
    disconnect = _wave(plan, "crm_disconnect", "crm2")
    assert disconnect < installer["crm1"]
    # no gate asks a person to repair an upgrade log on the SQL Server, which has none
    listed = run_cli(["plan", "playbooks/sagecrm/upgrade.yml", "-i", str(estate.inventory)], REPO)
    assert "upgrade-log-fixed-sql1" not in listed.out and "db-upgrade-log-crm1" in listed.out


def test_upgrade_and_rollback_leave_the_sql_server_alone(tmp_path):
    estate = SimEstate(tmp_path, "dedicated")
    before = estate.snapshot()
    sql_files = set(before["sql1"]["files"])
    assert not any("Sage" in f for f in sql_files) and not before["sql1"]["registry"]

    upgrade = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert upgrade.rc == 0, upgrade.out + upgrade.err
    run_id = estate.last_run()
    assert estate.db_version() == "7.3"
    nodes = estate.nodes(run_id).values()
    on_sql = {n["module"]: n for n in nodes if n["host"] == "sql1"}
    assert on_sql["crm_installer"]["status"] == "skipped"
    assert on_sql["crm_disconnect"]["status"] == "skipped"
    assert on_sql["crm_backup"]["status"] == "changed"  # the database and its views, nothing else
    for name in ("crm1", "crm2"):
        version = estate.host(name).registry_value(
            "HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32"
        )
        assert version["data"] == "7.3"
    upgraded = estate.snapshot()
    assert upgraded["sql1"] == before["sql1"], differences(before["sql1"], upgraded["sql1"])
    # the database's upgrade log is on crm1, whose installer took the database server's path
    assert any(f["host"] == "crm1" and f["category"] == "upgrade_log" for f in estate.findings(run_id))

    rollback = estate.run("rollback.yml", "--from-run", run_id)
    assert rollback.rc == 0, rollback.out + rollback.err
    assert differences(before, estate.snapshot()) == []


def test_rules_explain_the_dedicated_database_server(tmp_path):
    doc = inventory_doc("dedicated")
    doc["sagecrm"]["installer"]["response_files"].pop("db")
    doc["hosts"]["crm2"]["roles"] = ["web", "indexing", "replication"]
    doc["hosts"]["crm1"]["roles"] = ["web", "dtls", "email_manager", "escalation"]
    inventory = write_yaml(tmp_path / "inventory.yml", doc)
    result = run_cli(
        ["validate", str(REPO / "playbooks/sagecrm/upgrade.yml"), "-i", str(inventory)], tmp_path
    )
    assert result.rc == 2, result.out + result.err
    assert "sql1 is a dedicated database server (role `db` only, no Sage CRM install)" in result.err
    assert "the installer on crm1, the first CRM server, upgrades the database" in result.err
    assert "must be on the first server of its group (crm1); the dedicated database server sql1" in result.err
    assert "Traceback" not in result.err


def test_probe_and_validate_against_it_accept_the_sql_server(tmp_path):
    estate = SimEstate(tmp_path, "dedicated")
    result = run_cli(
        ["probe", "-i", str(estate.inventory), "--format", "json", "--output", "probe.json"], tmp_path
    )
    assert result.rc == 0, result.out + result.err
    report = json.loads((tmp_path / "probe.json").read_text(encoding="utf-8"))
    sql = report["hosts"]["sql1"]["sagecrm"]
    assert "install" not in sql and sql["database"]["crm_version"] == "7.2"
    assert report["findings"] == [] or all(f.get("host") != "sql1" for f in report["findings"])
    checked = run_cli(
        [
            "validate",
            str(REPO / "playbooks/sagecrm/upgrade.yml"),
            "-i",
            str(estate.inventory),
            "--probe",
            "probe.json",
        ],
        tmp_path,
    )
    assert checked.rc == 0, checked.out + checked.err
