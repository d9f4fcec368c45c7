"""SQL Server statement sequences, compared with reviewed golden files (no SQL Server here).

A recording connection object stands in for pyodbc's: it logs every statement, its bound
parameters, the autocommit state and how many result sets were read, and answers from a
script. What is asserted is the exact sequence the product sends: BACKUP in autocommit with
every result set drained, SINGLE_USER ... MULTI_USER around RESTORE even when it fails, values
bound, names quoted. Regenerate after a reviewed change with CUTOVER_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyodbc
import pytest

import engine.db.database as database_module
from engine.db import DbError, connect, mssql, target_from
from engine.db.errors import BackupInvalid
from engine.db.files import LocalFiles
from engine.db.maintenance import run_sql_task
from engine.db.operations import count_sessions, restore_backup, take_backup, verify_backup
from engine.db.schema_objects import drop_statement, find

GOLDEN = Path(__file__).parent / "golden" / "mssql"
UPDATE = os.environ.get("CUTOVER_UPDATE_GOLDEN") == "1"
TARGET = {
    "dialect": "mssql",
    "server": "sql1.crm.local",
    "port": 1433,
    "database": "CRM",
    "user": "sa",
    "password": "S3cr;t}pw",
}

Answer = list[list[tuple[Any, ...]]] | Exception | Callable[[str, tuple[Any, ...]], Any]


class Script:
    """Answers by statement pattern: a list of result sets (each a list of rows) or an exception."""

    def __init__(self, answers: list[tuple[str, Answer, list[str] | None]] | None = None):
        self.answers = answers or []
        self.log: list[str] = []

    def answer(
        self, sql: str, params: tuple[Any, ...]
    ) -> tuple[list[list[tuple[Any, ...]]], list[str] | None]:
        for pattern, answer, columns in self.answers:
            if re.search(pattern, sql):
                if isinstance(answer, Exception):
                    raise answer
                if callable(answer):
                    answer = answer(sql, params)
                return answer, columns
        return [], None


class RecordingCursor:
    """The part of a pyodbc cursor the product uses."""

    def __init__(self, conn: RecordingConnection):
        self.conn = conn
        self.sets: list[list[tuple[Any, ...]]] = []
        self.columns: list[str] | None = None
        self.read = 0
        self.rowcount = -1
        self.messages: list[tuple[str, str]] = []

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> RecordingCursor:
        self.conn.flush()
        self.conn.script.log.append(f"{sql}\n  -- params: {json.dumps(list(params), default=str)}")
        self.conn.script.log.append(f"  -- autocommit: {self.conn.autocommit}")
        self.sets, self.columns = self.conn.script.answer(sql, params)
        self.read = 1
        self.conn.open_cursor = self
        return self

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        if not self.sets or self.read > len(self.sets):
            return None
        width = len(self.sets[self.read - 1][0]) if self.sets[self.read - 1] else len(self.columns or [])
        names = self.columns or [f"c{i}" for i in range(width)]
        return [(n, str, None, 0, 0, 0, True) for n in names]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.sets[self.read - 1]) if self.sets else []

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        rows = self.fetchall()
        self.sets[self.read - 1] = rows[size:]
        return rows[:size]

    def nextset(self) -> bool:
        if self.read < len(self.sets):
            self.read += 1
            return True
        return False

    def close(self) -> None:
        pass


class RecordingConnection:
    """The part of a pyodbc connection the product uses; logs what reaches the server."""

    def __init__(self, script: Script, connection_string: str, autocommit: bool):
        self.script = script
        self.autocommit = autocommit
        self.open_cursor: RecordingCursor | None = None
        masked = connection_string.replace("S3cr;t}}pw", "<masked>")
        script.log.append(f"-- connect: {masked} (autocommit={autocommit})")

    def flush(self) -> None:
        cur = self.open_cursor
        if cur is not None and cur.sets:
            self.script.log.append(f"  -- result sets read: {cur.read} of {len(cur.sets)}")
        self.open_cursor = None

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def commit(self) -> None:
        self.flush()
        self.script.log.append("-- commit")

    def rollback(self) -> None:
        self.flush()
        self.script.log.append("-- rollback")

    def close(self) -> None:
        self.flush()
        self.script.log.append("-- close")


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Script:
    """Every ODBC connection the product opens in this test is a RecordingConnection on one script."""
    recorded = Script()

    def fake_connect(connection_string: str, autocommit: bool, timeout: int) -> RecordingConnection:
        return RecordingConnection(recorded, connection_string, autocommit)

    monkeypatch.setattr(database_module, "odbc_connect", fake_connect)
    return recorded


def server_error(message: str) -> pyodbc.Error:
    return pyodbc.ProgrammingError("42000", f"[42000] [FreeTDS][SQL Server]{message} (3013)")


def check_golden(name: str, script: Script, tmp: Path | None = None) -> None:
    text = "\n".join(script.log) + "\n"
    if tmp is not None:
        text = text.replace(str(tmp), "<backups>")
    text = re.sub(r"_verify_[0-9a-f]{8}", "_verify_XXXXXXXX", text)
    path = GOLDEN / f"{name}.sql"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with CUTOVER_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()


EDITION = r"SERVERPROPERTY\('EngineEdition'\)"
ENTERPRISE: Answer = [[(3, "Enterprise Edition (64-bit)")]]
EXPRESS: Answer = [[(4, "Express Edition (64-bit)")]]
PROGRESS: Answer = [[("10 percent processed.",)], [("100 percent processed.",)], [("BACKUP DATABASE done",)]]


def backup_writes_file(sql: str, params: tuple[Any, ...]) -> Answer:
    Path(params[0]).write_bytes(b"TAPE" + b"\x00" * 60)
    return PROGRESS  # type: ignore[return-value]


# --- backups ---------------------------------------------------------------------------------------


def test_full_backup_compressed_on_enterprise_then_verified(script: Script, tmp_path: Path) -> None:
    script.answers = [(EDITION, ENTERPRISE, None), (r"^BACKUP DATABASE", backup_writes_file, None)]
    record = take_backup(target_from("crm", TARGET), LocalFiles(), str(tmp_path), filename="CRM-full.bak")
    assert record.verified and record.verify_method == "RESTORE VERIFYONLY" and record.meta["compressed"]
    assert record.size == 64 and len(record.sha256) == 64
    check_golden("backup_full_enterprise", script, tmp_path)


def test_full_backup_uncompressed_on_express_with_test_restore(script: Script, tmp_path: Path) -> None:
    files = [("CRM", "C:\\Data\\CRM.mdf", "D"), ("CRM_log", "C:\\Data\\CRM_log.ldf", "L")]
    script.answers = [
        (EDITION, EXPRESS, None),
        (r"^BACKUP DATABASE", backup_writes_file, None),
        (r"FILELISTONLY", [files], ["LogicalName", "PhysicalName", "Type"]),
        (r"DB_ID", [[(7,)]], None),
    ]
    record = take_backup(
        target_from("crm", TARGET), LocalFiles(), str(tmp_path), filename="CRM-full.bak", verify="restore"
    )
    assert record.verify_method == "RESTORE VERIFYONLY + test restore" and not record.meta["compressed"]
    check_golden("backup_full_express_test_restore", script, tmp_path)


def test_differential_and_log_backups(script: Script) -> None:
    script.answers = [(EDITION, ENTERPRISE, None), (r"^BACKUP", PROGRESS, None)]
    with connect(TARGET, name="crm", database="master", autocommit=True) as db:
        mssql.backup(db, "CRM", "D:\\Backups\\CRM-diff.bak", kind="diff")
        mssql.backup(db, "CRM", "D:\\Backups\\CRM-log.trn", kind="log", compress=False)
    check_golden("backup_diff_and_log", script)


def test_backup_outside_autocommit_is_refused_before_any_statement(script: Script) -> None:
    with connect(TARGET, name="crm", database="master") as db:
        with pytest.raises(DbError, match="autocommit"):
            mssql.backup(db, "CRM", "D:\\x.bak")
        with pytest.raises(DbError, match="cannot write compressed"):
            db.autocommit = True
            script.answers = [(EDITION, EXPRESS, None)]
            mssql.backup(db, "CRM", "D:\\x.bak", compress=True)
    assert not [line for line in script.log if line.startswith("BACKUP")]


def test_failed_verification_is_reported_as_invalid_backup(script: Script, tmp_path: Path) -> None:
    script.answers = [
        (r"VERIFYONLY", server_error("The media family on device 'x' is incorrectly formed."), None)
    ]
    with pytest.raises(BackupInvalid, match="incorrectly formed") as raised:
        verify_backup(target_from("crm", TARGET), LocalFiles(), "D:\\Backups\\CRM.bak")
    assert "S3cr" not in str(raised.value)
    check_golden("verify_failed", script)


# --- restore ---------------------------------------------------------------------------------------


def test_restore_takes_single_user_and_gives_multi_user_back(script: Script) -> None:
    script.answers = [(r"DB_ID", [[(7,)]], None), (r"^RESTORE DATABASE", PROGRESS, None)]
    moves = {"CRM": "E:\\Data\\CRM.mdf", "CRM_log": "E:\\Logs\\CRM_log.ldf"}
    done = restore_backup(target_from("crm", TARGET), LocalFiles(), "D:\\Backups\\CRM.bak", moves=moves)
    assert done["database"] == "CRM"
    check_golden("restore_ok", script)


def test_restore_failure_still_sets_multi_user(script: Script) -> None:
    script.answers = [
        (r"DB_ID", [[(7,)]], None),
        (r"^RESTORE DATABASE", server_error("RESTORE DATABASE is terminating abnormally."), None),
    ]
    with pytest.raises(DbError, match="terminating abnormally"):
        restore_backup(target_from("crm", TARGET), LocalFiles(), "D:\\Backups\\CRM.bak")
    assert script.log[-3].startswith("ALTER DATABASE [CRM] SET MULTI_USER")
    check_golden("restore_failed", script)


def test_restore_of_a_database_that_does_not_exist_yet(script: Script) -> None:
    script.answers = [(r"DB_ID", [[(None,)]], None), (r"^RESTORE DATABASE", PROGRESS, None)]
    restore_backup(target_from("crm", TARGET), LocalFiles(), "D:\\Backups\\CRM.bak")
    assert not [line for line in script.log if "SINGLE_USER" in line or "MULTI_USER" in line]


def test_hostile_database_name_is_quoted(script: Script) -> None:
    script.answers = [(r"DB_ID", [[(7,)]], None), (EDITION, EXPRESS, None)]
    hostile = {**TARGET, "database": "CRM]; DROP DATABASE master; --"}
    restore_backup(target_from("crm", hostile), LocalFiles(), "D:\\Backups\\CRM.bak")
    with connect(hostile, name="crm", database="master", autocommit=True) as db:
        mssql.backup(db, hostile["database"], "D:\\'; DROP TABLE x; --.bak")
    check_golden("hostile_name", script)


# --- sessions, history, maintenance, schema objects -------------------------------------------------


def test_sessions_per_host_and_backup_history(script: Script) -> None:
    script.answers = [
        (r"dm_exec_sessions", [[("WEB1", 12), ("WEB2", 3), ("SQL1", 1)]], None),
        (r"msdb\.dbo\.backupset", [[("2024-05-01 23:00:00", "D:\\Backups\\CRM.bak", "D", 1, 0, 1024, 3600)]],
         ["finished", "location", "type", "has_checksums", "is_damaged", "size", "age_seconds"]),
    ]  # fmt: skip
    assert count_sessions(target_from("crm", TARGET)) == {"WEB1": 12, "WEB2": 3, "SQL1": 1}
    with connect(TARGET, name="crm", database="master", autocommit=True) as db:
        found = mssql.backup_history(db, "CRM", "full")
    assert found is not None and found["location"] == "D:\\Backups\\CRM.bak" and found["age_seconds"] == 3600
    check_golden("sessions_and_history", script)


def test_maintenance_plan_statements(script: Script) -> None:
    script.answers = [(r"FROM sys\.tables", [[("dbo", "Company"), ("dbo", "Person")]], None)]
    with connect(TARGET, name="crm", autocommit=True) as db:
        for task in ("checkdb", "reorganize_indexes", "rebuild_indexes", "update_statistics", "shrink"):
            run_sql_task(db, task)
        mssql.delete_history(db, "2024-04-01 00:00:00")
    check_golden("maintenance", script)


def test_dta_indexes_and_statistics_with_definitions(script: Script) -> None:
    script.answers = [
        (r"FROM sys\.indexes AS i JOIN", [[("dbo", "Company", "_dta_index_Company_5_1", "NONCLUSTERED", 0, 0, 0, None, 5, 101)]],
         ["schema_name", "table_name", "name", "type_desc", "is_unique", "is_primary_key", "is_unique_constraint",
          "filter_definition", "index_id", "object_id"]),
        (r"FROM sys\.index_columns", [[("Comp_Name", 0, 0), ("Comp_Deleted", 0, 1)]], ["name", "descending", "included"]),
        (r"FROM sys\.stats AS st", [[("dbo", "Company", "_dta_stat_101_2_3", 0, 1, None, 3, 101)]],
         ["schema_name", "table_name", "name", "auto_created", "user_created", "filter_definition", "stats_id",
          "object_id"]),
        (r"FROM sys\.stats_columns", [[("Comp_Name",), ("Comp_Type",)]], ["name"]),
    ]  # fmt: skip
    with connect(TARGET, name="crm") as db:
        [index] = find(db, "indexes", "_dta_index*")
        [stat] = find(db, "statistics", "_dta_stat_*")
        assert index.definition == (
            "CREATE NONCLUSTERED INDEX [_dta_index_Company_5_1] ON [dbo].[Company] ([Comp_Name] ASC) "
            "INCLUDE ([Comp_Deleted])"
        )
        assert (
            stat.definition
            == "CREATE STATISTICS [_dta_stat_101_2_3] ON [dbo].[Company] ([Comp_Name], [Comp_Type])"
        )
        assert drop_statement(db, index) == "DROP INDEX [_dta_index_Company_5_1] ON [dbo].[Company]"
        assert drop_statement(db, stat) == "DROP STATISTICS [dbo].[Company].[_dta_stat_101_2_3]"
    check_golden("schema_objects", script)
