"""db_sessions against real servers: sessions counted per client host, waiting for hosts to leave.

Two kinds of client address exist on one machine: TCP from 127.0.0.1 and the Unix socket
(MariaDB calls it `localhost`, PostgreSQL has no client address: `local`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from engine.db import connect
from tests.support.dbservers import DbServer, mariadb_server, new_run, postgres_server, run_db_module  # noqa: F401

SOCKET_HOST = {"mariadb": "localhost", "postgresql": "local"}


@pytest.fixture(params=["mariadb", "postgresql"])
def server(request: pytest.FixtureRequest) -> DbServer:
    return request.getfixturevalue("mariadb_server" if request.param == "mariadb" else "postgres_server")


def socket_entry(server: DbServer, database: str) -> dict[str, Any]:
    """The same login over the Unix socket (psqlODBC takes the socket directory as SERVER)."""
    if server.dialect == "mariadb":
        entry = server.target(database, socket=server.socket)
        del entry["server"]
        return entry
    return server.target(database, server=server.socket)


@contextlib.contextmanager
def clients(*entries: dict[str, Any]) -> Iterator[None]:
    opened = [connect(e, name="client") for e in entries]
    try:
        for db in opened:
            db.value("SELECT 1")
        yield
    finally:
        for db in opened:
            db.close()


def test_sessions_are_counted_per_client_host(server: DbServer) -> None:
    name = server.create_database()
    tcp, sock = server.target(name), socket_entry(server, name)
    run = new_run({"crm": tcp})
    with clients(tcp, tcp, sock):
        result = run_db_module("db_sessions", {"db": "crm"}, run)
    assert not result.failed, result.msg
    assert result.output["sessions"] == {"127.0.0.1": 2, SOCKET_HOST[server.dialect]: 1}
    assert result.output["total"] == 3
    assert not result.changed

    after = run_db_module("db_sessions", {"db": "crm"}, run)
    assert after.output["sessions"] == {}  # our own connection is never counted


def test_wait_until_only_fails_naming_who_is_still_connected(server: DbServer) -> None:
    name = server.create_database()
    tcp, sock = server.target(name), socket_entry(server, name)
    run = new_run({"crm": tcp})
    args = {"db": "crm", "wait_until_only": ["127.0.0.1"], "timeout": 0.3, "interval": 0.1}
    with clients(tcp, sock, sock):
        refused = run_db_module("db_sessions", args, run)
        assert refused.failed
        assert f"{SOCKET_HOST[server.dialect]} (2)" in refused.msg
        assert "127.0.0.1" not in refused.msg

        check_run = new_run({"crm": tcp}, check_mode=True)
        predicted = run_db_module("db_sessions", args, check_run)
        assert not predicted.failed and predicted.msg.startswith("would wait for")

    with clients(tcp):
        allowed = run_db_module("db_sessions", args, run)
    assert not allowed.failed, allowed.msg
    assert allowed.output["others"] == {}
    assert allowed.output["sessions"] == {"127.0.0.1": 1}


def test_unknown_target_is_named_with_a_hint() -> None:
    run = new_run({"crm_live": {"dialect": "sqlite", "path": "/nonexistent"}})
    result = run_db_module("db_sessions", {"db": "crm_lve"}, run)
    assert result.failed and "unknown database target 'crm_lve'" in result.msg and "crm_live" in result.msg


def test_host_names_match_short_and_qualified() -> None:
    from modules.db.db_sessions import host_matches

    assert host_matches("WEB1", ["web1.example.local"])
    assert host_matches("web1.example.local", ["WEB1"])
    assert not host_matches("web10", ["web1"])
    assert not host_matches("127.0.0.2", ["127.0.0.1"])
    assert host_matches("127.0.0.1", ["127.0.0.1"])
