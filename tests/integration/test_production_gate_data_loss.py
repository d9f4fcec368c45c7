"""The production database's gate says what the restore loses before anyone approves it.

`restore-production-<target>` is asked by db_restore (and onecrm_restore, crm_restore through it)
after the backup was checked. Its question now carries the count the rollback preview gives: the
rows written since the backup, as the estate's product counts them (1CRM: `date_modified`, UTC),
read from the controller; where no product counts the database, the question says it was not
counted. Real MariaDB (fixture) and SQLite targets, the real LocalConnection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engine.api.module import Gatekeeper, utcnow
from engine.db import connect
from tests.support.dbservers import fresh_target, mariadb_server, new_run, run_db_module  # noqa: F401
from tests.support.modharness import local_connection

ONECRM_SECTION = {
    "live": {
        "host": "h1",
        "install_path": "/srv/1crm",
        "database": "crm",
        "url": "https://crm.example.test",
        "backup_dir": "/srv/backups",
    },
}


class Asked(Gatekeeper):
    """Approves each gate by its id, keeping the question it was asked."""

    def __init__(self) -> None:
        self.questions: dict[str, str] = {}

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        self.questions[gate_id] = prompt
        return {"approved": True, "by": "tester", "at": utcnow(), "comment": "ok", "blanket": False}


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    with local_connection() as c:
        yield c


def _target(request: pytest.FixtureRequest, tmp_path: Path, dialect: str) -> dict[str, Any]:
    entry = fresh_target(request, tmp_path, dialect)
    with connect(entry, name="crm") as db:
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name VARCHAR(50), date_modified DATETIME)")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, name VARCHAR(50), date_modified DATETIME)")
        db.execute("INSERT INTO accounts VALUES (1, 'Kunde GmbH', '2024-03-01 10:00:00')")
        db.execute("INSERT INTO notes VALUES (1, 'Vertrag', '2024-03-01 10:00:00')")
        db.commit()
    return entry


def _restore_after_users_wrote(entry: dict[str, Any], products: dict[str, Any], conn: Any) -> Asked:
    inventory = SimpleNamespace(
        source={},
        products=products,
        databases={"crm": {**entry, "production": True}},
        timezone="Europe/Berlin",
        location=None,
    )
    run = new_run({"crm": entry}, inventory=inventory, gatekeeper=Asked())
    assert not run_db_module("db_backup", {"db": "crm"}, run, conn).failed
    later = "2999-01-01 00:00:00"  # written after the backup, whatever the clock says
    with connect(entry, name="crm") as db:
        db.execute("INSERT INTO accounts VALUES (2, 'Neu GmbH', ?)", (later,))
        db.execute("UPDATE accounts SET date_modified = ? WHERE id = 1", (later,))
        db.commit()
    restored = run_db_module("db_restore", {"db": "crm"}, run, conn)
    assert not restored.failed, restored.msg
    return run.gatekeeper


def test_the_gate_counts_the_rows_a_1crm_restore_loses(request, tmp_path, conn) -> None:
    entry = _target(request, tmp_path, "mariadb")

    asked = _restore_after_users_wrote(entry, {"onecrm": ONECRM_SECTION}, conn)

    question = asked.questions["restore-production-crm"]
    assert "Restore the PRODUCTION database crm" in question
    assert (
        "(2 row(s) written to crm since the backup (date_modified after it: accounts 2, notes 0))" in question
    )
    assert "--approve restore-production-crm" in question


def test_without_a_product_that_counts_it_the_gate_says_not_counted(request, tmp_path, conn) -> None:
    entry = _target(request, tmp_path, "sqlite")

    asked = _restore_after_users_wrote(entry, {}, conn)

    question = asked.questions["restore-production-crm"]
    assert (
        "rows written to crm since the backup: not counted (no product of this estate reads crm)" in question
    )
    assert "row(s) written" not in question
