"""Backup -> change -> restore through the modules, against real MariaDB, PostgreSQL and SQLite.

Dumps run through the real LocalConnection (`process.run`, `file.hash` of the POSIX helper), the
data goes through pyodbc, and "restored" means every table's checksum equals the one taken
before the backup, and a table created after the backup is gone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.db import connect, table_checksums, target_from
from engine.db.errors import BackupInvalid
from engine.db.files import LocalFiles
from engine.db.operations import verify_backup
from tests.support.dbservers import (  # noqa: F401 - fixtures
    backed_up,
    fresh_target,
    mariadb_server,
    new_run,
    postgres_server,
    run_db_module,
    server_for,
)
from tests.support.modharness import local_connection

HOSTILE_TABLE = 'we"ird`]; DROP TABLE companies; --'
TYPES = {
    "mariadb": ("DECIMAL(12,2)", "DATETIME", "BLOB"),
    "postgresql": ("NUMERIC(12,2)", "TIMESTAMP", "BYTEA"),
    "sqlite": ("NUMERIC", "TIMESTAMP", "BLOB"),
}


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    """The real LocalConnection: dump tools and file hashes go through its POSIX helper."""
    with local_connection() as c:
        yield c


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A fresh database with data, as an inventory entry, for each dialect."""
    entry = fresh_target(request, tmp_path, request.param)
    fill(entry)
    return entry


def fill(entry: dict[str, Any]) -> None:
    money, stamp, blob = TYPES[entry["dialect"]]
    with connect(entry, name="crm") as db:
        q = db.dialect.quote_ident
        db.execute(
            f"CREATE TABLE companies (id INTEGER PRIMARY KEY, name VARCHAR(100), amount {money}, "
            f"date_modified {stamp}, logo {blob})"
        )
        db.execute(f"CREATE TABLE {q(HOSTILE_TABLE)} (k VARCHAR(100))")
        rows = [
            (
                i,
                f"Société {i} ; 'quoted'",
                Decimal(f"{i}.25"),
                dt.datetime(2024, 5, 1, 12, i % 60),
                bytes([i % 256]) * 3,
            )
            for i in range(1, 41)
        ]
        for row in rows:
            db.execute("INSERT INTO companies VALUES (?, ?, ?, ?, ?)", row)
        db.execute(f"INSERT INTO {q(HOSTILE_TABLE)} VALUES (?)", ("x'); DROP TABLE companies; --",))
        db.commit()


def checksums(entry: dict[str, Any]) -> dict[str, str]:
    with connect(entry, name="crm") as db:
        return table_checksums(db)


def mess_up(entry: dict[str, Any]) -> None:
    with connect(entry, name="crm") as db:
        db.execute("UPDATE companies SET name = ? WHERE id < ?", ("changed", 10))
        db.execute("DELETE FROM companies WHERE id > ?", (30,))
        db.execute("CREATE TABLE added_after_backup (id INTEGER)")
        db.commit()


def test_backup_change_restore_brings_back_identical_data(target: dict[str, Any], conn: Any) -> None:
    before = checksums(target)
    assert (
        len(before) == 2 and before["companies" if target["dialect"] != "postgresql" else "public.companies"]
    )
    run = new_run({"crm": target})

    backup = run_db_module("db_backup", {"db": "crm"}, run, conn)
    assert not backup.failed, backup.msg
    assert backup.changed
    [artifact] = run.artifacts_for("db:crm")
    assert artifact.kind == "db_backup" and artifact.verified
    assert artifact.sha256 == hashlib.sha256(Path(artifact.location).read_bytes()).hexdigest()
    assert artifact.size == os.path.getsize(artifact.location)
    assert artifact.meta["dialect"] == target["dialect"] and artifact.meta["verify"]

    mess_up(target)
    assert checksums(target) != before

    restored = run_db_module("db_restore", {"db": "crm"}, run, conn)
    assert not restored.failed, restored.msg
    assert restored.changed and restored.output["backup"] == artifact.location
    assert checksums(target) == before  # also: the table created after the backup is gone


def test_restore_refused_without_a_verified_backup(target: dict[str, Any], conn: Any, tmp_path: Path) -> None:
    before = checksums(target)
    run = new_run({"crm": target})
    refused = run_db_module("db_restore", {"db": "crm"}, run, conn)
    assert (
        refused.failed
        and "refusing to restore crm" in refused.msg
        and "no recorded verified backup" in refused.msg
    )

    # a file that exists but was never recorded as a verified backup is refused as well
    stray = tmp_path / "stray.bak"
    stray.write_bytes(b"not a backup")
    named = run_db_module("db_restore", {"db": "crm", "backup": str(stray)}, run, conn)
    assert named.failed and "is not a recorded verified backup" in named.msg
    assert checksums(target) == before


def test_restore_refused_when_backup_changed_after_verification(target: dict[str, Any], conn: Any) -> None:
    run, location = backed_up(target, conn)
    with open(location, "r+b") as f:  # flip one byte in the middle
        f.seek(os.path.getsize(location) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    mess_up(target)
    after_mess = checksums(target)
    refused = run_db_module("db_restore", {"db": "crm"}, run, conn)
    assert refused.failed and "changed since it was verified" in refused.msg
    assert checksums(target) == after_mess


def test_truncated_backup_fails_verification(target: dict[str, Any], conn: Any) -> None:
    _, location = backed_up(target, conn)
    verify_backup(target_from("crm", target), LocalFiles(), location)  # intact: passes
    with open(location, "r+b") as f:
        f.truncate(os.path.getsize(location) * 2 // 3)
    with pytest.raises(BackupInvalid):
        verify_backup(target_from("crm", target), LocalFiles(), location)


def test_check_mode_backs_up_nothing(target: dict[str, Any], conn: Any) -> None:
    run = new_run({"crm": target}, check_mode=True)
    result = run_db_module("db_backup", {"db": "crm"}, run, conn)
    assert result.changed and result.msg.startswith("would back up")
    assert not result.artifacts and not Path(target["backup_dir"]).exists()


def test_backup_with_test_restore_drops_its_scratch_database(
    target: dict[str, Any], conn: Any, request: pytest.FixtureRequest
) -> None:
    run = new_run({"crm": target})
    result = run_db_module("db_backup", {"db": "crm", "verify": "restore"}, run, conn)
    assert not result.failed, result.msg
    assert result.output["verify"].endswith("+ test restore")
    if target["dialect"] != "sqlite":
        names = server_for(request, target["dialect"]).admin(
            "SELECT schema_name FROM information_schema.schemata"
            if target["dialect"] == "mariadb"
            else "SELECT datname FROM pg_database"
        )
        assert not [n for (n,) in names if "_verify_" in n]


def test_restore_picks_the_first_backup_unless_told_otherwise(target: dict[str, Any], conn: Any) -> None:
    original = checksums(target)
    run, first = backed_up(target, conn)
    mess_up(target)
    changed = checksums(target)
    second = run_db_module("db_backup", {"db": "crm"}, run, conn)  # e.g. "backups after" the upgrade
    assert not second.failed, second.msg

    predicted = run_db_module("db_restore", {"db": "crm"}, new_run({"crm": target}, check_mode=True), conn)
    assert predicted.changed and predicted.msg.startswith("would restore") and checksums(target) == changed

    latest = run_db_module("db_restore", {"db": "crm", "select": "latest"}, run, conn)
    assert latest.output["backup"] == second.output["location"] and checksums(target) == changed
    restored = run_db_module("db_restore", {"db": "crm"}, run, conn)
    assert restored.output["backup"] == first and checksums(target) == original


def test_operator_override_restores_an_unrecorded_file_with_a_warning(
    target: dict[str, Any], conn: Any
) -> None:
    original = checksums(target)
    _, location = backed_up(target, conn)  # recorded in another run: unknown to this one
    mess_up(target)
    run = new_run({"crm": target}, allow_unprotected=True)
    result = run_db_module("db_restore", {"db": "crm", "backup": location}, run, conn)
    assert not result.failed, result.msg
    assert [f.category for f in result.findings] == ["unprotected"]
    assert checksums(target) == original
