"""The guide's 20-company data-integrity sample on every database kind (issue 16, item 11).

"Terminer l'échantillonnage aléatoire de 20 enregistrements de sociétés" (sagecrm-upgrade-guide-fr.txt,
chapter 12): the sample is random but seeded (the seed is recorded, the same seed chooses the same
companies again), taken when the backup is taken, and compared after the change on SQLite and on
the real MariaDB and PostgreSQL servers of tests/support/dbservers.py (a missing server is a
failure under CUTOVER_REQUIRE_SERVERS=1); SQL Server through the golden tests' recording
connection (no SQL Server runs here), its statements held to T-SQL's grammar.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import engine.db.database as database_module
from engine.db import connect
from engine.db.sample import compare_sample, take_sample
from tests.support.dbservers import fresh_target, mariadb_server, postgres_server  # noqa: F401 - fixtures
from tests.unit.test_db_mssql_golden import RecordingConnection, Script
from tests.unit.test_mssql_documented import parses_as_tsql

COLUMNS = ("Comp_Name", "Comp_Type", "Comp_Status", "Comp_WebSite")
COMPANIES = {i: (f"Société {i} ; 'x'", "Customer", "Active", f"https://c{i}.example") for i in range(1, 51)}


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A fresh database with Sage CRM's Company table and 50 companies."""
    entry = fresh_target(request, tmp_path, request.param)
    with connect(entry, name="crm") as db:
        q = db.dialect.quote_ident
        cols = ", ".join(f"{q(c)} VARCHAR(100)" for c in COLUMNS)
        db.execute(f"CREATE TABLE {q('Company')} ({q('Comp_CompanyId')} INTEGER PRIMARY KEY, {cols})")
        marks = ", ".join("?" for _ in range(len(COLUMNS) + 1))
        for key, row in COMPANIES.items():
            db.execute(f"INSERT INTO {q('Company')} VALUES ({marks})", (key, *row))
        db.commit()
    return entry


def sample(entry: dict[str, Any], seed: int) -> dict[str, Any]:
    with connect(entry, name="crm") as db:
        return take_sample(db, "Company", "Comp_CompanyId", COLUMNS, seed)


def test_sample_is_seeded_and_finds_changed_rows(crm: dict[str, Any]) -> None:
    first = sample(crm, 20261204)
    assert first["seed"] == 20261204 and len(first["rows"]) == 20
    assert sample(crm, 20261204)["rows"] == first["rows"]  # the same seed chooses the same companies
    assert set(sample(crm, 7)["rows"]) != set(first["rows"])
    assert json.loads(json.dumps(first)) == first  # what the journal's artifact file holds
    chosen = sorted(int(k) for k in first["rows"])
    outside = next(k for k in COMPANIES if k not in chosen)
    with connect(crm, name="crm") as db:
        assert compare_sample(db, first) == []
        q = db.dialect.quote_ident
        db.execute(
            f"UPDATE {q('Company')} SET {q('Comp_Name')} = ? WHERE {q('Comp_CompanyId')} = ?",
            ("x", chosen[3]),
        )
        db.execute(f"DELETE FROM {q('Company')} WHERE {q('Comp_CompanyId')} = ?", (chosen[-1],))
        db.execute(
            f"UPDATE {q('Company')} SET {q('Comp_Name')} = ? WHERE {q('Comp_CompanyId')} = ?", ("y", outside)
        )
        db.commit()
        assert compare_sample(db, first) == [str(chosen[3]), str(chosen[-1])]


def test_sample_on_sql_server_binds_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script()
    table = dict(COMPANIES)

    def by_key(sql: str, params: tuple[Any, ...]) -> Any:
        return [[(k, *table[k]) for k in params if k in table]]

    script.answers = [
        (r"^SELECT \[Comp_CompanyId\] FROM \[Company\] ORDER BY", [[(k,) for k in sorted(table)]], None),
        (r"WHERE \[Comp_CompanyId\] IN", by_key, None),
    ]
    monkeypatch.setattr(
        database_module,
        "odbc_connect",
        lambda text, autocommit, timeout: RecordingConnection(script, text, autocommit),
    )
    target = {"dialect": "mssql", "server": "sql1", "database": "CRM", "user": "sa", "password": "pw"}
    with connect(target, name="crm") as db:
        recorded = take_sample(db, "Company", "Comp_CompanyId", COLUMNS, 42)
        chosen = sorted(int(k) for k in recorded["rows"])
        table[chosen[0]] = ("changed", "Customer", "Active", "")
        assert compare_sample(db, recorded) == [str(chosen[0])]
    sent = [entry.split("\n")[0] for entry in script.log if entry.startswith("SELECT")]
    assert sent and all(parses_as_tsql(s) for s in sent)
    params = [json.loads(entry.split("-- params: ")[1]) for entry in script.log if entry.startswith("SELECT")]
    assert sorted(params[1]) == chosen  # the keys travel as bound parameters, never in the text
    assert not any(re.search(rf"\b{chosen[0]}\b", s) for s in sent)
