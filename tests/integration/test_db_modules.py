"""db_query, db_exec, db_schema_objects, db_maintenance and data_loss_estimate on real servers."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from engine.db import connect
from tests.support.dbservers import (  # noqa: F401
    fresh_target,
    mariadb_server,
    new_run,
    postgres_server,
    run_db_module,
)
from tests.support.modharness import local_connection

STAMP = {"mariadb": "DATETIME", "postgresql": "TIMESTAMP", "sqlite": "TIMESTAMP"}


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"])
def entry(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    target = fresh_target(request, tmp_path, request.param)
    stamp = STAMP[request.param]
    with connect(target, name="crm") as db:
        db.execute(
            f"CREATE TABLE companies (id INTEGER PRIMARY KEY, name VARCHAR(50), date_modified {stamp})"
        )
        q = db.dialect.quote_ident  # Sage CRM's mixed-case names, kept as they are
        db.execute(
            f"CREATE TABLE {q('Company')} ({q('Comp_CompanyId')} INTEGER, {q('Comp_UpdatedDate')} {stamp})"
        )
        db.execute("CREATE TABLE lookup (code VARCHAR(10))")
        for i in range(1, 11):
            db.execute(
                "INSERT INTO companies VALUES (?, ?, ?)", (i, f"c{i}", dt.datetime(2024, 5, 1, 10 + i))
            )
            db.execute(f"INSERT INTO {q('Company')} VALUES (?, ?)", (i, dt.datetime(2024, 4, 30, 23, i)))
        db.commit()
    return target


def run(entry: dict[str, Any], name: str, args: dict[str, Any], check: bool = False, **more: Any) -> Any:
    return run_db_module(name, {"db": "crm", **args}, new_run({"crm": entry}, check_mode=check), **more)


def count(entry: dict[str, Any], sql: str = "SELECT COUNT(*) FROM companies") -> Any:
    with connect(entry, name="crm") as db:
        return db.value(sql)


# --- db_query / db_exec ----------------------------------------------------------------------------


def test_query_returns_rows_and_cannot_change_anything(entry: dict[str, Any]) -> None:
    rows = run(
        entry, "db_query", {"sql": "SELECT id, name FROM companies WHERE id <= ? ORDER BY id", "params": [3]}
    )
    assert not rows.failed and not rows.changed
    assert rows.output["rows"] == [{"id": 1, "name": "c1"}, {"id": 2, "name": "c2"}, {"id": 3, "name": "c3"}]
    limited = run(entry, "db_query", {"sql": "SELECT id FROM companies ORDER BY id", "max_rows": 4})
    assert limited.output["rowcount"] == 4 and limited.output["truncated"]
    in_check_mode = run(entry, "db_query", {"sql": "SELECT COUNT(*) AS n FROM companies"}, check=True)
    assert in_check_mode.output["rows"] == [{"n": 10}]

    refused = run(entry, "db_query", {"sql": "DELETE FROM companies"})
    assert refused.failed
    assert count(entry) == 10


def test_exec_changes_once_then_reports_ok(entry: dict[str, Any]) -> None:
    args = {"sql": "UPDATE companies SET name = ? WHERE name <> ?", "params": ["same", "same"]}
    skipped = run(entry, "db_exec", args, check=True)
    assert skipped.skipped and count(entry, "SELECT COUNT(*) FROM companies WHERE name = 'same'") == 0
    first = run(entry, "db_exec", args)
    assert first.changed and first.output["rowcount"] == 10
    second = run(entry, "db_exec", args)
    assert not second.failed and not second.changed and second.output["rowcount"] == 0


def test_exec_rolls_back_every_statement_when_one_fails(entry: dict[str, Any]) -> None:
    failed = run(entry, "db_exec", {"sql": ["DELETE FROM companies", "INSERT INTO no_such_table VALUES (1)"]})
    assert failed.failed and "no_such_table" in failed.msg
    assert count(entry) == 10


# --- db_schema_objects -----------------------------------------------------------------------------


def test_schema_objects_finds_dta_indexes_by_literal_underscore_and_drops_them(entry: dict[str, Any]) -> None:
    with connect(entry, name="crm") as db:
        db.execute("CREATE INDEX _dta_index_companies_5 ON companies (name)")
        db.execute("CREATE INDEX xdta_index_keep ON companies (date_modified)")  # `_` is not a wildcard
        db.execute("CREATE VIEW v_custom AS SELECT id, name FROM companies WHERE id > 5")
        db.commit()
    listed = run(entry, "db_schema_objects", {"pattern": "_dta_index*"})
    assert [o["name"] for o in listed.output["objects"]["indexes"]] == ["_dta_index_companies_5"]
    assert "name" in listed.output["objects"]["indexes"][0]["definition"]
    views = run(entry, "db_schema_objects", {"kinds": ["views"], "pattern": "v_*"})
    [view] = views.output["objects"]["views"]
    assert view["name"] == "v_custom" and "5" in view["definition"]
    tables = run(entry, "db_schema_objects", {"kinds": ["tables"], "pattern": "companies"})
    assert "date_modified" in tables.output["objects"]["tables"][0]["definition"]

    predicted = run(
        entry, "db_schema_objects", {"pattern": "_dta_*", "drop": True, "kinds": ["indexes"]}, check=True
    )
    assert predicted.changed and predicted.output["would_drop"] == ["_dta_index_companies_5"]
    dropped = run(entry, "db_schema_objects", {"pattern": "_dta_*", "drop": True, "kinds": ["indexes"]})
    assert dropped.changed and dropped.output["dropped"] == ["_dta_index_companies_5"]
    assert dropped.findings[0].category == "dta_object" and dropped.findings[0].detail["definition"]
    again = run(entry, "db_schema_objects", {"pattern": "_dta_*", "drop": True, "kinds": ["indexes"]})
    assert not again.changed and again.output["count"] == 0
    kept = run(entry, "db_schema_objects", {"kinds": ["indexes"], "pattern": "xdta*"})
    assert kept.output["count"] == 1


def test_schema_objects_refuses_what_the_dialect_lacks_and_never_drops_tables(entry: dict[str, Any]) -> None:
    stats = run(entry, "db_schema_objects", {"kinds": ["statistics"]})
    assert stats.failed and f"listing statistics is unsupported on {entry['dialect']}" in stats.msg
    tables = run(entry, "db_schema_objects", {"kinds": ["tables"], "pattern": "lookup", "drop": True})
    assert tables.failed and "never drops tables" in tables.msg
    assert count(entry, "SELECT COUNT(*) FROM lookup") == 0  # still there (the query works)


# --- db_maintenance --------------------------------------------------------------------------------

MAINTENANCE = {
    "mariadb": ["checkdb", "rebuild_indexes", "update_statistics"],
    "postgresql": ["rebuild_indexes", "update_statistics", "shrink"],
    "sqlite": ["checkdb", "rebuild_indexes", "update_statistics", "shrink"],
}


def test_maintenance_runs_the_dialects_tasks_and_refuses_others(entry: dict[str, Any]) -> None:
    tasks = MAINTENANCE[entry["dialect"]]
    predicted = run(entry, "db_maintenance", {"tasks": tasks}, check=True)
    assert predicted.changed and predicted.msg.startswith("would run")
    done = run(entry, "db_maintenance", {"tasks": tasks})
    assert not done.failed, done.msg
    assert list(done.output["tasks"]) == tasks
    assert bool(done.findings) == ("shrink" in tasks)
    refused = run(entry, "db_maintenance", {"tasks": ["update_statistics", "backup_log"]})
    assert refused.failed and f"backup_log is unsupported on {entry['dialect']}" in refused.msg


def test_maintenance_cleanup_removes_only_old_backups_of_this_database(entry: dict[str, Any]) -> None:
    backups = Path(entry["backup_dir"])
    backups.mkdir(parents=True)
    prefix = "crm.sqlite" if entry["dialect"] == "sqlite" else entry["database"]
    old, other = backups / f"{prefix}-full-20200101T000000Z-aaaaaa.bak", backups / "otherdb-full-2020.bak"
    for path in (old, other):
        path.write_text("old")
        stamp = (dt.datetime.now() - dt.timedelta(days=30)).timestamp()
        os.utime(path, (stamp, stamp))
    with local_connection() as conn:
        done = run(
            entry,
            "db_maintenance",
            {"tasks": ["backup_full", "cleanup"], "older_than": "7d"},
            connection=conn,
        )
    assert not done.failed, done.msg
    assert done.output["tasks"]["cleanup"]["removed"] == [str(old)]
    [artifact] = done.artifacts
    assert artifact.verified and Path(artifact.location).exists() and other.exists() and not old.exists()


# --- data_loss_estimate ----------------------------------------------------------------------------


def test_data_loss_counts_rows_changed_since_a_moment(entry: dict[str, Any]) -> None:
    result = run(entry, "data_loss_estimate", {"since": "2024-05-01T15:30:00"})
    assert not result.failed, result.msg
    tables = result.output["tables"]
    assert tables["companies" if entry["dialect"] != "postgresql" else "public.companies"] == {
        "column": "date_modified",
        "rows": 5,  # 16:00 .. 20:00
    }
    assert result.output["total_rows"] == 5
    assert any(t.endswith("lookup") for t in result.output["tables_without_column"])
    assert result.findings[0].category == "data_loss" and result.findings[0].severity == "warning"

    sage = run(entry, "data_loss_estimate", {"since": "2024-04-30T23:05:00", "columns": ["*_updateddate"]})
    assert sage.output["total_rows"] == 6  # Comp_UpdatedDate 23:05 .. 23:10; companies has no such column

    aware = run(entry, "data_loss_estimate", {"since": "2024-05-01T18:30:00+02:00", "timezone": "UTC"})
    assert aware.output["since"] == "2024-05-01 16:30:00" and aware.output["total_rows"] == 4

    nothing = run(entry, "data_loss_estimate", {"since": "2030-01-01"})
    assert nothing.output["total_rows"] == 0 and nothing.findings[0].severity == "info"

    no_backup = run(entry, "data_loss_estimate", {})
    assert no_backup.failed and "no verified backup" in no_backup.msg
