"""Sage CRM backups stored apart from the estate (issue 16, item 4), through the simulated estate.

The guide (sagecrm-upgrade-guide-fr.txt, "Pourquoi effectuer des sauvegardes manuelles ?") wants
the manual backups "stocké[s] de façon complètement indépendante de l'environnement de mise à
jour". With `sagecrm.backup_copy` every verified backup is copied to a UNC share (each simulated
server reaches `\\\\nas\\crm-backups`) or to the controller, hashed where it landed, and recorded
with its artifact; the rollback uses that copy when the server's own file is gone, and refuses
before any change when neither copy is as recorded.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate, differences, inventory_doc

SHARE = "\\\\nas\\crm-backups"
UNC = SHARE + "\\sagecrm-single"
GIB = 1 << 30
BACKUP_KINDS = {"db_backup", "view_definitions", "registry_export", "archive"}


def estate_with(tmp_path: Path, backup_copy: str | None = UNC, kind: str = "single") -> SimEstate:
    """An estate whose servers each reach the share; `backup_copy` set when given."""
    doc = inventory_doc(kind, **({"backup_copy": backup_copy} if backup_copy else {}))
    doc["defaults"]["sim"]["initial"]["disks"] = {"C": {"total": 100 * GIB}, SHARE: {"total": 100 * GIB}}
    return SimEstate(tmp_path, kind, doc=doc)


def backups(estate: SimEstate, run_id: str) -> list[dict[str, Any]]:
    """The run's backup artifacts as journaled (meta decoded)."""
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM artifacts WHERE run_id = ?", (run_id,))]
    for row in rows:
        row["meta"] = json.loads(row["meta"] or "{}")
    return [r for r in rows if r["kind"] in BACKUP_KINDS]


def upgraded(estate: SimEstate) -> str:
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc == 0, result.out + result.err
    return estate.last_run()


@pytest.mark.parametrize("kind", ["single", "cluster"])
def test_upgrade_copies_every_backup_to_the_share_and_records_both_places(tmp_path, kind):
    estate = estate_with(tmp_path, kind=kind)
    run_id = upgraded(estate)
    found = backups(estate, run_id)
    assert {r["kind"] for r in found} == BACKUP_KINDS
    assert {r["meta"]["copy"]["via"] for r in found} == set(estate.hosts)  # every server copied its own
    for row in found:
        copy = row["meta"]["copy"]
        host = estate.host(copy["via"])  # a controller file went through the database server
        assert row["host"] in (None, copy["via"])
        assert copy["kind"] == "unc" and copy["verified"] is True
        assert copy["location"].startswith(f"{UNC}\\{run_id}")  # <run id>[-<label>]\\<file>
        assert copy["location"] != row["location"]
        assert copy["sha256"] == row["sha256"]
        # the copy on the share really is the backup, byte for byte
        assert hashlib.sha256(host.read_bytes(copy["location"])).hexdigest() == row["sha256"]


def test_rollback_restores_from_the_share_when_the_servers_copies_are_gone(tmp_path):
    estate = estate_with(tmp_path)
    before = estate.snapshot(exclude=(SHARE,))
    run_id = upgraded(estate)
    found = {r["kind"]: r for r in reversed(backups(estate, run_id))}  # the first of each: before the upgrade
    # the database backup (kept on the controller for the simulated SQLite database) and the
    # install folder's zip on the server are lost
    (estate.root / found["db_backup"]["location"]).unlink()
    program_files = next(r for r in backups(estate, run_id) if r["location"].endswith("crm-CRM.zip"))
    estate.host("crm").remove(program_files["location"])

    rollback = estate.run("rollback.yml", "--from-run", run_id)
    assert rollback.rc == 0, rollback.out + rollback.err
    assert differences(before, estate.snapshot(exclude=(SHARE,))) == []
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        rows = db.execute(
            "SELECT result FROM nodes WHERE run_id = ? AND module = 'crm_restore'", (estate.last_run(),)
        ).fetchall()
    restored = [json.loads(r[0]) for r in rows]
    databases = [r["database"] for r in restored if "database" in r]
    assert [d["read_from"] for d in databases] == ["off-server copy"]
    # brought back to where the backup was recorded, with the recorded sha256
    again = (estate.root / found["db_backup"]["location"]).read_bytes()
    assert hashlib.sha256(again).hexdigest() == found["db_backup"]["sha256"]


def test_rollback_refused_before_any_change_when_both_copies_changed(tmp_path):
    estate = estate_with(tmp_path)
    run_id = upgraded(estate)
    zipped = next(r for r in backups(estate, run_id) if r["location"].endswith("crm-CRM.zip"))
    host = estate.host("crm")
    host.write_bytes(zipped["location"], b"not the backup")
    host.write_bytes(zipped["meta"]["copy"]["location"], b"not the backup either")
    after_upgrade = estate.snapshot(exclude=(SHARE,))

    rollback = estate.run("rollback.yml", "--from-run", run_id)
    assert rollback.rc != 0
    text = rollback.out + rollback.err
    assert "refused before any step" in text
    assert (
        f"crm:{zipped['location']}" in text
        and f"its off-server copy crm:{zipped['meta']['copy']['location']}" in text
    )
    assert differences(after_upgrade, estate.snapshot(exclude=(SHARE,))) == []


def validate(estate: SimEstate) -> str:
    result = run_cli(["validate", str(PLAYBOOKS / "upgrade.yml"), "-i", str(estate.inventory)], estate.root)
    assert result.rc == 0, result.out + result.err
    return result.out


def test_validate_warns_when_backups_stay_on_the_upgraded_servers(tmp_path):
    without = validate(estate_with(tmp_path / "a", backup_copy=None))
    assert "warning:" in without and "backups stay only on the servers being upgraded (crm)" in without
    assert "stocké de façon complètement indépendante de l'environnement de mise à jour" in without
    with_copy = validate(estate_with(tmp_path / "b"))
    assert "stocké de façon complètement indépendante" not in with_copy


def test_controller_destination_and_the_report_lists_both_places(tmp_path):
    estate = estate_with(tmp_path, backup_copy="controller")
    result = run_cli(
        [
            "run",
            str(PLAYBOOKS / "upgrade.yml"),
            "-i",
            str(estate.inventory),
            "--approve-all",
            *estate.repaired(),
        ],
        estate.root,
    )
    assert result.rc == 0, result.out + result.err
    run_id = estate.last_run()
    found = backups(estate, run_id)
    copies = (estate.state_dir / "backup-copies" / "sagecrm-single").resolve()
    for row in found:
        copy = row["meta"]["copy"]
        assert copy["kind"] == "controller" and copy["via"] is None
        folder = Path(copy["location"]).parent  # absolute: a rollback may run elsewhere
        assert (
            folder.name == "crm" and folder.parent.name.startswith(run_id) and folder.parent.parent == copies
        )
        assert hashlib.sha256(Path(copy["location"]).read_bytes()).hexdigest() == row["sha256"]
    html = (estate.state_dir / "reports" / run_id / "report.html").read_text(encoding="utf-8")
    zipped = next(r for r in found if r["location"].endswith("crm-CRM.zip"))
    assert "Off-server copy" in html
    assert zipped["location"].replace("\\", "\\") in html
    assert f"{zipped['meta']['copy']['location']} (controller)" in html


def test_a_share_the_server_may_not_open_stops_the_run_before_the_installer(tmp_path):
    """The second hop: over WinRM the share refuses a session whose credentials do not travel on.
    The backup step fails with Windows' own text; the installer never starts."""
    doc = estate_with(tmp_path).doc
    doc["defaults"]["sim"]["initial"]["disks"][SHARE]["access"] = "denied"
    estate = SimEstate(tmp_path / "denied", "single", doc=doc)
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc != 0
    nodes = estate.nodes(estate.last_run()).values()
    failed = [n for n in nodes if n["status"] == "failed"]
    assert [n["module"] for n in failed] == ["crm_backup"]
    assert f"Access to the path '{UNC}" in failed[0]["error"] and "is denied" in failed[0]["error"]
    assert all(
        n["status"] not in ("ok", "changed", "failed") for n in nodes if n["module"] == "crm_installer"
    )
    assert estate.db_version() == "7.2"


def test_rollback_in_check_mode_with_the_servers_copies_gone_changes_nothing(tmp_path):
    estate = estate_with(tmp_path)
    run_id = upgraded(estate)
    found = {r["kind"]: r for r in reversed(backups(estate, run_id))}
    (estate.root / found["db_backup"]["location"]).unlink()
    estate.host("crm").remove(
        next(r for r in backups(estate, run_id) if r["location"].endswith("crm-CRM.zip"))["location"]
    )
    before = estate.snapshot(exclude=(SHARE,))
    check = estate.run("rollback.yml", "--from-run", run_id, "--check")
    assert check.rc == 0, check.out + check.err
    assert differences(before, estate.snapshot(exclude=(SHARE,))) == []
    assert not (estate.root / found["db_backup"]["location"]).exists()  # nothing brought back in check mode
