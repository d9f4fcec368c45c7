"""Hostile database, table and pattern names against real servers: they stay names, never SQL.

A database literally called `x`; DROP DATABASE victim; --` is backed up, changed and restored
(its name goes through DROP/CREATE DATABASE, the dump tools' argv and libpq conninfo), and the
`victim` database next to it survives everything.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.db import DbError, InvalidIdentifier, connect, dialect_for, table_checksums, target_from
from engine.db.dumps import dump
from engine.db.errors import MASK, mask
from engine.db.files import LocalFiles
from engine.db.target import connection_string
from tests.support.dbservers import (  # noqa: F401
    APP_PASSWORD,
    DbServer,
    mariadb_server,
    new_run,
    postgres_server,
    run_db_module,
)
from tests.support.modharness import local_connection

HOSTILE_DB = {
    "mariadb": "x`; DROP DATABASE victim; -- '\"",
    # psqlODBC cannot receive ';' or braces in DATABASE: quotes, backslash and comment marks instead
    "postgresql": "x\" OR 1=1 -- DROP DATABASE victim \\ 'q'",
}


@pytest.fixture(params=["mariadb", "postgresql"])
def server(request: pytest.FixtureRequest) -> DbServer:
    return request.getfixturevalue("mariadb_server" if request.param == "mariadb" else "postgres_server")


def test_hostile_database_name_round_trips_and_victim_survives(server: DbServer, tmp_path: Any) -> None:
    victim = server.create_database("victim") if not server.database_exists("victim") else "victim"
    hostile = server.create_database(HOSTILE_DB[server.dialect])
    entry = server.target(hostile, backup_dir=str(tmp_path))
    with connect(entry, name="crm") as db:
        assert db.value("SELECT 1") == 1
        db.execute("CREATE TABLE t (id INTEGER, v VARCHAR(50))")
        db.execute("INSERT INTO t VALUES (?, ?)", (1, "'; DROP TABLE t; --"))
        db.commit()
        before = table_checksums(db)
    run = new_run({"crm": entry})
    with local_connection() as conn:
        backup = run_db_module("db_backup", {"db": "crm", "verify": "restore"}, run, conn)
        assert not backup.failed, backup.msg
        with connect(entry, name="crm") as db:
            db.execute("DELETE FROM t")
            db.commit()
        restored = run_db_module("db_restore", {"db": "crm"}, run, conn)
        assert not restored.failed, restored.msg
    with connect(entry, name="crm") as db:
        assert table_checksums(db) == before
        assert db.value("SELECT v FROM t") == "'; DROP TABLE t; --"
    assert server.database_exists(victim)


def test_hostile_patterns_and_values_are_bound(server: DbServer) -> None:
    entry = server.target(server.create_database())
    with connect(entry, name="crm") as db:
        db.execute("CREATE TABLE companies (id INTEGER, name VARCHAR(50))")
        db.execute("INSERT INTO companies VALUES (?, ?)", (1, "a"))
        db.commit()
    run = new_run({"crm": entry})
    hostile = "'; DROP TABLE companies; --"
    listed = run_db_module("db_schema_objects", {"db": "crm", "pattern": hostile, "drop": True}, run)
    assert not listed.failed and listed.output["count"] == 0 and not listed.changed
    queried = run_db_module("db_query", {"db": "crm", "sql": "SELECT ? AS v", "params": [hostile]}, run)
    assert queried.output["rows"] == [{"v": hostile}]
    with connect(entry, name="crm") as db:
        assert db.value("SELECT COUNT(*) FROM companies") == 1


def test_identifiers_are_quoted_or_refused() -> None:
    assert dialect_for("mssql").quote_ident("a]b") == "[a]]b]"
    assert dialect_for("mariadb").quote_ident("a`b") == "`a``b`"
    assert dialect_for("postgresql").quote_ident('a"b') == '"a""b"'
    assert dialect_for("mssql").qualified("dbo", "x]; DROP TABLE y; --") == "[dbo].[x]]; DROP TABLE y; --]"
    for bad in ("", "a\x00b", "tab\tname", "x" * 200, None, 5):
        with pytest.raises(InvalidIdentifier):
            dialect_for("mssql").quote_ident(bad)
    with pytest.raises(InvalidIdentifier):
        dialect_for("postgresql").quote_ident("x" * 64)
    with pytest.raises(InvalidIdentifier, match="would read as an option"):
        dump(
            LocalFiles(), target_from("t", {"dialect": "mariadb", "server": "h"}), "--all-databases", "/tmp/x"
        )


def test_connection_strings_escape_values_and_errors_never_show_the_password(server: DbServer) -> None:
    entry = server.target("postgres" if server.dialect == "postgresql" else "mysql")
    text = connection_string(target_from("crm", entry))
    assert "PWD={Pw;{x}}= 1}" in text  # braced, inner } doubled
    with connect(entry, name="crm") as db:  # and the server accepted exactly that password
        assert db.value("SELECT 1") == 1

    wrong = {**entry, "password": APP_PASSWORD + "};x"}
    with pytest.raises(DbError) as raised:
        connect(wrong, name="crm")
    assert APP_PASSWORD not in str(raised.value) and "crm" in str(raised.value)
    assert mask(f"login failed for PWD={{{wrong['password'].replace('}', '}}')}}}", [wrong["password"]]) == (
        f"login failed for PWD={{{MASK}}}"
    )


def test_values_the_driver_cannot_receive_are_refused() -> None:
    with pytest.raises(DbError, match="cannot receive"):
        connection_string(target_from("t", {"dialect": "postgresql", "server": "h", "database": "a;b"}))
    with pytest.raises(DbError, match="NUL"):
        connection_string(target_from("t", {"dialect": "mariadb", "server": "h", "password": "a\x00"}))
    with pytest.raises(DbError, match="not a valid ODBC keyword"):
        target_from("t", {"dialect": "mssql", "server": "h", "options": {"PWD=x;UID": "y"}})
