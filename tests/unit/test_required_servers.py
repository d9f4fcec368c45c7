"""A server the tests cannot have is a skip on a workstation and a failure in CI.

The switch is `CUTOVER_REQUIRE_SERVERS` (tests/support/required.py): `.ci/run` sets it to 1, and
`CI=true` alone means 1 too. Each fixture that starts a server is asked here with its program
made missing, so a fixture that quietly skipped in CI again would fail this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import dbservers, sshd
from tests.support.required import server_unavailable, servers_required

FAILED = pytest.fail.Exception
SKIPPED = pytest.skip.Exception


@pytest.mark.parametrize(
    ("switch", "ci", "required"),
    [
        ("1", None, True),
        ("0", None, False),
        (None, None, False),
        (None, "true", True),
        ("0", "true", False),
    ],
)
def test_the_switch_and_its_ci_default(
    monkeypatch: pytest.MonkeyPatch, switch: str | None, ci: str | None, required: bool
) -> None:
    for name, value in (("CUTOVER_REQUIRE_SERVERS", switch), ("CI", ci)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert servers_required() is required


def test_required_means_a_failure_that_names_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "1")
    with pytest.raises(FAILED) as failed:
        server_unavailable("Redis", "redis-server is missing")
    assert str(failed.value).startswith("Redis is not available: redis-server is missing")
    assert "CUTOVER_REQUIRE_SERVERS=1" in str(failed.value)


def test_not_required_means_a_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "0")
    with pytest.raises(SKIPPED, match="^Redis is not available: redis-server is missing$"):
        server_unavailable("Redis", "redis-server is missing")


def test_mariadb_without_its_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dbservers, "MARIADBD", str(tmp_path / "no-mariadbd"))
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "1")
    with pytest.raises(FAILED, match="MariaDB is not available: .*no-mariadbd"):
        dbservers.start_mariadb(tmp_path)
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "0")
    with pytest.raises(SKIPPED, match="MariaDB is not available"):
        dbservers.start_mariadb(tmp_path)
    assert list(tmp_path.iterdir()) == [], "nothing is set up for a server that cannot run"


def test_postgres_without_its_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbservers, "_pg_bindir", lambda: None)
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "1")
    with pytest.raises(FAILED, match="PostgreSQL is not available: .*apt-get install postgresql"):
        dbservers.start_postgres()


def test_sshd_without_its_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sshd, "SSHD_BIN", str(tmp_path / "no-sshd"))
    assert sshd.missing_programs()[0] == str(tmp_path / "no-sshd")
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "1")
    with pytest.raises(FAILED, match="sshd is not available: .*no-sshd missing"):
        sshd.require_openssh()
