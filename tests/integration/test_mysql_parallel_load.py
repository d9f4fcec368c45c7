"""A MariaDB dump loaded through several client connections at once (engine/db/mysql_load.py).

Against a real MariaDB server (tests/support/dbservers.py) and the real `mariadb-dump` and
`mariadb` tools: a database with foreign keys, BLOBs, a trigger, a view, a routine and an event
is dumped and loaded in parallel into another database, and must come back exactly (every
table's checksum; the trigger, view, routine and event in place; the trigger not fired by the
load). What each client connection was given is seen through a recording client: a small
script that keeps its stdin and then hands it to the real `mariadb`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.db import connect, dumps, table_checksums, target_from
from engine.db.errors import DbError
from engine.db.files import LocalFiles
from tests.support.dbservers import DbServer, mariadb_server  # noqa: F401 - fixture

LOADER = Path(dumps.__file__).with_name("mysql_load.py")

SCHEMA = [
    "CREATE TABLE companies (id INT PRIMARY KEY, name VARCHAR(80), logo BLOB, KEY idx_name (name))",
    "CREATE TABLE contacts (id INT PRIMARY KEY, company_id INT, email VARCHAR(120), "
    "FOREIGN KEY (company_id) REFERENCES companies (id))",
    "CREATE TABLE notes (id INT PRIMARY KEY, contact_id INT, body TEXT)",
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40))",
    "CREATE TRIGGER notes_audit AFTER INSERT ON notes FOR EACH ROW INSERT INTO audit (what) VALUES ('note')",
    "CREATE VIEW company_contacts AS SELECT c.name, k.email FROM companies c JOIN contacts k ON k.company_id = c.id",
    "CREATE PROCEDURE count_notes() SELECT COUNT(*) FROM notes",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0",
]


@pytest.fixture
def source(mariadb_server: DbServer) -> dict[str, Any]:  # noqa: F811
    server = mariadb_server
    name = server.create_database()
    with connect(server.target(name), name="src", autocommit=True) as db:
        for statement in SCHEMA:
            db.execute(statement)
        for i in range(1, 301):
            db.execute("INSERT INTO companies VALUES (?, ?, ?)", (i, f"Firma {i}", os.urandom(2000)))
            db.execute("INSERT INTO contacts VALUES (?, ?, ?)", (i, i, f"k{i}@example.test"))
        for i in range(1, 501):
            db.execute("INSERT INTO notes VALUES (?, ?, ?)", (i, 1 + i % 300, "Notiz " * 50))
    return server.target(name, socket=server.socket)


def dump_of(entry: dict[str, Any], folder: Path, *extra: str) -> Path:
    path = folder / "dump.sql"
    if extra:  # a dump made differently from dumps.dump (the operator's own options)
        subprocess.run(["mariadb-dump", f"--socket={entry['socket']}", "-u", "root", *extra,
                        f"--result-file={path}", "--", entry["database"]], check=True)  # fmt: skip
    else:
        dumps.dump(LocalFiles(), target_from("src", entry), entry["database"], str(path))
    return path


def recording_client(folder: Path) -> list[str]:
    """argv of a client that saves what it is given (one file per connection) and passes it on."""
    script = folder / "record.sh"
    script.write_text('#!/bin/sh\nf=$(mktemp "$REC/conn.XXXXXX")\ntee "$f" | exec "$@"\n')
    script.chmod(0o755)
    (folder / "rec").mkdir()
    return [str(script)]


def run_loader(
    dump: Path, workers: int, client: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LOADER), str(dump), str(workers), *client], capture_output=True,
                          text=True, env={**os.environ, **env})  # fmt: skip


def mariadb_client(server: DbServer, database: str) -> list[str]:
    return [
        shutil.which("mariadb") or "mariadb",
        f"--socket={server.socket}",
        "-u",
        "root",
        f"--database={database}",
    ]


@pytest.fixture
def dumped(source: dict[str, Any], mariadb_server: DbServer, tmp_path: Path) -> tuple[Path, str]:  # noqa: F811
    """(the source's dump made by dumps.dump, a new empty database to load it into)."""
    return dump_of(source, tmp_path), mariadb_server.create_database()


def assert_same_tables(server: DbServer, original: str, copy: str) -> None:
    """Every table of `copy` holds exactly the rows of `original` (the engine's own checksums)."""
    with connect(server.target(original), name="a") as a, connect(server.target(copy), name="b") as b:
        assert table_checksums(b) == table_checksums(a)


def test_a_dump_comes_back_exactly_through_parallel_connections(
    source: dict[str, Any],
    dumped: tuple[Path, str],
    mariadb_server: DbServer,  # noqa: F811
) -> None:
    dump, copy = dumped
    target = target_from("copy", mariadb_server.target(copy, socket=mariadb_server.socket))

    dumps.load_dump(LocalFiles(), target, copy, str(dump))  # LocalFiles: the controller's Python loads

    assert_same_tables(
        mariadb_server, source["database"], copy
    )  # audit too: the trigger did not fire on load
    with connect(target, name="b") as b:
        assert b.value("SELECT COUNT(*) FROM company_contacts") == 300
        assert b.value("SELECT COUNT(*) FROM audit") == 500
    rows = mariadb_server.admin(
        "SELECT (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = ?),"
        " (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = ?),"
        " (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = ?)",
        copy, copy, copy,
    )  # fmt: skip
    assert rows == [(1, 1, 1)]


def test_each_connection_gets_the_session_header_and_whole_tables(
    source: dict[str, Any],
    dumped: tuple[Path, str],
    mariadb_server: DbServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    dump, copy = dumped
    client = recording_client(tmp_path) + mariadb_client(mariadb_server, copy)

    done = run_loader(dump, 2, client, {"REC": str(tmp_path / "rec")})

    assert done.returncode == 0, done.stderr
    fed = [p.read_bytes() for p in (tmp_path / "rec").iterdir()]
    assert len(fed) == 3  # two table connections, then one for the tail
    tables = [
        {t for t in (b"companies", b"contacts", b"notes", b"audit") if b"CREATE TABLE `" + t + b"`" in f}
        for f in fed
    ]
    workers = [t for t in tables if t]
    assert len(workers) == 2 and not workers[0] & workers[1]
    assert workers[0] | workers[1] == {b"companies", b"contacts", b"notes", b"audit"}
    assert any({b"companies", b"contacts"} <= w for w in workers)  # tied by a foreign key: one connection
    for f in fed:
        assert b"FOREIGN_KEY_CHECKS=0" in f  # the header's session settings, on every connection
    tail = next(f for f, t in zip(fed, tables, strict=True) if not t)
    assert b"company_contacts" in tail and b"count_notes" in tail and b"TIME_ZONE=@OLD_TIME_ZONE" in tail
    assert sum(f.count(b"-- Dump completed") for f in fed) == 1
    assert_same_tables(mariadb_server, source["database"], copy)


def test_a_dump_of_several_databases_goes_to_one_connection_whole(
    source: dict[str, Any],
    mariadb_server: DbServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`--databases` puts CREATE DATABASE and USE in the header: not something to run once per connection."""
    dump = dump_of(source, tmp_path, "--databases")
    client = recording_client(tmp_path) + [
        shutil.which("mariadb") or "mariadb",
        f"--socket={mariadb_server.socket}",
        "-u",
        "root",
    ]

    done = run_loader(dump, 4, client, {"REC": str(tmp_path / "rec")})

    assert done.returncode == 0, done.stderr
    fed = [p.read_bytes() for p in (tmp_path / "rec").iterdir()]
    assert fed == [dump.read_bytes()]


def test_a_failing_section_fails_the_load_with_the_servers_words(
    dumped: tuple[Path, str],
    mariadb_server: DbServer,  # noqa: F811
) -> None:
    dump, copy = dumped
    text = dump.read_bytes().replace(b"INSERT INTO `notes` VALUES", b"INSERT INTO `notes` VALUEZ", 1)
    dump.write_bytes(text)
    target = target_from("copy", mariadb_server.target(copy, socket=mariadb_server.socket))

    with pytest.raises(DbError) as info:
        dumps.load_dump(LocalFiles(), target, copy, str(dump))

    assert "You have an error in your SQL syntax" in str(info.value)
    assert mariadb_server.admin(
        "SELECT COUNT(*) FROM information_schema.views WHERE table_schema = ?", copy
    ) == [(0,)]  # the tail (views) never ran


def test_a_client_that_is_not_installed_is_said_so(dumped: tuple[Path, str], tmp_path: Path) -> None:
    dump, _copy = dumped

    done = run_loader(dump, 2, ["no-such-mysql-client", "--database=x"], {})

    assert done.returncode == 127 and "no-such-mysql-client: not found" in done.stderr
    missing = run_loader(tmp_path / "gone.sql", 2, ["mariadb"], {})
    assert missing.returncode == 2 and "cannot read the dump" in missing.stderr
