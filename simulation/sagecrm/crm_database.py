"""The simulated Sage CRM database (SQLite): how it is built, and what the simulated installer does to it.

A simulation, labelled as such: the real CRM database lives on SQL Server. This one is shaped
like it where the upgrade procedure looks: `custom_sysparams(Parm_Name, Parm_Value)` with
`Version` and the Lock System rows, companies and persons, metadata tables the Solo search
reads (`Custom_Views`, `Custom_Edits`), standard views of which one is customised, auto-generated
`_dta_index*` indexes (SQLite has no statistics objects: `_dta_stat_*` are not simulated), and
for 7.1 the Solo tables that 7.2 removed. Everything is deterministic so that checksums before
an upgrade and after its rollback can be compared.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.sagecrm.product.sql import SOLO_TABLES, normalise_sql

_BASE_VIEWS = {
    "vCompanyPE": "SELECT Comp_CompanyId, Comp_Name, Comp_Type, Comp_Status FROM Company WHERE Comp_Deleted IS NULL",
    "vPersonPE": "SELECT Pers_PersonId, Pers_CompanyId, Pers_FirstName, Pers_LastName FROM Person "
    "WHERE Pers_Deleted IS NULL",
    "vSearchListCompany": "SELECT Comp_CompanyId, Comp_Name FROM Company WHERE Comp_Deleted IS NULL",
}
_NEW_73 = {
    "vCompanyPE": "SELECT Comp_CompanyId, Comp_Name, Comp_Type, Comp_Status, Comp_SDataKey FROM Company "
    "WHERE Comp_Deleted IS NULL",
    "vSearchListCompany": "SELECT Comp_CompanyId, Comp_Name, Comp_Type FROM Company WHERE Comp_Deleted IS NULL",
}
#: version -> standard view name -> its SELECT as that version's views.es creates it
STANDARD_VIEWS: dict[str, dict[str, str]] = {
    "7.1": dict(_BASE_VIEWS),
    "7.2": dict(_BASE_VIEWS),
    "7.3": {**_BASE_VIEWS, **_NEW_73},
}
#: what the demo's customer added to a standard view (the view the upgrade keeps, adding `_New`)
CUSTOMISATION = {"vCompanyPE": ", Comp_WebSite"}

_COMPANIES = [
    ("Boulangerie Martin", "Customer", "Active", "https://martin.example"),
    ("Transports Lefèvre", "Customer", "Active", "https://lefevre.example"),
    ("Cabinet Durand & Associés", "Prospect", "Active", None),
    ("Garage Moreau", "Customer", "Inactive", None),
    ("Imprimerie Petit", "Supplier", "Active", "https://petit.example"),
    ("Laiterie Bernard", "Customer", "Active", None),
    ("Menuiserie Roux", "Prospect", "Active", None),
    ("Pharmacie Fournier", "Customer", "Active", "https://fournier.example"),
]
#: when the demo's rows were written (Sage CRM stamps `<prefix>_CreatedDate`/`_UpdatedDate` on each
#: row, in the server's local time): fixed, so the database stays deterministic
ROWS_WRITTEN = "2026-01-05 09:00:00"
_FIRST = ("Claire", "Julien", "Sophie", "Marc", "Élodie", "Thomas", "Camille", "Nicolas")
_LAST = ("Martin", "Lefèvre", "Durand", "Moreau", "Petit", "Bernard", "Roux", "Fournier")


def build_for_estate(estate: Any, path: str | Path) -> Path:
    """The simulated CRM database of a simulated estate, as its `sagecrm:` section describes it.

    The one builder: the demo (through `simulation.sagecrm.plugin`, when a module first needs the
    database) and the tests call it alike, so both get the same rows, among them the
    multi-server parameters of an estate with several web servers, under the names its
    inventory gives (`sagecrm.multi_server.parameters`; none given, no such rows).
    """
    views = estate.setting("simulation", "customised_views", default=None)
    custom = views if views is not None else estate.customised_views
    named = len(estate.web_servers) > 1 and not estate.missing_parameters()
    params = estate.multi_server_values(include_new=False) if named else None  # servers not added yet
    return _create(path, estate.current_version, custom, params=params)


def _create(
    path: str | Path,
    version: str,
    customised_views: Iterable[str],
    params: dict[str, str] | None,
) -> Path:
    """Create the database file (refuses to overwrite one).

    Built under a temporary name and linked into place in one step: several hosts' first steps
    may build it at once, and a reader (or a run killed mid-build) must never find half of it.
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists: the simulated CRM database is built only once")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.building")
    building.unlink(missing_ok=True)
    try:
        _build(building, version, customised_views, params)
        os.link(building, target)  # atomic; fails when a concurrent build got there first (same content)
    except FileExistsError:
        pass
    finally:
        building.unlink(missing_ok=True)
    return target


def _build(
    target: Path, version: str, customised_views: Iterable[str], params: dict[str, str] | None
) -> None:
    """The tables, rows, views and indexes; auto-generated `_dta_` indexes always, Solo tables for 7.1."""
    views = STANDARD_VIEWS.get(version, STANDARD_VIEWS["7.2"])
    custom = set(customised_views)
    with sqlite3.connect(target) as db:
        db.executescript(
            """
            CREATE TABLE custom_sysparams (Parm_ParmID INTEGER PRIMARY KEY, Parm_Name TEXT NOT NULL UNIQUE,
                                           Parm_Value TEXT);
            CREATE TABLE Users (User_UserId INTEGER PRIMARY KEY, User_Logon TEXT NOT NULL, User_FirstName TEXT,
                                User_LastName TEXT, User_Administration TEXT);
            CREATE TABLE Company (Comp_CompanyId INTEGER PRIMARY KEY, Comp_Name TEXT NOT NULL, Comp_Type TEXT,
                                  Comp_Status TEXT, Comp_WebSite TEXT, Comp_PrimaryPersonId INTEGER,
                                  Comp_Deleted INTEGER, Comp_CreatedDate TEXT, Comp_UpdatedDate TEXT);
            CREATE TABLE Person (Pers_PersonId INTEGER PRIMARY KEY, Pers_CompanyId INTEGER, Pers_FirstName TEXT,
                                 Pers_LastName TEXT, Pers_EmailAddress TEXT, Pers_Deleted INTEGER,
                                 Pers_CreatedDate TEXT, Pers_UpdatedDate TEXT);
            CREATE TABLE Custom_Views (CuVi_ViewId INTEGER PRIMARY KEY, CuVi_Entity TEXT, CuVi_ViewName TEXT,
                                       CuVi_ViewScript TEXT, CuVi_SystemView TEXT);
            CREATE TABLE Custom_Edits (ColP_ColPropsId INTEGER PRIMARY KEY, ColP_Entity TEXT, ColP_ColName TEXT,
                                       ColP_CreateScript TEXT, ColP_ValidateScript TEXT);
            CREATE INDEX IX_Person_Company ON Person (Pers_CompanyId);
            """
        )
        params = [
            ("Version", version),
            ("SysLockedByUsrID", ""),
            ("SysLockedTime", ""),
            ("DefaultDatabase", "CRM"),
            ("BaseCurrency", "EUR"),
            *(params or {}).items(),
        ]
        db.executemany("INSERT INTO custom_sysparams (Parm_Name, Parm_Value) VALUES (?, ?)", params)
        db.executemany(
            "INSERT INTO Users (User_Logon, User_FirstName, User_LastName, User_Administration) VALUES (?,?,?,?)",
            [("admin", "System", "Administrator", "3"), ("cdurand", "Claire", "Durand", None)],
        )
        for i, (name, kind, status, site) in enumerate(_COMPANIES, start=1):
            db.execute(
                "INSERT INTO Company (Comp_Name, Comp_Type, Comp_Status, Comp_WebSite, Comp_PrimaryPersonId,"
                " Comp_CreatedDate, Comp_UpdatedDate) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, kind, status, site, i, ROWS_WRITTEN, ROWS_WRITTEN),
            )
            db.execute(
                "INSERT INTO Person (Pers_CompanyId, Pers_FirstName, Pers_LastName, Pers_EmailAddress, "
                "Pers_CreatedDate, Pers_UpdatedDate) VALUES (?, ?, ?, ?, ?, ?)",
                (i, _FIRST[i - 1], _LAST[i - 1], f"contact{i}@example.test", ROWS_WRITTEN, ROWS_WRITTEN),
            )
        for name, select in views.items():
            actual = (
                select.replace(" FROM", CUSTOMISATION.get(name, "") + " FROM", 1)
                if name in custom
                else select
            )
            db.execute(f'CREATE VIEW "{name}" AS {actual}')
            db.execute(
                "INSERT INTO Custom_Views (CuVi_Entity, CuVi_ViewName, CuVi_ViewScript, CuVi_SystemView) "
                "VALUES (?, ?, ?, 'Y')",
                (name[1:].removesuffix("PE"), name, f"CREATE VIEW {name} AS {select}"),
            )
        db.execute(
            "INSERT INTO Custom_Edits (ColP_Entity, ColP_ColName, ColP_CreateScript) VALUES (?, ?, ?)",
            ("Company", "comp_name", "Valid = CRM.GetContextInfo('company','comp_name') != '';"),
        )
        db.execute("CREATE INDEX _dta_index_Company_5_1013578649__K2_K3 ON Company (Comp_Name, Comp_Type)")
        db.execute(
            "CREATE INDEX _dta_index_Person_5_1077578877__K2 ON Person (Pers_CompanyId, Pers_LastName)"
        )
        if version == "7.1":
            for table in SOLO_TABLES:
                db.execute(f'CREATE TABLE "{table}" (Id INTEGER PRIMARY KEY, Data TEXT)')
            # two remote clients with their id ranges, one change still in conflict
            db.executemany('INSERT INTO "Rep_Ranges" (Data) VALUES (?)', [("client 4",), ("client 7",)])
            db.execute('INSERT INTO "Rep_Conflicts" (Data) VALUES (?)', ("Company 12 changed twice",))
            db.execute(
                "INSERT INTO Custom_Edits (ColP_Entity, ColP_ColName, ColP_CreateScript) VALUES (?, ?, ?)",
                (
                    "Person",
                    "pers_range",
                    "var r = CRM.FindRecord('Rep_Ranges', 'Rang_UserId=' + CurrentUser);",
                ),
            )


# --- what the simulated installer's scripts do to the database -------------------------------------
@dataclass
class ScriptReport:
    """One script's outcome as the upgrade log shows it."""

    name: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    #: "NB must be fixed" items (rendered in the log's language)
    to_fix: list[str] = field(default_factory=list)
    #: SQL scripts: the error summary that becomes the extra HTML file
    sql_errors: list[str] = field(default_factory=list)


def upgrade_database(path: str, current: str, target: str) -> list[ScriptReport]:
    """Run the simulated upgrade scripts against the CRM database; one report per script."""
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'Version'").fetchone()
        if version is None or version[0] != current:
            raise ValueError(
                f"the CRM database is at version {version[0] if version else '?'}, not {current}"
            )
        reports = [
            ScriptReport("CustomPages.es", lines=["pages internes mises à jour"]),
            ScriptReport("Custom_Captions.es", lines=["légendes ajoutées"]),
            ScriptReport("updatehelplink.es", lines=["liens d'aide insérés"]),
            ScriptReport("update_metadata.es", lines=["métadonnées nettoyées"]),
            ScriptReport("addConstraints.es", lines=["contraintes appliquées"]),
        ]
        reports.append(_views(db, current, target))
        reports.append(_tables(db, current, target))
        reports.append(_indexes(db))
        db.execute("UPDATE custom_sysparams SET Parm_Value = ? WHERE Parm_Name = 'Version'", (target,))
    return reports


def _views(db: sqlite3.Connection, current: str, target: str) -> ScriptReport:
    report = ScriptReport("views.es")
    old, new = STANDARD_VIEWS.get(current, {}), STANDARD_VIEWS.get(target, {})
    existing = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
    for name, select in new.items():
        have = existing.get(name)
        if have is not None and name in old and normalise_sql(have) != normalise_sql(old[name]):
            db.execute(f'DROP VIEW IF EXISTS "{name}_New"')
            db.execute(f'CREATE VIEW "{name}_New" AS {select}')
            report.to_fix.append(f"view:{name}")
            report.lines.append(f"{name}: customised standard view kept, new definition in {name}_New")
            continue
        if have is not None:
            db.execute(f'DROP VIEW "{name}"')
        db.execute(f'CREATE VIEW "{name}" AS {select}')
        db.execute(
            "UPDATE Custom_Views SET CuVi_ViewScript = ? WHERE CuVi_ViewName = ?",
            (f"CREATE VIEW {name} AS {select}", name),
        )
        report.lines.append(f"{name}: updated")
    return report


def _dta_on(db: sqlite3.Connection, table: str) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND name LIKE '!_dta!_%' ESCAPE '!'",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def _tables(db: sqlite3.Connection, current: str, target: str) -> ScriptReport:
    report = ScriptReport("Tables.es")
    if current == "7.1":
        for table in SOLO_TABLES:
            db.execute(f'DROP TABLE IF EXISTS "{table}"')
        report.lines.append("Solo tables removed: " + ", ".join(SOLO_TABLES))
    if target == "7.3":
        columns = [r[1] for r in db.execute('PRAGMA table_info("Company")')]
        if "Comp_SDataKey" not in columns:
            db.execute('ALTER TABLE "Company" ADD COLUMN "Comp_SDataKey" TEXT')
        report.lines.append("Company.Comp_SDataKey added")
        blocking = _dta_on(db, "Company")
        if blocking:
            report.ok = False
            report.to_fix.append(f"column:Company.Comp_Name:{','.join(blocking)}")
            report.lines.append("Company.Comp_Name could not be widened: used by " + ", ".join(blocking))
        else:
            report.lines.append("Company.Comp_Name widened")
    return report


def _indexes(db: sqlite3.Connection) -> ScriptReport:
    report = ScriptReport("Update_indexes_mssql.sql")
    db.execute('CREATE INDEX IF NOT EXISTS "IX_Comp_SDataKey" ON "Company" ("Comp_SDataKey")')
    report.lines.append("IX_Comp_SDataKey created")
    for name in _dta_on(db, "Company") + _dta_on(db, "Person"):
        report.ok = False
        report.sql_errors.append(f"Msg 1913: an index or statistics named {name} overlaps the new index set")
    return report


def database_version(path: str) -> str | None:
    with sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True) as db:
        row = db.execute("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'Version'").fetchone()
    return None if row is None else str(row[0])
