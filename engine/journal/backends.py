"""Where the journal lives: an SQLite file (the default) or a PostgreSQL database (a fleet).

`Journal` speaks to a backend only through `transaction()` (several writes committed together)
and `query()` (rows as dicts); its SQL is written once, with `?` placeholders and `rowid` for
insertion order, and the PostgreSQL backend translates both. The durability rule is the same
on both: a transaction's commit returns only once the database has it (SQLite WAL; PostgreSQL's
default synchronous commit), and the scheduler starts dependents only after that commit.

The backend is chosen by `journal_url()`: `CUTOVER_JOURNAL_URL=postgresql://...` puts every
journal of this process (and of the `cutover run` processes a worker starts) in PostgreSQL;
otherwise the journal is `<state dir>/runs.db`. A password is best kept out of the URL (libpq's
PGPASSWORD or ~/.pgpass); `redact()` masks one that is there before the URL is shown anywhere.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from engine.core.errors import CutoverError, UserError
from engine.journal.schema_sql import MIGRATIONS_TABLE, POSTGRES_MIGRATIONS, SCHEMA_VERSION, SQLITE_DDL

JOURNAL_URL_ENV = "CUTOVER_JOURNAL_URL"
#: key of the transaction-level advisory lock that serialises schema migrations
_MIGRATION_LOCK = 0x637574_6F766572  # "cutover"


def journal_url() -> str | None:
    """The PostgreSQL journal this process uses, or None for the state dir's SQLite file."""
    url = os.environ.get(JOURNAL_URL_ENV, "").strip()
    return url or None


def redact(url: str) -> str:
    """The URL with any password replaced by `***` (for messages, logs and status pages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


class Cursor(Protocol):
    """What a transaction hands out: `execute(sql, params)` with `?` placeholders."""

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any: ...


class Backend(Protocol):
    kind: str

    def transaction(self) -> Any: ...
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]: ...
    def execute(self, sql: str, params: Iterable[Any] = ()) -> int: ...
    def close(self) -> None: ...
    def describe(self) -> str: ...
    def healthy(self) -> bool: ...


class SqliteBackend:
    """One SQLite connection in WAL mode; writes serialised by a lock, BEGIN IMMEDIATE."""

    kind = "sqlite"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SQLITE_DDL)
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.db.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            " WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
            (str(SCHEMA_VERSION),),
        )
        self.lock = threading.RLock()
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.db.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        with self.transaction() as db:
            return db.execute(sql, tuple(params)).rowcount

    def close(self) -> None:
        self.db.close()

    def describe(self) -> str:
        return str(self.path)

    def healthy(self) -> bool:
        with self.lock:
            return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%|\browid\b")


def to_postgres(sql: str) -> str:
    """`?` -> `%s`, `%` -> `%%` and `rowid` -> `seq`, leaving quoted SQL strings alone."""

    def swap(found: re.Match[str]) -> str:
        token = found.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token == "rowid":
            return "seq"
        return token

    return _PLACEHOLDER.sub(swap, sql)


class _PgCursor:
    """A psycopg cursor that accepts the journal's `?` SQL."""

    def __init__(self, cursor: Any):
        self.cursor = cursor

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        self.cursor.execute(to_postgres(sql), tuple(params))
        return self.cursor


class PostgresBackend:
    """One psycopg connection (autocommit; explicit transactions for writes), schema migrated on open."""

    kind = "postgresql"

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise UserError(
                f"{JOURNAL_URL_ENV} names a PostgreSQL journal but psycopg is not installed",
                hint="pip install 'cutover[fleet]'",
            ) from None
        self.url = url
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="cutover")
        except psycopg.Error as err:
            raise CutoverError(f"cannot reach the journal database {redact(url)}: {_first_line(err)}") from None
        self.lock = threading.RLock()
        migrate(self.conn)

    @contextmanager
    def transaction(self) -> Iterator[_PgCursor]:
        with self.lock, self.conn.transaction(), self.conn.cursor() as cur:
            yield _PgCursor(cur)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self.lock, self.conn.cursor() as cur:
            cur.execute(to_postgres(sql), tuple(params))
            if cur.description is None:
                return []
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        with self.transaction() as cur:
            return cur.execute(sql, params).rowcount

    def close(self) -> None:
        self.conn.close()

    def describe(self) -> str:
        return redact(self.url)

    def healthy(self) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1").fetchone()[0] == 1


def schema_version(conn: Any) -> int:
    """The highest migration applied to a PostgreSQL journal (0 for an empty database)."""
    row = conn.execute("SELECT to_regclass('cutover_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM cutover_schema").fetchone()[0])


def migrate(conn: Any) -> int:
    """Bring a PostgreSQL journal to SCHEMA_VERSION; safe when several processes open it at once.

    The check without a lock is the common case (already current). Otherwise the migration runs
    in one transaction under a transaction-level advisory lock, so two workers starting together
    do not both create the tables, and a failed migration leaves the database as it was.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise CutoverError(
            f"the journal database is at schema {current}, newer than this cutover knows ({SCHEMA_VERSION}): "
            "upgrade cutover on this machine"
        )
    if current == SCHEMA_VERSION:
        return current
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(MIGRATIONS_TABLE)
        current = schema_version(conn)
        for version, description, ddl in POSTGRES_MIGRATIONS:
            if version <= current:
                continue
            for statement in (s.strip() for s in ddl.split(";")):
                if statement:
                    conn.execute(statement)
            conn.execute("INSERT INTO cutover_schema (version, description) VALUES (%s, %s)", (version, description))
    return SCHEMA_VERSION


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def open_backend(path: str | Path, url: str | None = None) -> Backend:
    """The PostgreSQL backend when a URL is given or configured, else the SQLite file at `path`."""
    url = url or journal_url()
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise UserError(
                f"{JOURNAL_URL_ENV} must be a postgresql:// URL, not {redact(url)!r}",
                hint="e.g. postgresql://cutover@db.example/cutover (password in PGPASSWORD or ~/.pgpass)",
            )
        return PostgresBackend(url)
    return SqliteBackend(path)
