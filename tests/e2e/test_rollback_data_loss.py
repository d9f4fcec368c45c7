"""The rollback preview's data-loss estimate asks the database what was written since the backup.

`plan|validate rollback.yml --from-run RUN` counts, read-only from the controller, the rows each
restore would lose: on the simulated Sage CRM database (SQLite) the rows of its main tables whose
`<prefix>_UpdatedDate` is later than the backup (Sage CRM names its columns "table
abbreviation_field name",
https://help.sagecrm.com/on_premise/en/2021R2/Administration/Content/Administrator/FC_ChangeDBFieldProps.htm),
compared in the estate's time zone; on a 1CRM database (the real MariaDB fixture) the rows whose
`date_modified` (UTC) is later. A database the controller cannot reach is said to be so, with no
number.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.onecrm_site import mariadb_server, onecrm_estate, sshd_server  # noqa: F401 - fixtures
from tests.support.runs import REPO, run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate


def _data_loss_line(out: str, database: str) -> str:
    return next(line for line in out.splitlines() if f"written to {database} since the backup" in line)


@pytest.fixture
def sage_upgraded(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc == 0, result.out + result.err
    return estate, estate.last_run()


def _backup_taken(estate: SimEstate, run: str) -> dt.datetime:
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        (taken,) = db.execute(
            "SELECT taken_at FROM artifacts WHERE run_id = ? AND resource = 'db:crm' AND verified = 1", (run,)
        ).fetchone()
    return dt.datetime.fromisoformat(taken)


def _users_write(estate: SimEstate, run: str) -> None:
    """What users do a minute after the backup: two companies changed, one person added (stamped with
    the server's clock in the estate's zone, as Sage CRM does); one company changed long before."""
    zone = ZoneInfo(estate.doc.get("timezone") or "UTC")
    later = _backup_taken(estate, run) + dt.timedelta(minutes=1)
    stamp = later.astimezone(zone).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    with sqlite3.connect(estate.db_path) as db:
        db.execute(
            "UPDATE Company SET Comp_Type = 'Customer', Comp_UpdatedDate = ? WHERE Comp_CompanyId IN (3, 7)",
            (stamp,),
        )
        db.execute("UPDATE Company SET Comp_UpdatedDate = '2020-01-01 08:00:00' WHERE Comp_CompanyId = 1")
        db.execute(
            "INSERT INTO Person (Pers_CompanyId, Pers_FirstName, Pers_LastName, Pers_CreatedDate, "
            "Pers_UpdatedDate) VALUES (3, 'Inès', 'Garnier', ?, ?)",
            (stamp, stamp),
        )


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_sage_crm_rows_written_since_the_backup_are_counted_per_table(sage_upgraded, command):
    estate, upgrade_run = sage_upgraded
    _users_write(estate, upgrade_run)

    result = run_cli(
        [command, str(PLAYBOOKS / "rollback.yml"), "-i", str(estate.inventory), "--from-run", upgrade_run],
        estate.root,
    )

    assert result.rc == 0, result.err
    line = _data_loss_line(result.out, "crm")
    assert "data loss: 3 row(s) written to crm since the backup" in line
    assert "(<prefix>_UpdatedDate after it: Company 2, Person 1)" in line
    assert "Opportunity.Oppo_UpdatedDate" in line  # a main table the simulated database does not have
    assert f"changed step(s) of run {upgrade_run} after the backup" in result.out


def test_sage_crm_database_out_of_reach_is_said_never_guessed(sage_upgraded):
    estate, upgrade_run = sage_upgraded
    estate.db_path.rename(estate.db_path.with_suffix(".elsewhere"))

    result = run_cli(
        ["plan", str(PLAYBOOKS / "rollback.yml"), "-i", str(estate.inventory), "--from-run", upgrade_run],
        estate.root,
    )

    assert result.rc == 0, result.err
    line = _data_loss_line(result.out, "crm")
    assert "UNKNOWN, the database was not reached from the controller" in line
    assert "does not exist" in line and "row(s) written" not in line


def test_onecrm_rows_with_a_later_date_modified_are_counted(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=True)
    upgraded = est.run(str(REPO / "playbooks/onecrm/upgrade.yml"), "--approve", "onecrm-test-ok")
    assert upgraded.rc == 0, upgraded.out[-3000:]
    upgrade_run = upgraded.events()[0]["run_id"]
    live = est.server.quote(est.live.database)
    est.server.admin(
        f"INSERT INTO {live}.accounts (id, name, date_modified) VALUES (9, 'Neu GmbH', UTC_TIMESTAMP() + INTERVAL 1 MINUTE)"
    )
    est.server.admin(
        f"UPDATE {live}.notes SET name = 'Vertrag 2', date_modified = UTC_TIMESTAMP() + INTERVAL 1 MINUTE WHERE id = 1"
    )

    result = run_cli(
        [
            "plan",
            str(REPO / "playbooks/onecrm/rollback.yml"),
            "-i",
            str(est.inventory),
            "--from-run",
            upgrade_run,
        ],
        est.base,
    )

    assert result.rc == 0, result.err
    line = _data_loss_line(result.out, "crm_live")
    # the update's own database step touched accounts 1 and 2 after the backup; users wrote 9 and the note
    assert "data loss: 4 row(s) written to crm_live since the backup (date_modified after it: " in line
    assert "accounts 3" in line and "contacts 0" in line and "notes 1" in line
