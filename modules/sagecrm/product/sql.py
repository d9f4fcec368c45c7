"""The SQL the Sage CRM modules send, built by small pure functions (golden-tested for SQL Server).

Identifiers are quoted by the target's dialect and every value is a bound `?` parameter; nothing
an operator or a database row supplies is pasted into a statement. Names of Sage CRM tables and
columns are constants here: `custom_sysparams(Parm_Name, Parm_Value)` and the metadata tables the
Solo search reads.
"""

from __future__ import annotations

import re

from engine.db.dialects import LIKE_ESCAPE, Dialect, like_from_glob

SYSPARAMS = "custom_sysparams"
PARM_NAME = "Parm_Name"
PARM_VALUE = "Parm_Value"
LOCK_USER = "SysLockedByUsrID"
LOCK_TIME = "SysLockedTime"

#: Tables removed with Solo in 7.2 (the guide, chapter 8).
SOLO_TABLES = (
    "SoloProfile",
    "SoloProfileOption",
    "Rep_Ranges",
    "Rep_Deletes",
    "Rep_Conflicts",
    "ClientRangesRequired",
)
#: Metadata columns holding customisation code or SQL (searched where the table and column exist):
#: views, field scripts, tabs, lists, screens, workflow actions, escalation rules, reports.
SOLO_SEARCH = (
    ("Custom_Views", "CuVi_ViewScript"),
    ("Custom_Edits", "ColP_CreateScript"),
    ("Custom_Edits", "ColP_ValidateScript"),
    ("Custom_Edits", "ColP_OnChangeScript"),
    ("Custom_Tabs", "Tabs_CustomFileName"),
    ("Custom_Tabs", "Tabs_SQL"),
    ("Custom_Lists", "GriP_CreateScript"),
    ("Custom_ScreenObjects", "Cobj_CustomContent"),
    ("WorkflowAction", "WkAc_SQL"),
    ("Escalations", "Escl_WhereClause"),
    ("Custom_Reports", "Repo_SQL"),
)


def select_params(dialect: Dialect, count: int) -> str:
    q = dialect.quote_ident
    marks = ", ".join("?" for _ in range(count))
    return f"SELECT {q(PARM_NAME)}, {q(PARM_VALUE)} FROM {q(SYSPARAMS)} WHERE {q(PARM_NAME)} IN ({marks})"


def all_params(dialect: Dialect) -> str:
    q = dialect.quote_ident
    return f"SELECT {q(PARM_NAME)}, {q(PARM_VALUE)} FROM {q(SYSPARAMS)}"


_PARAM_SQL = {
    "update": "UPDATE {table} SET {value} = ? WHERE {name} = ?",
    "insert": "INSERT INTO {table} ({name}, {value}) VALUES (?, ?)",
    "delete": "DELETE FROM {table} WHERE {name} = ?",
}


def param_sql(dialect: Dialect, action: str) -> str:
    """`update` (value, name), `insert` (name, value) or `delete` (name) of one custom_sysparams row."""
    q = dialect.quote_ident
    return _PARAM_SQL[action].format(table=q(SYSPARAMS), name=q(PARM_NAME), value=q(PARM_VALUE))


def update_param(dialect: Dialect) -> str:
    return param_sql(dialect, "update")


def insert_param(dialect: Dialect) -> str:
    return param_sql(dialect, "insert")


def delete_param(dialect: Dialect) -> str:
    return param_sql(dialect, "delete")


def metadata_views(dialect: Dialect) -> str:
    q = dialect.quote_ident
    return (
        f"SELECT {q('CuVi_ViewName')}, {q('CuVi_ViewScript')} FROM {q('Custom_Views')} "
        f"WHERE {q('CuVi_ViewScript')} IS NOT NULL"
    )


def solo_search(
    dialect: Dialect, table: str, column: str, names: tuple[str, ...] = SOLO_TABLES
) -> tuple[str, list]:
    """Rows of one metadata column that mention a Solo table: (sql, params)."""
    q = dialect.quote_ident
    where = " OR ".join(f"{q(column)} LIKE ? ESCAPE '{LIKE_ESCAPE}'" for _ in names)
    params = [like_from_glob(f"*{n}*") for n in names]
    return f"SELECT {q(column)} FROM {q(table)} WHERE {where}", params


def solo_modules_mssql(names: tuple[str, ...] = SOLO_TABLES) -> tuple[str, list]:
    """SQL Server: views, procedures, functions and triggers whose code mentions a Solo table."""
    where = " OR ".join(f"m.definition LIKE ? ESCAPE '{LIKE_ESCAPE}'" for _ in names)
    sql = (
        "SELECT o.name, o.type_desc, m.definition FROM sys.sql_modules AS m "
        f"JOIN sys.objects AS o ON o.object_id = m.object_id WHERE o.is_ms_shipped = 0 AND ({where}) "
        "ORDER BY o.name"
    )
    return sql, [like_from_glob(f"*{n}*") for n in names]


def count_rows(dialect: Dialect, table: str) -> str:
    """`SELECT COUNT(*) FROM <table>` (the name quoted by the dialect)."""
    return f"SELECT COUNT(*) FROM {dialect.quote_ident(table)}"


def database_size_mssql() -> str:
    """Bytes the current database's files take (8 KB pages)."""
    return "SELECT CAST(SUM(CAST(size AS BIGINT)) * 8192 AS BIGINT) FROM sys.database_files"


def normalise_sql(text: str | None) -> str:
    """A view's SELECT without `CREATE VIEW name AS`, brackets, case and spacing (for comparisons)."""
    body = re.sub(r"(?is)^\s*create\s+view\s+\S+\s+as\s+", "", text or "")
    body = re.sub(r'[\[\]"`]', "", body)
    return " ".join(body.split()).rstrip(";").casefold()


def solo_mentions(text: str, names: tuple[str, ...] = SOLO_TABLES) -> list[str]:
    """The Solo table names a text mentions (whole words, any case)."""
    return [
        n
        for n in names
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text, re.IGNORECASE)
    ]
