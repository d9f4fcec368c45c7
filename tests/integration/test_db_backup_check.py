"""backup_check: last night's backup, taken by someone else, found, aged, read and verified.

The 1CRM case: a hoster's `mysqldump | gzip` file in a directory. It must be found by pattern,
be younger than max_age, pass verification, and once recorded allow a db_restore from it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.db import connect, table_checksums
from tests.support.dbservers import (  # noqa: F401
    backed_up,
    fresh_target,
    mariadb_server,
    new_run,
    postgres_server,
    run_db_module,
)
from tests.support.modharness import local_connection


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    with local_connection() as c:
        yield c


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"])
def entry(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    target = fresh_target(request, tmp_path, request.param)
    with connect(target, name="crm") as db:
        db.execute("CREATE TABLE accounts (id INTEGER, name VARCHAR(40))")
        for i in range(25):
            db.execute("INSERT INTO accounts VALUES (?, ?)", (i, f"account {i}"))
        db.commit()
    return target


def nightly_backup(entry: dict[str, Any], conn: Any, hours_ago: float, tmp_path: Path) -> Path:
    """A backup file in a hoster's directory, dated `hours_ago` (taken with db_backup elsewhere)."""
    _, location = backed_up(entry, conn)
    nightly = tmp_path / "nightly"
    nightly.mkdir(exist_ok=True)
    source = Path(location)
    if entry["dialect"] == "mariadb":
        dest = nightly / "crm-nightly.sql.gz"
        with open(source, "rb") as src, gzip.open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        dest = nightly / f"crm-nightly{source.suffix}"
        shutil.copy(source, dest)
    stamp = time.time() - hours_ago * 3600
    os.utime(dest, (stamp, stamp))
    return dest


def test_recent_sound_backup_is_recorded_and_restorable(
    entry: dict[str, Any], conn: Any, tmp_path: Path
) -> None:
    path = nightly_backup(entry, conn, hours_ago=9, tmp_path=tmp_path)
    with connect(entry, name="crm") as db:
        before = table_checksums(db)
        db.execute("DELETE FROM accounts WHERE id > ?", (3,))
        db.commit()

    run = new_run({"crm": entry})
    checked = run_db_module(
        "backup_check", {"db": "crm", "path": str(path.parent / "crm-*"), "max_age": "24h"}, run, conn
    )
    assert not checked.failed, checked.msg
    assert checked.output["location"] == str(path) and checked.output["verified"]
    assert 8.9 * 3600 < checked.output["age_seconds"] < 9.2 * 3600
    [artifact] = run.artifacts_for("db:crm")
    assert artifact.meta["source"] == "backup_check" and artifact.verified

    restored = run_db_module("db_restore", {"db": "crm"}, run, conn)
    assert not restored.failed, restored.msg
    with connect(entry, name="crm") as db:
        assert table_checksums(db) == before


def test_too_old_backup_fails(entry: dict[str, Any], conn: Any, tmp_path: Path) -> None:
    path = nightly_backup(entry, conn, hours_ago=30, tmp_path=tmp_path)
    run = new_run({"crm": entry})
    old = run_db_module(
        "backup_check", {"db": "crm", "path": str(path.parent / "*"), "max_age": "1d"}, run, conn
    )
    assert old.failed and "30.0 h old" in old.msg and not run.artifacts


def test_truncated_backup_fails_and_is_not_recorded(entry: dict[str, Any], conn: Any, tmp_path: Path) -> None:
    path = nightly_backup(entry, conn, hours_ago=2, tmp_path=tmp_path)
    stamp = path.stat().st_mtime
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size * 2 // 3)
    os.utime(path, (stamp, stamp))
    run = new_run({"crm": entry})
    bad = run_db_module("backup_check", {"db": "crm", "path": str(path), "max_age": "1d"}, run, conn)
    assert bad.failed and not run.artifacts


def test_missing_backup_and_history_elsewhere_than_sql_server(
    entry: dict[str, Any], conn: Any, tmp_path: Path
) -> None:
    run = new_run({"crm": entry})
    none = run_db_module(
        "backup_check", {"db": "crm", "path": str(tmp_path / "nothing-*"), "max_age": 60}, run, conn
    )
    assert none.failed and "no backup of crm matches" in none.msg
    history = run_db_module("backup_check", {"db": "crm", "history": True, "max_age": 60}, run, conn)
    assert history.failed and f"backup history is unsupported on {entry['dialect']}" in history.msg
