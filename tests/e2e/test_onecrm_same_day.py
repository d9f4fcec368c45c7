"""1CRM's same-day rules, end to end over real SSH against a real MariaDB (issue #16 items 12-14,
issue #17 item 4).

visual4's guide (1crm-update-guide-de.txt), without a service contract:
"Bis spätestens 15 Uhr am selben Tag: Testen Sie alle Funktionen des Systems", "Bis spätestens
16:00 Uhr am selben Tag: Fehler und Probleme visual4 melden", "Backups, die älter sind als 1 Tag
sind vorhanden. Für das Wiederherstellen von Backups, die über einen Tag hinaus gehen, berechnet
visual4 allerdings pauschal 250 €. Wenn Sie noch am selben Tag ... dann erhalten Sie die
Wiederherstellung kostenlos", and step 1 "Morgens bei visual4 nachfragen, ob das nächtliche
Backup vorhanden und in Ordnung ist".

Time: the controller's clock (engine/core/clock.py) is frozen, in process, at "now" for the day
of the update and a day (or hours) later for the later steps: no sleeping, no waiting for a day.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from typing import Any
from zoneinfo import ZoneInfo

from engine.core import clock
from tests.support import onecrm_site as one
from tests.support.onecrm_site import mariadb_server, onecrm_estate, sshd_server  # noqa: F401 - fixtures
from tests.support.runs import REPO, CliResult, journal_of, run_cli

UPGRADE = str(REPO / "playbooks/onecrm/upgrade.yml")
ROLLBACK = str(REPO / "playbooks/onecrm/rollback.yml")
CONFIRM = "Confirm the rollback"
TERMS = "Whether the restore is free (the day of the update) or charged"


def approve(*gates: str) -> list[str]:
    return [arg for gate in gates for arg in ("--approve", gate)]


def ended(result: CliResult) -> dict[str, Any]:
    return [e for e in result.events() if e["event"] == "run_ended"][0]


def failed_tasks(result: CliResult) -> list[str]:
    return [e["task"] for e in result.events() if e["event"] == "node_ended" and e["status"] == "failed"]


def day_in(est: Any, moment: dt.datetime) -> str:
    zone = ZoneInfo(journal_zone(est))
    return moment.astimezone(zone).date().isoformat()


def journal_zone(est: Any) -> str:
    import yaml

    return str(yaml.safe_load(est.inventory.read_text())["timezone"])


def test_a_resume_on_the_next_day_does_not_re_arm_the_deadlines(onecrm_estate: Any) -> None:  # noqa: F811
    # no update command: the web UI step is a gate, which nobody answers on the day of the update
    est = onecrm_estate(contract=False, settings={"update": None})
    update_day = dt.datetime.now(dt.UTC)
    with clock.frozen(update_day):
        first = est.run(UPGRADE)
    assert first.rc == 1 and failed_tasks(first) == ["Finish the update in the web UI"]
    run_id = ended(first)["run_id"]
    journal = journal_of(est.base)
    try:
        notes = journal.run(run_id)["notes"]
    finally:
        journal.close()
    assert f"run day: {day_in(est, update_day)} in {journal_zone(est)}" in notes[0]
    # the operator finishes the update in the web UI, and resumes the next morning
    subprocess.run(["sh", "scripts/upgrade_db.sh"], cwd=est.live.root, check=True, capture_output=True)

    with clock.frozen(update_day + dt.timedelta(days=1)):
        resumed = run_cli(
            [
                "resume",
                run_id,
                "--output",
                "jsonl",
                "--no-report",
                *approve("onecrm-live-webui", "onecrm-tested", "onecrm-keep"),
            ],
            est.base,
        )

    assert resumed.rc == 1, resumed.out[-3000:]
    last = ended(resumed)
    assert last["status"] == "stopped"
    assert f"deadline {day_in(est, update_day)} 15:00" in last["reason"]
    assert "(the day of the run) has passed" in last["reason"]
    assert "Bis spätestens 15 Uhr am selben Tag" in last["reason"] and "250 €" in last["reason"]
    assert est.nodes(run_id)["Verify the live system"]["status"] == "ok"
    journal = journal_of(est.base)
    try:
        assert [g["gate_id"] for g in journal.gates(run_id) if g["approved"]] == ["onecrm-live-webui"]
    finally:
        journal.close()


def test_the_live_update_does_not_start_after_its_latest_start(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, local_hour=10)
    before = est.live.state(est.server)
    late = dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)  # 15:xx in the estate's zone, same day

    with clock.frozen(late):
        result = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-keep"))

    assert result.rc == 1
    assert failed_tasks(result) == ["Check the package and back up the files it overwrites"]
    error = est.nodes()["Check the package and back up the files it overwrites"]["error"]
    assert f"may not start after {day_in(est, late)} 15:00" in error
    assert "default: the 15:00 test deadline" in error and "Bis spätestens 15 Uhr" in error
    assert est.live.state(est.server) == before
    assert not est.live.backup_dir.exists()
    assert not (est.live.root / one.MAINTENANCE_FILE).exists()


def test_the_restore_gate_says_free_on_the_day_and_250_euros_later(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False)
    update_day = dt.datetime.now(dt.UTC)
    with clock.frozen(update_day):
        upgraded = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-keep"))
        assert upgraded.rc == 0, upgraded.out[-3000:]
        same_day = est.run(
            ROLLBACK, "--from-run", ended(upgraded)["run_id"]
        )  # not confirmed: nothing restored
    assert same_day.rc == 1 and failed_tasks(same_day) == [CONFIRM]
    rollback_run = ended(same_day)["run_id"]
    terms = est.nodes(rollback_run)[CONFIRM]["result"]["terms"]
    assert (terms["free"], terms["charge_eur"], terms["update_day"]) == (True, 0, day_in(est, update_day))

    with clock.frozen(update_day + dt.timedelta(days=1, hours=1)):  # the rollback resumed the next day
        next_day = run_cli(["resume", rollback_run, "--output", "jsonl", "--no-report"], est.base)

    assert next_day.rc == 1 and failed_tasks(next_day) == [CONFIRM]
    confirm = est.nodes(rollback_run)[CONFIRM]
    terms = confirm["result"]["terms"]
    assert (terms["free"], terms["charge_eur"], terms["update_day"]) == (False, 250, day_in(est, update_day))
    assert "berechnet visual4 allerdings pauschal 250 €" in confirm["result"]["prompt"]
    assert "charged 250 €" in confirm["error"]
    assert est.live.version() == one.NEW  # refused at the gate: nothing restored


def test_an_older_backup_is_chosen_by_date_and_verified(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False)
    q = est.server.quote(est.live.database)
    folder = est.base / "nightly"
    est.server.admin(f"UPDATE {q}.contacts SET last_name = 'Damals' WHERE id = 3")
    three_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    one.take_nightly(est.live.root, est.server, est.live.database, folder, three_days_ago)
    older = est.live.state(est.server)
    est.server.admin(
        f"UPDATE {q}.contacts SET last_name = 'Heute', date_modified = UTC_TIMESTAMP() WHERE id = 3"
    )
    (est.live.root / "include/utils.php").write_text("<?php // changed since\n")

    result = est.run(
        ROLLBACK, "-e", f"backup_date={day_in(est, three_days_ago)}", *approve("onecrm-confirm-rollback")
    )

    assert result.rc == 0, result.out[-3000:]
    nodes = est.nodes()
    chosen = nodes["The database backup the rollback restores"]["result"]
    assert chosen["location"].endswith(f"1crm-db-{three_days_ago:%Y%m%d-%H%M}.sql.gz")
    assert len(chosen["available"]) == 2 and chosen["size"] > 0
    prompt = nodes[CONFIRM]["result"]["prompt"]  # the gate lists the nightly backups, with times and sizes
    assert "Nightly database backups" in prompt and "Nightly file archives" in prompt
    assert all(f"{row['size']:,} bytes" in prompt for row in chosen["available"])
    restored = nodes["Restore the live database"]["result"]
    assert restored["backup"] == chosen["location"] and restored["sha256"] == chosen["sha256"]
    assert est.live.state(est.server) == older


def test_an_older_backup_date_without_a_backup_lists_those_there_are(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False)
    before = est.live.state(est.server)

    result = est.run(ROLLBACK, "-e", "backup_date=2001-01-01", *approve("onecrm-confirm-rollback"))

    assert result.rc == 1
    assert failed_tasks(result) == ["The database backup the rollback restores"]
    error = est.nodes()["The database backup the rollback restores"]["error"]
    assert "taken on 2001-01-01" in error and "there are: " in error and "1crm-db-" in error
    assert est.live.state(est.server) == before


def test_a_cloud_customer_asks_the_provider_instead_of_reading_the_backup(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(
        contract=False, nightly="missing", settings={"hosting": "cloud", "live": {"nightly": None}}
    )
    before = est.live.state(est.server)

    blanket = est.run(UPGRADE, "--approve-all")

    assert blanket.rc == 1
    assert failed_tasks(blanket) == ["Last night's database backup exists, is recent and sound"]
    assert (
        "needs its own approval"
        in est.nodes()["Last night's database backup exists, is recent and sound"]["error"]
    )
    assert est.live.state(est.server) == before

    confirmed = est.run(
        UPGRADE,
        *approve(
            "onecrm-provider-backup-database=Frau Meier, visual4, 08:10",
            "onecrm-provider-backup-files=Frau Meier, visual4, 08:10",
            "onecrm-tested",
            "onecrm-keep",
        ),
    )

    assert confirmed.rc == 0, confirmed.out[-3000:]
    check = est.nodes()["Last night's database backup exists, is recent and sound"]["result"]
    assert check["source"] == "provider" and check["gate"]["comment"] == "Frau Meier, visual4, 08:10"
    journal = journal_of(est.base)
    try:
        run_id = ended(confirmed)["run_id"]
        gates = {g["gate_id"]: g["comment"] for g in journal.gates(run_id)}
        findings = [f.message for f in journal.findings(run_id)]
    finally:
        journal.close()
    assert gates["onecrm-provider-backup-database"] == "Frau Meier, visual4, 08:10"
    assert gates["onecrm-provider-backup-files"] == "Frau Meier, visual4, 08:10"
    assert any("confirmed by the provider: Frau Meier" in f for f in findings)
    assert est.live.version() == one.NEW


def test_a_production_database_is_restored_only_when_its_gate_is_named(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, production=True)
    upgraded = est.run(UPGRADE, *approve("onecrm-tested", "onecrm-keep"))
    assert upgraded.rc == 0, upgraded.out[-3000:]
    run_id = ended(upgraded)["run_id"]

    plan = run_cli(["plan", ROLLBACK, "-i", str(est.inventory), "--from-run", run_id], est.base)
    assert "restore-production-crm_live" in plan.out, plan.out + plan.err
    assert "gate before it: restore-production-crm_live" in plan.out

    blanket = est.run(ROLLBACK, "--from-run", run_id, "--approve-all")

    assert blanket.rc == 1
    assert failed_tasks(blanket) == ["Restore the live database"]
    assert "needs its own approval" in est.nodes()["Restore the live database"]["error"]
    assert one.db_version(est.server, est.live.database) == one.NEW  # not restored

    rollback_run = ended(blanket)["run_id"]
    named = run_cli(
        [
            "resume",
            rollback_run,
            "--output",
            "jsonl",
            "--no-report",
            *approve("onecrm-confirm-rollback", "restore-production-crm_live"),
        ],
        est.base,
    )

    assert named.rc == 0, named.out[-3000:]
    assert one.db_version(est.server, est.live.database) == one.OLD
    journal = journal_of(est.base)
    try:
        approved = [g["gate_id"] for g in journal.gates(rollback_run) if g["approved"]]
    finally:
        journal.close()
    assert "restore-production-crm_live" in approved
