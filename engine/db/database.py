"""One open database connection with a small interface shared by pyodbc and sqlite3.

Modules and operations talk to `Database`, never to a driver: values are always bound (`?`
placeholders work for both drivers), every driver error becomes a `DbError` with the password
masked, and result sets are drained where SQL Server would otherwise stop a BACKUP half-way.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.db.dialects import Dialect, dialect_for
from engine.db.errors import DbError, mask
from engine.db.target import Target, connection_string, target_from

Params = Sequence[Any]


@dataclass(slots=True)
class Drained:
    """What a statement run to its end produced: every result set, the server's messages."""

    result_sets: list[list[tuple[Any, ...]]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    rowcount: int = -1


class Database:
    """A connection to one target. Use as a context manager; `close()` is safe to call twice."""

    def __init__(
        self, raw: Any, dialect: Dialect, target: Target, driver_errors: tuple[type[BaseException], ...]
    ):
        self.raw = raw
        self.dialect = dialect
        self.target = target
        self._driver_errors = driver_errors

    # --- context ------------------------------------------------------------------------------
    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.raw is not None:
            with contextlib.suppress(Exception):
                self.raw.close()
            self.raw = None

    # --- transactions -------------------------------------------------------------------------
    @property
    def autocommit(self) -> bool:
        if self.dialect.name == "sqlite":
            return self.raw.isolation_level is None
        return bool(self.raw.autocommit)

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        with self._errors("setting autocommit", cursor=False):
            if self.dialect.name == "sqlite":
                self.raw.isolation_level = None if value else ""
            else:
                self.raw.autocommit = value

    def commit(self) -> None:
        with self._errors("commit", cursor=False):
            self.raw.commit()

    def rollback(self) -> None:
        with self._errors("rollback", cursor=False):
            self.raw.rollback()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """Commit when the block ends normally, roll back when it raises."""
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception):
                self.raw.rollback()
            raise
        self.commit()

    # --- statements ---------------------------------------------------------------------------
    def query(self, sql: str, params: Params = (), max_rows: int | None = None) -> list[dict[str, Any]]:
        """Rows of the first result set as dicts (column name -> value)."""
        with self._errors(sql) as cur:
            cur.execute(sql, self._bind(params))
            if cur.description is None:
                return []
            names = [d[0] for d in cur.description]
            rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows)
            return [dict(zip(names, row, strict=True)) for row in rows]

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Rows of the first result set as tuples."""
        with self._errors(sql) as cur:
            cur.execute(sql, self._bind(params))
            return [tuple(r) for r in cur.fetchall()] if cur.description is not None else []

    def stream(self, sql: str, params: Params = (), batch: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Rows one by one, fetched in batches: for tables too large to hold in memory."""
        with self._errors(sql) as cur:
            cur.execute(sql, self._bind(params))
            while chunk := cur.fetchmany(batch):
                yield from (tuple(r) for r in chunk)

    def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a changing statement; the driver's row count (-1 when it does not know)."""
        with self._errors(sql) as cur:
            cur.execute(sql, self._bind(params))
            return cur.rowcount

    def run_drained(
        self, sql: str, params: Params = (), on_message: Callable[[str], None] | None = None
    ) -> Drained:
        """Run a statement and read every result set and message it produces.

        SQL Server sends BACKUP/RESTORE progress as result sets; a client that stops reading
        after the first one leaves the operation cut short without an error. `on_message` sees
        each informational message as it is read (pyodbc's `cursor.messages`, renewed by each
        `nextset()`): `WITH STATS`'s "N percent processed." while the backup still runs.
        """
        out = Drained()
        with self._errors(sql) as cur:
            cur.execute(sql, self._bind(params))
            out.rowcount = cur.rowcount
            while True:
                seen = len(out.messages)
                self._collect_messages(cur, out)
                if on_message is not None:
                    for message in out.messages[seen:]:
                        on_message(message)
                if cur.description is not None:
                    out.result_sets.append([tuple(r) for r in cur.fetchall()])
                if not cur.nextset():
                    break
        return out

    def _bind(self, params: Params) -> tuple[Any, ...]:
        """Parameters as the driver takes them (sqlite3 has no Decimal and deprecates datetime).

        The ODBC drivers cut text at a NUL (psqlODBC stores 'a' for 'a\\0b', MariaDB's returns it
        cut), so a value with NUL is refused rather than silently truncated; sqlite3 carries it.
        """
        if self.dialect.name != "sqlite":
            if any(isinstance(p, str) and "\0" in p for p in params):
                raise DbError(
                    f"database {self.target.name!r} ({self.dialect.name}): a text value contains NUL, "
                    "which the ODBC driver would cut short; pass binary data as bytes"
                )
            return tuple(params)
        return tuple(_sqlite_value(p) for p in params)

    @staticmethod
    def _collect_messages(cur: Any, out: Drained) -> None:
        for item in getattr(cur, "messages", None) or []:
            out.messages.append(str(item[1]) if isinstance(item, tuple) and len(item) > 1 else str(item))

    # --- errors -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, what: str, cursor: bool = True) -> Iterator[Any]:
        """A cursor whose driver errors become DbError (masked, with the statement's start)."""
        if self.raw is None:
            raise DbError(f"database {self.target.name!r}: connection is closed")
        cur = None
        try:
            cur = self.raw.cursor() if cursor else None
            yield cur
        except self._driver_errors as exc:
            raise self.error(exc, what) from None
        finally:
            if cur is not None:
                with contextlib.suppress(Exception):
                    cur.close()

    def error(self, exc: BaseException, what: str = "") -> DbError:
        """A DbError for a driver exception, with secrets masked."""
        return driver_error(exc, self.target, what)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def driver_error(exc: BaseException, target: Target, what: str = "") -> DbError:
    """Turn a pyodbc/sqlite3 exception into a DbError naming the target, with secrets masked."""
    args = getattr(exc, "args", ())
    sqlstate = args[0] if len(args) > 1 and isinstance(args[0], str) else None
    detail = str(args[1] if len(args) > 1 else (args[0] if args else exc))
    statement = " ".join(what.split())
    where = f" [{statement[:100]}]" if statement else ""
    message = f"database {target.name!r} ({target.dialect}){where}: {detail}"
    return DbError(mask(message, target.secrets), sqlstate)


class _Keep:
    """Marker: keep the target's own database."""


KEEP = _Keep()


def connect(
    target: Target | Mapping[str, Any],
    *,
    name: str = "",
    database: str | None | _Keep = KEEP,
    autocommit: bool = False,
    timeout: int = 15,
) -> Database:
    """Open a connection to a target (an inventory mapping or a `Target`).

    `database` overrides the target's database (None: connect without one, e.g. to drop and
    re-create it); `autocommit=True` is required for SQL Server BACKUP/RESTORE.
    """
    tgt = target if isinstance(target, Target) else target_from(name or "db", target)
    if not isinstance(database, _Keep):
        tgt = tgt.with_database(database)
    dialect = dialect_for(tgt.dialect)
    if tgt.dialect == "sqlite":
        return _connect_sqlite(tgt, dialect, autocommit, timeout)
    import pyodbc

    try:
        raw = odbc_connect(connection_string(tgt), autocommit, timeout)
    except pyodbc.Error as exc:
        raise driver_error(exc, tgt, "connect") from None
    return Database(raw, dialect, tgt, (pyodbc.Error,))


def _pyodbc_connect(connection: str, autocommit: bool, timeout: int) -> Any:
    import pyodbc

    return pyodbc.connect(connection, autocommit=autocommit, timeout=timeout)


#: opens an ODBC connection; the SQL Server golden tests put a recording connection object here
#: (there is no SQL Server to test against), every other test goes through pyodbc for real.
odbc_connect: Callable[[str, bool, int], Any] = _pyodbc_connect


def _connect_sqlite(tgt: Target, dialect: Dialect, autocommit: bool, timeout: int) -> Database:
    import os

    path = tgt.path or ""
    if not os.path.isfile(path):
        # sqlite3 would silently create an empty database: a typo must not look like an empty CRM.
        raise DbError(f"database {tgt.name!r} (sqlite): file {path!r} does not exist")
    try:
        raw = sqlite3.connect(path, timeout=timeout, isolation_level=None if autocommit else "")
    except sqlite3.Error as exc:
        raise driver_error(exc, tgt, "connect") from None
    return Database(raw, dialect, tgt, (sqlite3.Error,))
