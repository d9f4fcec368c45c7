"""`cutover probe` and the Sage CRM preflight on what a 32-bit Sage CRM on 64-bit Windows needs: the
CRM pool's enable32BitAppOnWin64, and a backup folder SQL Server's service account may write.

The pool: eware.dll is 32-bit; a pool with enable32BitAppOnWin64 off runs a 64-bit w3wp.exe that
cannot load it, and IIS answers HTTP Error 500.0, 0x800700c1 "%1 is not a valid Win32 application"
(https://support.microsoft.com/en-us/help/895976; the attribute:
https://learn.microsoft.com/en-us/previous-versions/iis/settings-schema/aa347554(v=vs.90)).

The backup folder: the account is sys.dm_server_services.service_account of the database engine's
row (https://learn.microsoft.com/en-us/sql/relational-databases/system-dynamic-management-views/
sys-dm-server-services-transact-sql), answered here by a fake pyodbc connection with the view's
documented columns; the folder's ACL is read on the database server with `file.acl` (a simulated
host's `acls`), never by writing a file there.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

import engine.db.database as database_module
from engine.connect.sim import SimConnection
from engine.load.inventory import load_inventory
from simulation.acl import RIGHTS
from tests.support.modharness import run_module
from tests.support.runs import run_cli, write_yaml
from tests.support.sagecrm_estates import BACKUPS, SimEstate, inventory_doc
from tests.unit.test_db_mssql_golden import RecordingConnection, Script


def probe(estate: SimEstate) -> tuple[int, dict[str, Any]]:
    result = run_cli(["probe", "-i", str(estate.inventory), "--format", "json"], estate.root)
    return result.rc, json.loads(result.out)


def single(tmp_path: Path, **initial: Any) -> SimEstate:
    doc = inventory_doc("single")
    doc["defaults"]["sim"]["initial"].update(initial)
    return SimEstate(tmp_path, "single", doc=doc)


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# --- the CRM pool ------------------------------------------------------------------------------------
def test_the_probe_reports_the_crm_pool_as_a_real_install_sets_it(tmp_path: Path) -> None:
    rc, report = probe(single(tmp_path))

    assert rc == 0 and report["findings"] == []
    assert report["hosts"]["crm"]["sagecrm"]["iis"]["crm_pool"] == {
        "pool": "CRM App Pool",
        "enable32BitAppOnWin64": True,
    }


def test_a_64bit_crm_pool_for_a_32bit_sage_crm_is_an_error_of_the_probe(tmp_path: Path) -> None:
    rc, report = probe(single(tmp_path, iis={"pools_32bit": {"CRM App Pool": False}}))

    assert rc == 0
    assert report["hosts"]["crm"]["sagecrm"]["iis"]["crm_pool"]["enable32BitAppOnWin64"] is False
    [found] = report["findings"]
    assert (found["host"], found["severity"]) == ("crm", "error")
    assert found["message"].startswith(
        "IIS application pool 'CRM App Pool' of Default Web Site/CRM has enable32BitAppOnWin64 off: the 32-bit "
        "eware.dll cannot load in its 64-bit w3wp.exe and IIS answers HTTP Error 500.0 (0x800700c1"
    )


def preflight(estate: SimEstate) -> Any:
    inventory = load_inventory(estate.inventory)
    conn = SimConnection(inventory.hosts["crm"], str(estate.state_dir))
    conn.open()
    try:
        from engine.api.module import Gatekeeper, RunContext

        run = RunContext(run_id="preflight", operator="tester", gatekeeper=Gatekeeper(),
                         databases={k: dict(v) for k, v in inventory.databases.items()}, inventory=inventory,
                         state_dir=str(estate.state_dir))  # fmt: skip
        return run_module("crm_preflight", {}, connection=conn, run=run)
    finally:
        conn.close()


def test_the_preflight_blocks_a_64bit_crm_pool_for_a_32bit_sage_crm(tmp_path: Path) -> None:
    result = preflight(single(tmp_path, iis={"pools_32bit": {"CRM App Pool": False}}))

    assert result.failed
    assert result.output["crm_pool"] == {"pool": "CRM App Pool", "enable32BitAppOnWin64": False}
    [blocking] = [b for b in result.output["blocking"] if "enable32BitAppOnWin64" in b]
    assert blocking.startswith("crm: IIS application pool 'CRM App Pool' of Default Web Site/CRM has ")
    assert blocking.endswith("set 'Enable 32-Bit Applications' to True on the pool")


def test_the_preflight_passes_the_pool_a_real_install_sets(tmp_path: Path) -> None:
    result = preflight(single(tmp_path))

    assert result.output["crm_pool"] == {"pool": "CRM App Pool", "enable32BitAppOnWin64": True}
    assert not [b for b in result.output["blocking"] if "enable32BitAppOnWin64" in b]


# --- the backup folder and SQL Server's account --------------------------------------------------------
#: sys.dm_server_services' documented columns, in order, as pyodbc returns them
def dm_server_services(name: str, account: str) -> dict[str, Any]:
    return {
        "servicename": name, "startup_type": 2, "startup_type_desc": "Automatic", "status": 4,
        "status_desc": "Running", "process_id": 2412,
        "last_startup_time": datetime.datetime(2026, 11, 2, 6, 0, tzinfo=datetime.UTC),
        "service_account": account, "filename": '"C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER'
        '\\MSSQL\\Binn\\sqlservr.exe" -sMSSQLSERVER', "is_clustered": "N", "cluster_nodename": None,
        "instant_file_initialization_enabled": "N",
    }  # fmt: skip


def sql_server_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: list[dict[str, Any]],
                      account: str = "NT Service\\MSSQLSERVER") -> SimEstate:  # fmt: skip
    """The single-server estate whose CRM database is on SQL Server (a fake pyodbc connection)."""
    estate = single(tmp_path, directories=[BACKUPS],
                    acls={BACKUPS: {"owner": "BUILTIN\\Administrators", "rules": rules}})  # fmt: skip
    doc = estate.doc
    doc["databases"]["crm"] = {"dialect": "mssql", "server": "crm", "database": "CRM", "user": "sa",
                               "password": "pw"}  # fmt: skip
    write_yaml(estate.inventory, doc)
    answers = {
        "SERVERPROPERTY": [{"version": "15.0.4153.1", "level": "RTM", "edition": "Standard Edition (64-bit)",
                            "engine_edition": 2, "max_connections": 32767, "backup_directory": None}],
        "dm_server_services": [dm_server_services("SQL Server Agent (MSSQLSERVER)", "NT Service\\SQLSERVERAGENT"),
                               dm_server_services("SQL Server (MSSQLSERVER)", account)],
        "custom_sysparams": [{"Parm_Value": "7.2"}],
    }  # fmt: skip
    script = Script(
        [
            (pattern, [[tuple(row.values()) for row in rows]], list(rows[0]))
            for pattern, rows in answers.items()
        ]
    )
    monkeypatch.setattr(
        database_module,
        "odbc_connect",
        lambda cs, autocommit, timeout: RecordingConnection(script, cs, autocommit),
    )
    return estate


def allow(identity: str, rights: str) -> dict[str, Any]:
    return {"identity": identity, "rights": rights, "type": "allow", "inherited": True}


def backup_check(report: dict[str, Any]) -> dict[str, Any]:
    return report["hosts"]["crm"]["sagecrm"]["database"]["backup_directory_writable"]


def test_a_folder_the_service_sid_may_modify_is_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = sql_server_estate(tmp_path, monkeypatch, [allow("BUILTIN\\Administrators", "FullControl"),
                                                        allow("NT SERVICE\\MSSQLSERVER", "Modify, Synchronize")])  # fmt: skip
    before = estate.host("crm").snapshot()

    rc, report = probe(estate)

    assert rc == 0, report
    assert backup_check(report) == {"folder": BACKUPS, "account": "NT Service\\MSSQLSERVER", "writable": True,
                                    "reason": "NT SERVICE\\MSSQLSERVER may create files there"}  # fmt: skip
    assert report["findings"] == []
    assert estate.host("crm").snapshot() == before


def test_a_folder_only_readable_by_users_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = sql_server_estate(tmp_path, monkeypatch, [allow("NT AUTHORITY\\SYSTEM", "FullControl"),
                                                        allow("BUILTIN\\Users", "ReadAndExecute")],
                               account="NT AUTHORITY\\NETWORK SERVICE")  # fmt: skip

    rc, report = probe(estate)

    assert rc == 0
    assert backup_check(report)["writable"] is False
    assert [f["message"] for f in report["findings"]] == [
        f"SQL Server's service account NT AUTHORITY\\NETWORK SERVICE cannot write the backup folder {BACKUPS}: no "
        "rule lets NT AUTHORITY\\NETWORK SERVICE or a group it is in create files there; grant it Modify there"
    ]


def test_a_folder_only_a_group_may_write_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    estate = sql_server_estate(tmp_path, monkeypatch, [allow("BUILTIN\\Administrators", "FullControl"),
                                                        allow("BUILTIN\\Users", "ReadAndExecute")],
                               account="CONTOSO\\svc-sql")  # fmt: skip

    rc, report = probe(estate)

    assert rc == 0
    check = backup_check(report)
    assert (check["writable"], check["reason"]) == (
        None,
        "depends on whether CONTOSO\\svc-sql is in BUILTIN\\Administrators (group membership cannot be read here)",
    )
    assert [f["severity"] for f in report["findings"]] == ["warning"]


def test_the_rights_names_are_the_dotnet_enum_values() -> None:
    # https://learn.microsoft.com/en-us/dotnet/api/system.security.accesscontrol.filesystemrights
    assert (RIGHTS["Modify"], RIGHTS["FullControl"], RIGHTS["Write"], RIGHTS["ReadAndExecute"]) == (
        197055,
        2032127,
        278,
        131241,
    )
