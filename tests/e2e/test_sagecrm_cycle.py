"""Sage CRM end to end on simulated estates: upgrade -> verify -> rollback, and check mode.

The simulated installer really changes the hosts (binaries, registry, logs, `<install>_backup`)
and the SQLite CRM database (version, views, `_New`, columns, indexes); the rollback must bring
every host and the database back to exactly the state before (snapshots and table checksums).
"""

from __future__ import annotations

import pytest

from tests.support.sagecrm_estates import SimEstate, differences


@pytest.mark.parametrize("kind", ["single", "cluster"])
def test_upgrade_verify_rollback_restores_exactly(tmp_path, kind):
    estate = SimEstate(tmp_path, kind)
    before = estate.snapshot()

    upgrade = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert upgrade.rc == 0, upgrade.out + upgrade.err
    upgrade_run = estate.last_run()
    assert estate.db_version() == "7.3"
    for name in estate.hosts:
        version = estate.host(name).registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")
        assert version["data"] == "7.3"
    upgraded = estate.snapshot()
    assert differences(before, upgraded), "the upgrade changed nothing"
    assert any("vCompanyPE_New" in str(row) for row in upgraded["schema"])
    findings = estate.findings(upgrade_run)
    categories = {f["category"] for f in findings}
    assert {"dta_object", "customised_view", "solo_reference", "upgrade_log", "new_view"} <= categories
    assert any("NB doit être réparé" in f["message"] for f in findings if f["category"] == "upgrade_log")

    verify = estate.run("verify.yml", "--approve-all", "--from-run", upgrade_run)
    assert verify.rc == 0, verify.out + verify.err
    checklist = estate.findings(estate.last_run(), "checklist")
    assert checklist and all('"ok": true' in f["detail"] for f in checklist if "_New" not in f["message"])
    assert any("20 company records" in f["message"] and '"ok": true' in f["detail"] for f in checklist)

    rollback = estate.run("rollback.yml", "--from-run", upgrade_run)
    assert rollback.rc == 0, rollback.out + rollback.err
    assert differences(before, estate.snapshot()) == []


def test_check_mode_of_the_whole_upgrade_changes_nothing(tmp_path):
    estate = SimEstate(tmp_path, "cluster")
    before = estate.snapshot()
    result = estate.run("upgrade.yml", "--check", "--approve-all", "--output", "jsonl")
    assert result.rc == 0, result.out + result.err
    statuses = result.statuses()
    assert "would-change" in statuses.values()
    assert "failed" not in statuses.values()
    assert differences(before, estate.snapshot()) == []


def test_second_upgrade_run_finds_the_estate_upgraded(tmp_path):
    estate = SimEstate(tmp_path, "single")
    assert estate.run("upgrade.yml", "--approve-all", *estate.repaired()).rc == 0
    # the log still holds its lines: each run asks the repair gate again, by name
    again = estate.run("upgrade.yml", "--approve-all", *estate.repaired(), "--output", "jsonl")
    assert again.rc == 0, again.out + again.err
    by_module = {}
    for node in estate.nodes(estate.last_run()).values():
        by_module.setdefault(node["module"], set()).add(node["status"])
    assert by_module["crm_installer"] == {"ok"}
    assert by_module["crm_dta_cleanup"] == {"ok"}


def test_upgrade_log_lists_what_the_skipped_dta_cleanup_broke(tmp_path):
    """Without the _dta clean-up the simulated scripts fail: the run stops at the database server's
    installer until the errors are repaired and its gate approved by name; the review says where."""
    estate = SimEstate(tmp_path, "single")
    result = estate.run("upgrade.yml", "--approve-all", "--skip-tags", "dta")
    assert result.rc != 0
    stopped = [n for n in estate.nodes(estate.last_run()).values() if n["status"] == "failed"]
    assert [n["module"] for n in stopped] == ["crm_installer"]
    assert "gate db-upgrade-log-crm needs its own approval" in stopped[0]["error"]
    assert "script Tables.es failed" in stopped[0]["error"]
    resumed = estate.resume(
        estate.last_run(), "--approve-all", "--approve", "db-upgrade-log-crm=indexes dropped, Tables.es run again",
        *estate.repaired("Comp_Name widened by hand"),
    )
    assert resumed.rc == 0, resumed.out + resumed.err
    log = estate.findings(estate.last_run(), "upgrade_log")
    errors = [f["message"] for f in log if f["severity"] == "error"]
    to_fix = [f["message"] for f in log if f["severity"] == "warning"]
    assert "script Tables.es failed" in errors
    assert any(
        m.startswith("SQL script errors: Update_indexes_mssql.sql") and "_dta_index_Company" in m
        for m in errors
    )
    assert any("NB doit être réparé" in m and "Comp_Name" in m for m in to_fix)
