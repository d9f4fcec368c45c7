"""1CRM end to end: the playbooks over real SSH (fixture sshd) against a real MariaDB (fixture server).

Each test builds its own estate in a temp dir: a live site (and, with a service contract, a test
site) shaped like 1CRM, served by a small web server, with its own databases; hosts h1 (web) and
h2 (database host, where dumps are written) both reach 127.0.0.1 through the fixture sshd. The
estate's time zone is chosen so that "now" is mid-morning (or late afternoon, for the deadline
test) there, so the 15:00 and 16:00 deadlines are real deadlines without faking the clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import onecrm_site as one
from tests.support.onecrm_site import mariadb_server, onecrm_estate, sshd_server  # noqa: F401 - fixtures
from tests.support.runs import REPO, CliResult, journal_of

UPGRADE = str(REPO / "playbooks/onecrm/upgrade.yml")
ROLLBACK = str(REPO / "playbooks/onecrm/rollback.yml")


def approve(*gates: str) -> list[str]:
    return [arg for gate in gates for arg in ("--approve", gate)]


def failed_tasks(result: CliResult) -> list[str]:
    return [e["task"] for e in result.events() if e["event"] == "node_ended" and e["status"] == "failed"]


# --- update, verify, roll back -------------------------------------------------------------------------
def test_without_contract_update_then_the_decision_rolls_back_exactly(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False)
    before = est.live.state(est.server)
    cron_before = est.live.cron_file.read_text()

    result = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-confirm-rollback"))

    assert result.rc == 1, result.out[-3000:]
    assert failed_tasks(result) == ["Keep the update", "The update was rolled back"]
    nodes = est.nodes()
    verified = nodes["Verify the live system"]["result"]
    assert (verified["files"], verified["database"], verified["status"]) == (one.NEW, one.NEW, 200)
    backup = nodes["Check the package and back up the files it overwrites"]["result"]
    assert (backup["overwritten"], backup["created"]) == (3, 4)  # Contact.php is identical: not backed up
    loss = nodes["Data the rollback loses (rows changed since the database backup)"]["result"]
    assert loss["changed_tables"] == {"accounts": 2}  # the rows the update's database step touched
    assert nodes["Restore the live database"]["status"] == "changed"
    assert nodes["Version of the live system after the rollback"]["result"]["database"] == one.OLD
    assert est.live.state(est.server) == before
    assert est.live.cron_file.read_text() == cron_before
    assert not (est.live.root / one.MAINTENANCE_FILE).exists()


def test_with_contract_test_first_then_live_then_rollback_from_the_run(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=True)
    assert est.test is not None
    est.server.admin(
        f"INSERT INTO {est.server.quote(est.live.database)}.accounts VALUES (9, 'Neu GmbH', 0, NOW())"
    )
    (est.live.root / "files/upload/live-only").write_bytes(b"uploaded on live")
    (est.test.root / "files/upload/test-only").write_bytes(b"old test data")
    test_config = (est.test.root / "include/config/local_config.php").read_text()
    before = est.live.state(est.server)

    result = est.run(UPGRADE, *approve("onecrm-test-ok"))

    assert result.rc == 0, result.out[-3000:]
    assert est.live.version() == one.NEW and one.db_version(est.server, est.live.database) == one.NEW
    assert est.test.version() == one.NEW and one.db_version(est.server, est.test.database) == one.NEW
    # the test system got live's data and files, kept its own configuration, and was updated
    names = est.server.admin(f"SELECT name FROM {est.server.quote(est.test.database)}.accounts WHERE id = 9")
    assert names == [("Neu GmbH",)]
    assert (est.test.root / "files/upload/live-only").read_bytes() == b"uploaded on live"
    assert not (est.test.root / "files/upload/test-only").exists()
    assert (est.test.root / "include/config/local_config.php").read_text() == test_config
    assert (est.live.root / "modules/Accounts/Account.php").owner() == "www-data"
    order = [e["task"] for e in result.events() if e["event"] == "node_ended"]
    assert order.index("Tested OK on the test system") < order.index("Install the update")
    upgrade_run = result.events()[0]["run_id"]

    rolled = est.run(ROLLBACK, "--from-run", upgrade_run, *approve("onecrm-confirm-rollback"))

    assert rolled.rc == 0, rolled.out[-3000:]
    chosen = est.nodes()["The file backup the rollback restores"]["result"]
    assert chosen["kind"] == "onecrm_update_backup" and chosen["source"] == "the rolled-back run"
    assert est.live.state(est.server) == before
    assert (est.live.root / "modules/Accounts/Account.php").owner() == "root"


def test_rollback_without_a_run_restores_last_nights_backup(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False)
    nightly = est.live.state(est.server)  # the nightly backups were taken from this state
    q = est.server.quote(est.live.database)
    est.server.admin(
        f"UPDATE {q}.contacts SET last_name = 'Geändert', date_modified = UTC_TIMESTAMP() WHERE id = 3"
    )
    est.server.admin(f"CREATE TABLE {q}.broken_upgrade (id INT)")
    (est.live.root / "include/utils.php").write_text("<?php // half-installed by hand\n")
    (est.live.root / "modules/Broken").mkdir()
    (est.live.root / "modules/Broken/Half.php").write_text("<?php\n")

    result = est.run(ROLLBACK, *approve("onecrm-confirm-rollback"))

    assert result.rc == 0, result.out[-3000:]
    nodes = est.nodes()
    assert nodes["The file backup the rollback restores"]["result"]["source"] == "nightly"
    assert nodes["Data the rollback loses (rows changed since the database backup)"]["result"][
        "changed_tables"
    ] == {"contacts": 1}
    assert est.live.state(est.server) == nightly


# --- what stops the run ------------------------------------------------------------------------------
@pytest.mark.parametrize("nightly", ["stale", "missing"])
def test_stale_or_missing_nightly_backup_stops_the_run(onecrm_estate: Any, nightly: str) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, nightly=nightly)
    before = est.live.state(est.server)
    cron_before = est.live.cron_file.read_text()

    result = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-keep"))

    assert result.rc == 1
    assert failed_tasks(result) == ["Last night's database backup exists, is recent and sound"]
    error = est.nodes()["Last night's database backup exists, is recent and sound"]["error"]
    assert ("stale" if nightly == "stale" else "no nightly backup") in error
    assert est.live.state(est.server) == before
    assert est.live.cron_file.read_text() == cron_before
    assert est.backups_written() == []


@pytest.mark.parametrize("kind", one.MALICIOUS)
def test_malicious_package_is_refused_with_nothing_written(onecrm_estate: Any, kind: str) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, package=kind)
    before = est.live.state(est.server)

    result = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-keep"))

    assert result.rc == 1
    assert failed_tasks(result) == ["Check the package and back up the files it overwrites"]
    error = est.nodes()["Check the package and back up the files it overwrites"]["error"]
    assert "unsafe members, nothing was written" in error
    assert not est.escape.exists() and not est.escape.parent.exists()
    assert est.live.state(est.server) == before
    assert not est.live.backup_dir.exists()
    assert not (est.live.root / one.MAINTENANCE_FILE).exists()


def test_gate_past_its_deadline_stops_the_run(onecrm_estate: Any) -> None:  # noqa: F811
    # after 15:00 in the estate's zone; the live update may start that late (not the default 15:00)
    est = onecrm_estate(contract=False, local_hour=17, settings={"live": {"latest_start": "23:59"}})

    result = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-keep"))

    assert result.rc == 1
    ended = [e for e in result.events() if e["event"] == "run_ended"][0]
    assert ended["status"] == "stopped" and "deadline" in ended["reason"] and "15:00" in ended["reason"]
    nodes = est.nodes()
    assert nodes["Verify the live system"]["status"] == "ok"
    assert "All functions tested, custom PDFs included" not in nodes or nodes[
        "All functions tested, custom PDFs included"
    ]["status"] not in ("changed", "ok")
    journal = journal_of(est.base)
    try:
        assert journal.gates(ended["run_id"]) == []
    finally:
        journal.close()


@pytest.mark.parametrize("contract", [False, True], ids=["no-contract", "contract"])
def test_check_mode_changes_nothing(onecrm_estate: Any, contract: bool) -> None:  # noqa: F811
    est = onecrm_estate(contract=contract)
    sites = [s for s in (est.live, est.test) if s is not None]
    before = [s.state(est.server) for s in sites]
    crons = [s.cron_file.read_text() for s in sites]

    result = est.run(UPGRADE, "--check")

    assert result.rc == 0, result.out[-3000:]
    statuses = result.statuses()
    assert "failed" not in statuses.values()
    install = [
        e for e in result.events() if e["event"] == "node_ended" and e["task"] == "Install the update"
    ][0]
    assert install["status"] in ("changed", "would-change") and "would extract" in install["msg"]
    assert [s.state(est.server) for s in sites] == before
    assert [s.cron_file.read_text() for s in sites] == crons
    assert est.backups_written() == []
