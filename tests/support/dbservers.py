"""Real MariaDB and PostgreSQL servers for the tests, started in temporary directories.

Each fixture starts its OWN server on a free port of 127.0.0.1 with a Unix socket in its temp
dir, never the machine's services on 3306/5432. Both have a real login with a password that
needs ODBC escaping (`;`, braces, a space), so connection-string handling is exercised for real.

- MariaDB runs as root (`--user=root`); its admin is root over the socket (unix_socket auth).
- PostgreSQL refuses to run as root: the server process runs as the `postgres` user when it
  exists, else `nobody` (subprocess `user=`), in a directory chowned to that user. Its admin is a
  bootstrap superuser `cutover_admin` with a password.

Use in a test module (pytest-plugins free; import the fixtures you need):
    from tests.support.dbservers import mariadb_server, postgres_server  # noqa: F401
then `server.create_database()` for a scratch database and `server.target(name)` for an
inventory `databases:` entry. Where the server binaries are missing the test is skipped, and
fails instead under `CUTOVER_REQUIRE_SERVERS=1` (CI: tests/support/required.py); a server that
is installed but does not start is always a failure, with the tail of its log. One server per kind serves the whole session (about 1-2 s to
start each); servers get SIGTERM if the test process dies, so none outlives a crashed run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyodbc
import pytest

from tests.support.required import server_unavailable

APP_USER = "crm"
#: needs braces in an ODBC connection string (; { }) and keeps a space inside
APP_PASSWORD = "Pw;{x}= 1"
ADMIN_PASSWORD = "adm;in}pw"
MARIADBD = "/usr/sbin/mariadbd"
START_TIMEOUT = 30.0


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: prctl, loaded here: after the switch to the postgres user the child cannot read /root to import
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM when the test process dies (no leaked servers)."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists() and (candidate / "initdb").exists():
            return candidate
    return None


def _wait_until(ready: Any, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    with contextlib.suppress(Exception):
        proc.kill()
    raise RuntimeError(f"{what} did not start (exit {proc.poll()}):\n{tail}")


@dataclass
class DbServer:
    """A running test server: how to reach it, how to make scratch databases, how to stop it."""

    dialect: str
    port: int
    socket: str
    directory: Path
    process: subprocess.Popen
    admin_connection_string: str
    created: list[str] = field(default_factory=list)

    # --- targets ------------------------------------------------------------------------------
    def target(self, database: str, **extra: Any) -> dict[str, Any]:
        """An inventory `databases:` entry for a database on this server (TCP, app login)."""
        entry: dict[str, Any] = {
            "dialect": self.dialect,
            "server": "127.0.0.1",
            "port": self.port,
            "database": database,
            "user": APP_USER,
            "password": APP_PASSWORD,
        }
        entry.update(extra)
        return entry

    # --- administration -----------------------------------------------------------------------
    def admin(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement as the server's admin (autocommit); rows when it returns any."""
        with contextlib.closing(pyodbc.connect(self.admin_connection_string, autocommit=True)) as conn:
            cur = conn.execute(sql, *params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def quote(self, name: str) -> str:
        q = "`" if self.dialect == "mariadb" else '"'
        return q + name.replace(q, q * 2) + q

    def create_database(self, name: str | None = None) -> str:
        """A new empty database the app login owns; dropped when the server stops."""
        name = name or f"t_{secrets.token_hex(4)}"
        if self.dialect == "mariadb":
            self.admin(f"CREATE DATABASE {self.quote(name)}")
        else:
            self.admin(f"CREATE DATABASE {self.quote(name)} OWNER {APP_USER}")
        self.created.append(name)
        return name

    def database_exists(self, name: str) -> bool:
        if self.dialect == "mariadb":
            return bool(self.admin("SELECT 1 FROM information_schema.schemata WHERE schema_name = ?", name))
        return bool(self.admin("SELECT 1 FROM pg_database WHERE datname = ?", name))

    def stop(self) -> None:
        """Clean shutdown (SIGTERM for mariadbd, SIGINT = fast shutdown for postgres)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if self.dialect == "mariadb" else signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_mariadb(directory: Path) -> DbServer:
    """mariadb-install-db + mariadbd in `directory`, with the app login created."""
    if not Path(MARIADBD).exists() or not shutil.which("mariadb-install-db"):
        server_unavailable(
            "MariaDB", f"{MARIADBD} or mariadb-install-db is missing (apt-get install mariadb-server)"
        )
    data, sock, log = directory / "data", directory / "mysqld.sock", directory / "error.log"
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
         "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [MARIADBD, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve", f"--pid-file={directory}/pid",
         f"--log-error={log}", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
         "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--max-connections=100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
    )  # fmt: skip
    admin = f"DRIVER={{MariaDB Unicode}};SOCKET={sock};UID=root"
    server = DbServer("mariadb", port, str(sock), directory, proc, admin)
    _wait_until(lambda: server.admin("SELECT 1"), proc, log, "mariadbd")
    server.admin(f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'")
    server.admin(f"GRANT ALL PRIVILEGES ON *.* TO '{APP_USER}'@'%'")
    return server


def _pg_run_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as non-root")


def start_postgres() -> DbServer:
    """initdb + postgres as a non-root user in a fresh /tmp directory, with the app login created."""
    bindir = _pg_bindir()
    if bindir is None:
        server_unavailable(
            "PostgreSQL", "no /usr/lib/postgresql/*/bin/postgres and initdb (apt-get install postgresql)"
        )
    user = _pg_run_user()
    directory = Path(tempfile.mkdtemp(prefix="cutover-pg-"))  # under /tmp: the run user can reach it
    os.chmod(directory, 0o755)
    os.chown(directory, user.pw_uid, user.pw_gid)
    pwfile = directory / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": directory}
    data, log = directory / "data", directory / "server.log"
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "cutover_admin", f"--pwfile={pwfile}",
         "--auth=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True, **as_user,
    )  # fmt: skip
    pwfile.unlink()
    port = free_port()
    with open(log, "wb") as out:
        os.chown(log, user.pw_uid, user.pw_gid)
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=60"],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **as_user,
        )  # fmt: skip
    admin = (
        f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT={port};DATABASE=postgres;"
        f"UID=cutover_admin;PWD={{{ADMIN_PASSWORD.replace('}', '}}')}}}"
    )
    server = DbServer("postgresql", port, str(directory), directory, proc, admin)
    _wait_until(lambda: server.admin("SELECT 1"), proc, log, "postgres")
    server.admin(f"CREATE ROLE {APP_USER} LOGIN CREATEDB PASSWORD '{APP_PASSWORD}'")
    return server


#: one server per kind for the whole session: the fixtures are imported into several test modules,
#: which gives each module its own fixture definition, so the sharing has to happen here.
_RUNNING: dict[str, DbServer] = {}


def _shared(kind: str) -> DbServer:
    if kind not in _RUNNING or _RUNNING[kind].process.poll() is not None:
        if kind == "mariadb":
            _RUNNING[kind] = start_mariadb(Path(tempfile.mkdtemp(prefix="cutover-mariadb-")))
        else:
            _RUNNING[kind] = start_postgres()
    return _RUNNING[kind]


def _stop(kind: str) -> None:
    server = _RUNNING.pop(kind, None)
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DbServer]:
    """A private MariaDB server shared by the whole test session, stopped at its end."""
    yield _shared("mariadb")
    _stop("mariadb")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DbServer]:
    """A private PostgreSQL server (run as a non-root user) shared by the whole session."""
    yield _shared("postgresql")
    _stop("postgresql")


# --- running the database modules in tests -----------------------------------------------------------


def new_run(databases: dict[str, Any], **options: Any) -> Any:
    """A RunContext holding database targets, as the executor builds it."""
    from engine.api.module import RunContext

    return RunContext(run_id="test", operator="tester", databases=databases, **options)


def run_db_module(name: str, args: dict[str, Any], run: Any, connection: Any = None) -> Any:
    """Run a module like the executor does and journal its artifacts into `run` like it does too."""
    from tests.support.modharness import run_module

    result = run_module(name, args, connection=connection, run=run)
    for artifact in result.artifacts:
        run.artifacts.setdefault(artifact.resource, []).append(artifact)
    return result


def sqlite_target(directory: Path, **extra: Any) -> dict[str, Any]:
    """A SQLite target (file created empty) for the dialect-parametrised tests."""
    import sqlite3

    path = directory / "crm.sqlite"
    sqlite3.connect(path).close()
    return {"dialect": "sqlite", "path": str(path), "backup_dir": str(directory / "backups"), **extra}


def server_for(request: pytest.FixtureRequest, dialect: str) -> DbServer:
    """The session's server of a dialect (for fixtures parametrised over dialects)."""
    return request.getfixturevalue("mariadb_server" if dialect == "mariadb" else "postgres_server")


def fresh_target(request: pytest.FixtureRequest, tmp_path: Path, dialect: str) -> dict[str, Any]:
    """An empty database of `dialect` as an inventory entry, backups going below `tmp_path`."""
    if dialect == "sqlite":
        return sqlite_target(tmp_path)
    server = server_for(request, dialect)
    return server.target(server.create_database(), backup_dir=str(tmp_path / "backups"))


def backed_up(entry: dict[str, Any], conn: Any, **args: Any) -> tuple[Any, str]:
    """(run, backup location) after a successful db_backup of `entry` as target `crm`."""
    run = new_run({"crm": entry})
    result = run_db_module("db_backup", {"db": "crm", **args}, run, conn)
    assert not result.failed, result.msg
    return run, str(result.output["location"])
