"""The SQL the Sage CRM modules send to SQL Server, compared with a reviewed golden file.

There is no SQL Server here: the statements are rendered by the same functions the modules
call, for the mssql dialect, and `write_params` runs against a recording connection that logs
every statement with its bound parameters and every commit. Regenerate after a reviewed change
with CUTOVER_UPDATE_GOLDEN=1. The same functions run against real SQLite in the e2e tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from engine.db.database import Database
from engine.db.dialects import dialect_for
from engine.db.target import target_from
from modules.sagecrm._sagecrm import read_params, write_params
from modules.sagecrm.product import sql as sql

GOLDEN = Path(__file__).parent / "golden" / "sagecrm" / "mssql.sql"
UPDATE = os.environ.get("CUTOVER_UPDATE_GOLDEN") == "1"
MSSQL = dialect_for("mssql")


class Recorder:
    """The part of a pyodbc connection `Database` uses; answers SELECTs from `rows`."""

    def __init__(self, rows: dict[str, list[tuple[Any, ...]]]):
        self.rows = rows
        self.log: list[str] = []
        self.autocommit = False

    def cursor(self) -> Recorder:
        return self

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> Recorder:
        self.log.append(f"{statement}\n  -- params: {json.dumps(list(params))}")
        self._answer = (
            next((r for key, r in self.rows.items() if key in params), []) if "SELECT" in statement else None
        )
        self.rowcount = 1
        return self

    @property
    def description(self) -> Any:
        return None if self._answer is None else [("Parm_Name",), ("Parm_Value",)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._answer or [])

    def commit(self) -> None:
        self.log.append("-- commit")

    def rollback(self) -> None:
        self.log.append("-- rollback")

    def close(self) -> None:
        pass


def rendered() -> str:
    parts: list[str] = []

    def add(title: str, statement: str, params: list[Any] | None = None) -> None:
        parts.append(f"-- {title}\n{statement}" + (f"\n  -- params: {json.dumps(params)}" if params else ""))

    add("read parameters", sql.select_params(MSSQL, 3))
    add("update a parameter", sql.update_param(MSSQL))
    add("insert a parameter", sql.insert_param(MSSQL))
    add("delete a parameter", sql.delete_param(MSSQL))
    add("customised views: the metadata's scripts", sql.metadata_views(MSSQL))
    add("Solo references in a metadata column", *sql.solo_search(MSSQL, "Custom_Edits", "ColP_CreateScript"))
    add("Solo references in code objects", *sql.solo_modules_mssql())
    add("database size", sql.database_size_mssql())
    add(
        "a hostile table name stays one quoted name",
        *sql.solo_search(MSSQL, "x]; DROP TABLE Company; --", "c", ("Rep_Ranges",)),
    )
    target = target_from("crm", {"dialect": "mssql", "server": "sql1", "database": "CRM"})
    raw = Recorder({"Version": [("Version", "7.2")], "SysLockedByUsrID": [("SysLockedByUsrID", "")]})
    db = Database(raw, MSSQL, target, (RuntimeError,))
    current = read_params(db, ["Version", "SysLockedByUsrID", "MultiServerNames"])
    write_params(db, {"SysLockedByUsrID": "1", "MultiServerNames": "crm1;crm2", "Version": None}, current)
    parts.append("-- lock, a new multi-server row, a row removed (one transaction)\n" + "\n".join(raw.log))
    return "\n\n".join(parts) + "\n"


def test_sql_server_statements_match_the_golden_file():
    text = rendered()
    if UPDATE or not GOLDEN.exists():
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_values_are_never_in_the_statements():
    text = rendered()
    for value in ("crm1;crm2", "7.2", "%Rep_Ranges%", "!%"):
        statements = [line for line in text.splitlines() if not line.strip().startswith("--")]
        assert not any(value in line for line in statements), value


def test_solo_mentions_are_whole_words():
    assert sql.solo_mentions("CRM.FindRecord('Rep_Ranges', x)") == ["Rep_Ranges"]
    assert sql.solo_mentions("select * from SoloProfileOption") == ["SoloProfileOption"]
    assert sql.solo_mentions("MyRep_RangesBackup, soloprofiles") == []


def test_view_definitions_compare_without_layout():
    assert sql.normalise_sql("CREATE VIEW [vA] AS\n  SELECT [a],  b FROM [T];") == "select a, b from t"
