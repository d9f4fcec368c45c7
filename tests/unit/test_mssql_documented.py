"""SQL Server as it really answers: every statement the engine sends, held to Microsoft's grammar,
and the result sets it reads, held to the documented columns and types (no SQL Server runs here).

Statements: all those the golden sequences record (tests/unit/golden/mssql/, every path of
engine/db/mssql.py and the schema and maintenance code that the golden tests drive) and the
probe's queries. Each must parse with sqlglot's T-SQL dialect (not as its opaque `Command`
fallback) or match the documented syntax of its statement (tests/support/mssql_docs.py, each rule
with its page); each rule accepts the documentation's own examples and refuses near misses.

Result sets: RESTORE FILELISTONLY and HEADERONLY rows with every documented column, each a value of
the type pyodbc returns for its SQL type, go through the engine's readers (file_list, scratch_moves,
header) over a fake pyodbc connection.
"""

from __future__ import annotations

import decimal
import re
from pathlib import Path
from typing import Any

import pyodbc
import pytest
import sqlglot
from sqlglot import exp

import engine.db.database as database_module
from engine.db import DbError, connect, mssql
from tests.support.mssql_docs import FILELISTONLY, GRAMMARS, HEADERONLY, documented_row, grammar_of

GOLDEN = Path(__file__).parent / "golden" / "mssql"
TARGET = {"dialect": "mssql", "server": "sql1", "database": "CRM", "user": "sa", "password": "pw"}


def sent_statements() -> list[str]:
    """Every distinct statement of the golden sequences, and the probe's own queries."""
    found: list[str] = []
    for path in sorted(GOLDEN.glob("*.sql")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith((" ", "--")):
                found.append(line)
    found += [mssql.SERVER_FACTS, mssql.SERVICE_ACCOUNTS, "RESTORE HEADERONLY FROM DISK = ?"]
    return list(dict.fromkeys(found))


def parses_as_tsql(statement: str) -> bool:
    try:
        tree = sqlglot.parse_one(statement, read="tsql")
    except sqlglot.errors.ParseError:
        return False
    return not isinstance(tree, exp.Command)


STATEMENTS = sent_statements()


def test_the_golden_sequences_cover_backup_restore_sessions_and_maintenance() -> None:
    kinds = {grammar_of(s) for s in STATEMENTS}

    assert {"BACKUP", "RESTORE DATABASE", "RESTORE VERIFYONLY", "RESTORE FILELISTONLY", "RESTORE HEADERONLY",
            "ALTER DATABASE SET", "DBCC CHECKDB", "ALTER INDEX"} <= kinds  # fmt: skip
    assert any("sys.dm_exec_sessions" in s for s in STATEMENTS)
    assert any("MOVE ? TO ?" in s for s in STATEMENTS)


@pytest.mark.parametrize("statement", STATEMENTS, ids=lambda s: s[:60])
def test_every_statement_fits_microsofts_grammar(statement: str) -> None:
    assert parses_as_tsql(statement) or grammar_of(statement) is not None, statement


# The documentation's own examples (SQL Server 2022 pages named in mssql_docs.GRAMMARS), in the
# engine's spelling (one line, single spaces), and near misses each rule must refuse.
EXAMPLES = {
    "BACKUP": [
        "BACKUP DATABASE AdventureWorks2022 TO DISK = 'Z:\\SQLServerBackups\\AdvWorksData.bak' WITH FORMAT;",
        "BACKUP LOG AdventureWorks2022 TO DISK = 'Z:\\SQLServerBackups\\AdvWorksLog.bak' WITH CHECKSUM",
        "BACKUP DATABASE [Sage CRM] TO DISK = ? WITH COPY_ONLY, COMPRESSION, STATS = 10",
    ],
    "RESTORE DATABASE": [
        "RESTORE DATABASE AdventureWorks2022 FROM DISK = 'Z:\\SQLServerBackups\\AdventureWorks2022.bak' "
        "WITH MOVE 'AdventureWorks2022_Data' TO 'C:\\MySQLServer\\testdb.mdf', "
        "MOVE 'AdventureWorks2022_Log' TO 'C:\\MySQLServer\\testdb.ldf', RECOVERY;",
        "RESTORE DATABASE [CRM] FROM DISK = ? WITH REPLACE, STATS = 5",
    ],
    "RESTORE VERIFYONLY": ["RESTORE VERIFYONLY FROM DISK = 'D:\\AdventureWorks.bak' WITH CHECKSUM;"],
    "RESTORE FILELISTONLY": [
        "RESTORE FILELISTONLY FROM DISK = 'Z:\\SQLServerBackups\\AdventureWorks.bak' WITH FILE = 2;"
    ],
    "RESTORE HEADERONLY": ["RESTORE HEADERONLY FROM DISK = N'C:\\AdventureWorks-FullBackup.bak';"],
    "ALTER DATABASE SET": [
        "ALTER DATABASE AdventureWorks2022 SET SINGLE_USER WITH ROLLBACK IMMEDIATE;",
        "ALTER DATABASE AdventureWorks2022 SET MULTI_USER;",
    ],
    "DBCC CHECKDB": ["DBCC CHECKDB (AdventureWorks2022) WITH NO_INFOMSGS, ALL_ERRORMSGS;"],
    "DBCC SHRINKDATABASE": ["DBCC SHRINKDATABASE (UserDB, 10);"],
    "ALTER INDEX": ["ALTER INDEX ALL ON Production.Product REBUILD;"],
}
NEAR_MISSES = {
    "BACKUP": [
        "BACKUP DATABASE [CRM] TO DISK ? WITH CHECKSUM",
        "BACKUP DATABASE [CRM] TO DISK = ? WITH COMPRESS",
    ],
    "RESTORE DATABASE": ["RESTORE DATABASE [CRM] FROM DISK = ? WITH MOVE ? AS ?"],
    "RESTORE VERIFYONLY": ["RESTORE VERIFY FROM DISK = ?"],
    "ALTER DATABASE SET": ["ALTER DATABASE [CRM] SET SINGLE_USER ROLLBACK IMMEDIATE"],
    "DBCC CHECKDB": ["DBCC CHECKDB [CRM] WITH NO_INFOMSGS"],
    "ALTER INDEX": ["ALTER INDEX ALL [dbo].[Company] REBUILD"],
}


@pytest.mark.parametrize("rule", sorted(GRAMMARS))
def test_each_rule_takes_the_documentations_examples_and_refuses_near_misses(rule: str) -> None:
    pattern, page = GRAMMARS[rule]

    assert page.startswith("https://learn.microsoft.com/sql/")
    for example in EXAMPLES[rule]:
        assert pattern.match(example), example
    for wrong in NEAR_MISSES.get(rule, []):
        assert grammar_of(wrong) is None and not parses_as_tsql(wrong), wrong


def test_a_quoted_hostile_name_is_one_identifier_for_the_grammar() -> None:
    statement = "ALTER DATABASE [CRM]]; DROP DATABASE master; --] SET SINGLE_USER WITH ROLLBACK IMMEDIATE"

    assert grammar_of(statement) == "ALTER DATABASE SET"
    assert statement in STATEMENTS


# --- result sets ---------------------------------------------------------------------------------


class _Cursor:
    """pyodbc's cursor for one result set of documented rows."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows
        self.description = [
            (name, type(value), None, 0, 0, 0, True) for name, value in (rows[0] if rows else {}).items()
        ]
        self.rowcount = -1
        self.messages: list[Any] = []

    def execute(self, sql: str, params: Any = ()) -> _Cursor:
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self.rows]

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self.fetchall()[:size]

    def nextset(self) -> bool:
        return False

    def close(self) -> None:
        pass


class _Connection:
    def __init__(self, answers: dict[str, list[dict[str, Any]]], autocommit: bool):
        self.answers = answers
        self.autocommit = autocommit
        self.sent: list[str] = []

    def cursor(self) -> Any:
        connection = self

        class Routed(_Cursor):
            def execute(self, sql: str, params: Any = ()) -> _Cursor:
                connection.sent.append(sql)
                rows = next((r for pattern, r in connection.answers.items() if re.search(pattern, sql)), [])
                if isinstance(rows, Exception):
                    raise rows
                _Cursor.__init__(self, rows)
                return self

        return Routed([])

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    answers: dict[str, list[dict[str, Any]]] = {}
    monkeypatch.setattr(
        database_module, "odbc_connect", lambda cs, autocommit, timeout: _Connection(answers, autocommit)
    )
    return answers


def test_filelistonly_rows_with_every_documented_column_give_the_moves_of_a_test_restore(server) -> None:
    server["FILELISTONLY"] = [
        documented_row(FILELISTONLY, LogicalName="CRM", PhysicalName="D:\\Data\\CRM.mdf", Type="D",
                       Size=decimal.Decimal("5368709120"), FileID=1),
        documented_row(FILELISTONLY, LogicalName="CRM_log", PhysicalName="E:\\Logs\\CRM_log.ldf", Type="L",
                       FileGroupName=None, FileID=2),
    ]  # fmt: skip

    with connect(TARGET, autocommit=True) as db:
        files = mssql.file_list(db, "F:\\Backup\\CRM.bak")
        moves = mssql.scratch_moves(files, "CRM_verify")

    assert [list(f) for f in files] == [[name for name, _t in FILELISTONLY]] * 2
    assert moves == {"CRM": "D:\\Data\\CRM_verify_0.mdf", "CRM_log": "E:\\Logs\\CRM_verify_1.ldf"}


def test_headeronly_rows_have_every_documented_column(server) -> None:
    server["HEADERONLY"] = [
        documented_row(HEADERONLY, DatabaseName="CRM", BackupType=1, HasBackupChecksums=True)
    ]

    with connect(TARGET, autocommit=True) as db:
        [backup_set] = mssql.header(db, "F:\\Backup\\CRM.bak")

    assert list(backup_set) == [name for name, _t in HEADERONLY]
    assert (backup_set["DatabaseName"], backup_set["BackupType"], backup_set["HasBackupChecksums"]) == (
        "CRM",
        1,
        True,
    )


def test_a_documented_row_refuses_a_column_the_documentation_does_not_have() -> None:
    with pytest.raises(KeyError, match="Compressed"):
        documented_row(FILELISTONLY, Compressed=True)


def test_the_probe_reads_server_facts_with_their_documented_names(server) -> None:
    server["SERVERPROPERTY"] = [{"version": "15.0.4153.1", "level": "RTM", "edition": "Express Edition (64-bit)",
                                 "engine_edition": 4, "max_connections": 32767, "backup_directory": "C:\\Backup"}]  # fmt: skip
    server["dm_server_services"] = [
        {"servicename": "SQL Server Agent (MSSQLSERVER)", "service_account": "NT Service\\SQLSERVERAGENT"},
        {"servicename": "SQL Server (MSSQLSERVER)", "service_account": "NT Service\\MSSQLSERVER"},
    ]

    with connect(TARGET, autocommit=True) as db:
        facts = mssql.server_facts(db)

    assert facts["compression"] is False  # Express cannot compress backups
    assert facts["service_account"] == "NT Service\\MSSQLSERVER"
    assert facts["max_connections"] == 32767


def test_a_backup_to_a_folder_the_engines_account_cannot_write_says_so(server) -> None:
    server["EngineEdition"] = [{"engine_edition": 3, "edition": "Enterprise Edition (64-bit)"}]
    server["^BACKUP"] = pyodbc.ProgrammingError(
        "42000",
        "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open backup device "
        "'F:\\Backups\\CRM.bak'. Operating system error 5(Access is denied.). (3201) BACKUP DATABASE is "
        "terminating abnormally. (3013)",
    )
    server["dm_server_services"] = [
        {"servicename": "SQL Server (MSSQLSERVER)", "service_account": "NT Service\\MSSQLSERVER"}
    ]

    with connect(TARGET, autocommit=True) as db, pytest.raises(DbError) as caught:
        mssql.backup(db, "CRM", "F:\\Backups\\CRM.bak")

    message = str(caught.value)
    assert message.startswith("SQL Server cannot write F:\\Backups\\CRM.bak: NT Service\\MSSQLSERVER")
    assert (
        "has no write access to F:\\Backups (error 3201, operating system error 5, access denied)" in message
    )
