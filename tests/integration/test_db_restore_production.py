"""A production database is restored only after its own gate (issue #17 item 4), through db_restore.

Real SQLite and MariaDB targets, the real LocalConnection; the inventory marks the target
`production: true`. A blanket answer (what `--approve-all` gives) leaves the data as it is; the
gate named by its id restores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engine.api.module import Gatekeeper, utcnow
from engine.db import connect, table_checksums
from tests.support.dbservers import fresh_target, mariadb_server, new_run, run_db_module  # noqa: F401
from tests.support.modharness import local_connection


class Answers(Gatekeeper):
    """Answers as engine/cli/gates.py does: `blanket` when the gate was not named."""

    def __init__(self, named: bool) -> None:
        self.named = named
        self.asked: list[str] = []

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        self.asked.append(gate_id)
        return {"approved": True, "by": "tester", "at": utcnow(), "comment": "ok", "blanket": not self.named}


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    with local_connection() as c:
        yield c


@pytest.fixture(params=["sqlite", "mariadb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    entry = fresh_target(request, tmp_path, request.param)
    with connect(entry, name="crm") as db:
        db.execute("CREATE TABLE companies (id INTEGER PRIMARY KEY, name VARCHAR(50))")
        db.execute("INSERT INTO companies VALUES (?, ?)", (1, "Kunde GmbH"))
        db.commit()
    return entry


def changed(entry: dict[str, Any]) -> dict[str, str]:
    with connect(entry, name="crm") as db:
        db.execute("UPDATE companies SET name = ? WHERE id = ?", ("changed", 1))
        db.commit()
        return table_checksums(db)


def run_for(entry: dict[str, Any], production: bool, named: bool) -> Any:
    inventory = SimpleNamespace(
        source={}, products={}, databases={"crm": {**entry, "production": production}}, timezone="UTC"
    )
    return new_run({"crm": entry}, inventory=inventory, gatekeeper=Answers(named))


def test_a_blanket_answer_does_not_restore_production(target: dict[str, Any], conn: Any) -> None:
    run = run_for(target, production=True, named=False)
    assert not run_db_module("db_backup", {"db": "crm"}, run, conn).failed
    after_change = changed(target)

    refused = run_db_module("db_restore", {"db": "crm"}, run, conn)

    assert refused.failed and "restore-production-crm needs its own approval" in refused.msg
    assert run.gatekeeper.asked == ["restore-production-crm"]
    with connect(target, name="crm") as db:
        assert table_checksums(db) == after_change  # nothing restored


def test_the_named_gate_restores_production_and_is_recorded(target: dict[str, Any], conn: Any) -> None:
    run = run_for(target, production=True, named=True)
    assert not run_db_module("db_backup", {"db": "crm"}, run, conn).failed
    changed(target)

    restored = run_db_module("db_restore", {"db": "crm"}, run, conn)

    assert not restored.failed, restored.msg
    assert restored.output["gate"]["id"] == "restore-production-crm" and restored.output["gate"]["approved"]
    with connect(target, name="crm") as db:
        assert db.value("SELECT name FROM companies WHERE id = ?", (1,)) == "Kunde GmbH"
