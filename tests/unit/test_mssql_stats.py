"""SQL Server's `WITH STATS` progress of BACKUP and RESTORE, as pyodbc hands it over.

- "STATS [ = percentage ] Displays a message each time another percentage completes, and is used to
  gauge progress. If percentage is omitted, SQL Server displays a message after each 10 percent is
  completed." ("BACKUP (Transact-SQL)", Monitoring options,
  https://learn.microsoft.com/sql/t-sql/statements/backup-transact-sql); the message is SQL
  Server's 3211, "%d percent processed.", followed by 4035 "Processed N pages for database ..." and
  3014 "BACKUP DATABASE successfully processed ...".
- pyodbc gives a statement's informational messages in `cursor.messages` as (SQLSTATE and native
  code, text) tuples, `('[01000] (0)', '[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]hi')`,
  and each `nextset()` renews them with the next result's messages
  (https://github.com/microsoft/mssql-python/issues/612, which shows pyodbc's behaviour).

A scripted pyodbc stand-in answers BACKUP and RESTORE with those messages spread over several
result sets (no SQL Server runs here); what is asserted is the percentages reaching the step, in
order, as the live line `db:crm 40 % backed up`, and the statement carrying `STATS = 10`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import engine.db.database as database_module
from engine.db import connect, mssql
from engine.db.operations import percent_line
from engine.db.target import target_from

TARGET = {"dialect": "mssql", "server": "sql1.crm.local", "database": "CRM", "user": "sa", "password": "pw"}
DRIVER = "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"


def stats_messages(verb: str) -> list[list[tuple[str, str]]]:
    """The message sets of a STATS = 10 backup or restore: one percentage per set, then the summary."""
    sets = [[("[01000] (3211)", f"{DRIVER}{n} percent processed.")] for n in range(10, 101, 10)]
    sets[-1].append(
        ("[01000] (4035)", f"{DRIVER}Processed 2328 pages for database 'CRM', file 'CRM' on file 1.")
    )
    sets.append(
        [
            (
                "[01000] (3014)",
                f"{DRIVER}{verb} successfully processed 2330 pages in 0.521 seconds (34.925 MB/sec).",
            )
        ]
    )
    return sets


class _Cursor:
    """pyodbc's cursor as BACKUP/RESTORE use it: no rows, messages renewed by each nextset()."""

    def __init__(self, conn: _Connection):
        self.conn = conn
        self.description = None
        self.rowcount = -1
        self.messages: list[tuple[str, str]] = []
        self._sets: list[list[tuple[str, str]]] = []

    def execute(self, sql: str, params: Any = ()) -> _Cursor:
        self.conn.sent.append(sql)
        if re.match(r"^(BACKUP|RESTORE DATABASE)", sql):
            self._sets = stats_messages("BACKUP DATABASE" if sql.startswith("BACKUP") else "RESTORE DATABASE")
        elif "EngineEdition" in sql:
            self.description = [
                ("engine_edition", int, None, 0, 0, 0, True),
                ("edition", str, None, 0, 0, 0, True),
            ]
            self._rows = [(3, "Enterprise Edition (64-bit)")]
            self._sets = [[]]
        else:
            self._sets = [[]]
            self._rows = [(None,)]
            self.description = [("v", int, None, 0, 0, 0, True)]
        self.messages = self._sets.pop(0) if self._sets else []
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return getattr(self, "_rows", [])

    def nextset(self) -> bool:
        if not self._sets:
            self.messages = []
            return False
        self.description = None
        self.messages = self._sets.pop(0)
        return True

    def close(self) -> None:
        pass


class _Connection:
    def __init__(self, autocommit: bool):
        self.autocommit = autocommit
        self.sent: list[str] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    statements: list[str] = []

    def open_connection(cs: str, autocommit: bool, timeout: int) -> _Connection:
        conn = _Connection(autocommit)
        conn.sent = statements
        return conn

    monkeypatch.setattr(database_module, "odbc_connect", open_connection)
    return statements


def test_the_documented_stats_message_gives_its_percentage_and_nothing_else_does() -> None:
    assert mssql.percent_processed(f"{DRIVER}40 percent processed.") == 40
    assert mssql.percent_processed("100 percent processed.") == 100
    assert (
        mssql.percent_processed(f"{DRIVER}Processed 2328 pages for database 'CRM', file 'CRM' on file 1.")
        is None
    )
    assert (
        mssql.percent_processed(f"{DRIVER}BACKUP DATABASE successfully processed 2330 pages in 0.5 seconds")
        is None
    )
    assert mssql.percent_processed("the table has 40 percent processed. rows") is None


def test_a_backups_stats_percentages_reach_the_step_in_order_as_its_live_line(sent) -> None:
    shown: list[str] = []
    target = target_from("crm", TARGET)

    with connect(TARGET, autocommit=True) as db:
        drained, _compressed = mssql.backup(
            db, "CRM", "D:\\Backups\\CRM.bak", progress=percent_line(target, "backed up", shown.append)
        )

    assert shown == [f"db:crm {n} % backed up" for n in range(10, 101, 10)]
    backup = next(s for s in sent if s.startswith("BACKUP"))
    assert backup.endswith("WITH CHECKSUM, INIT, COMPRESSION, STATS = 10")
    assert drained.messages[-1].endswith(
        "BACKUP DATABASE successfully processed 2330 pages in 0.521 seconds (34.925 MB/sec)."
    )


def test_a_restores_stats_percentages_reach_the_step_as_restored(sent) -> None:
    shown: list[str] = []
    target = target_from("crm", TARGET)

    with connect(TARGET, autocommit=True) as db:
        mssql.restore(
            db, "CRM", "D:\\Backups\\CRM.bak", progress=percent_line(target, "restored", shown.append)
        )

    assert shown == [f"db:crm {n} % restored" for n in range(10, 101, 10)]
    assert any(s.startswith("RESTORE DATABASE [CRM] FROM DISK = ? WITH REPLACE, STATS = 10") for s in sent)
