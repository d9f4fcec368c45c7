"""A 32-bit Sage CRM on 64-bit Windows: eware.dll registered with SysWOW64's regsvr32, served by a
pool with enable32BitAppOnWin64 on, and the backup folder's ACL held against SQL Server's account.

Windows behaviour behind each test (no Windows runs here):
- a 64-bit process cannot load a 32-bit DLL, nor a 32-bit process a 64-bit one; the 32-bit
  regsvr32 is %windir%\\SysWOW64\\regsvr32.exe
  (https://learn.microsoft.com/en-us/windows/win32/winprog64/running-32-bit-applications,
  https://learn.microsoft.com/en-us/windows/win32/winprog64/file-system-redirector); a DLL's bitness
  is the Machine field of its COFF header, 0x014c x86, 0x8664 x64
  (https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-image_file_header);
- a pool's enable32BitAppOnWin64 (default false) makes its w3wp.exe 32-bit
  (https://learn.microsoft.com/en-us/previous-versions/iis/settings-schema/aa347554(v=vs.90)); a
  32-bit ISAPI DLL in a 64-bit worker answers 500 "%1 is not a valid Win32 application"
  (https://support.microsoft.com/en-us/help/895976);
- creating a file in a folder needs FileSystemRights WriteData/CreateFiles (0x2), and a deny rule
  wins (https://learn.microsoft.com/en-us/dotnet/api/system.security.accesscontrol.filesystemrights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tree_sitter import Node

from modules.windows._acl import write_access
from simulation.acl import RIGHTS
from simulation.dlls import SYSTEM32, SYSWOW64, regsvr32
from tests.support.powershell_tree import commands, method_calls, script_functions, text
from tests.support.sim_hosts import sagecrm_server

EWARE = "C:\\Program Files (x86)\\Sage\\CRM\\CRM\\eware.dll"
LOGIN = "http://localhost/CRM/eware.dll"


@pytest.fixture(scope="module")
def functions() -> dict[str, Node]:
    return script_functions()


def call(conn: Any, op: str, **args: Any) -> dict[str, Any]:
    [answer] = conn.call([{"op": op, "args": args}])
    return answer


# --- the helper script (PowerShell 5.1), held to the Windows semantics ------------------------------
def test_dll_register_picks_regsvr32_by_the_dlls_pe_machine(functions: dict[str, Node]) -> None:
    register = functions["Invoke-CutoverDllRegister"]
    runs = [c for c in commands(register) if c.name == "Invoke-CutoverProgram"]
    pick = text(functions["Get-CutoverRegsvr32"])

    assert [text(c.positional[0]) for c in runs] == ["$regsvr32"]
    assert "System32\\regsvr32.exe" not in text(register)
    assert {"Get-CutoverPeMachine", "Get-CutoverRegsvr32"} <= {c.name for c in commands(register)}
    assert "$Machine -eq 0x014c" in pick and "SysWOW64\\regsvr32.exe" in pick
    assert "Is64BitOperatingSystem" in pick and "Sysnative" in pick


def test_the_pe_header_is_read_without_opening_the_dll_for_writing(functions: dict[str, Node]) -> None:
    body = text(functions["Get-CutoverPeMachine"])

    assert "[IO.FileAccess]::Read," in body
    assert "FileAccess]::ReadWrite" not in body and "FileAccess]::Write" not in body
    assert "0x3C" in body and "0x00004550" in body and "0x5A4D" in body  # e_lfanew, 'PE\0\0', 'MZ'
    assert {m.method for m in method_calls(functions["Get-CutoverPeMachine"])} >= {"ReadUInt16", "ReadUInt32"}


def test_iis_state_reads_each_pools_enable32bitapponwin64(functions: dict[str, Node]) -> None:
    body = text(functions["Invoke-CutoverIisState"])

    assert "$pool.Enable32BitAppOnWin64" in body and "pools_32bit = $pools32" in body


def test_file_acl_only_reads_the_access_rules(functions: dict[str, Node]) -> None:
    body = functions["Invoke-CutoverFileAcl"]
    methods = {m.method for m in method_calls(body)}

    assert {"GetAccessControl", "GetAccessRules"} <= methods
    assert not {"SetAccessControl", "AddAccessRule", "SetAccessRule", "RemoveAccessRule"} & methods
    assert "InheritOnly" in text(body)


# --- the simulated hosts ------------------------------------------------------------------------------
def test_a_32bit_dll_is_registered_with_syswow64s_regsvr32(tmp_path: Path) -> None:
    conn = sagecrm_server(tmp_path)
    try:
        answer = call(conn, "dll.register", path=EWARE)
    finally:
        conn.close()

    assert answer["ok"], answer
    assert (answer["value"]["machine"], answer["value"]["regsvr32"]) == ("x86", SYSWOW64)


def test_the_64bit_regsvr32_cannot_load_a_32bit_dll_and_registers_nothing(tmp_path: Path) -> None:
    conn = sagecrm_server(tmp_path)
    try:
        call(conn, "dll.register", path=EWARE, unregister=True)
        rc, changed, message = regsvr32(conn.sim, EWARE, False, exe=SYSTEM32)
        after = call(conn, "dll.registered", clsid_name="eWare.eWare")
    finally:
        conn.close()

    assert (rc, changed) == (3, False)
    assert message == (
        f'The module "{EWARE}" may not compatible with the version of Windows that you\'re running. Check '
        "if the module is compatible with an x86 (32-bit) or x64 (64-bit) version of regsvr32.exe."
    )
    assert after["value"] == {"registered": False, "path": None}


def test_a_64bit_dll_on_64bit_windows_keeps_system32s_regsvr32(tmp_path: Path) -> None:
    conn = sagecrm_server(tmp_path, com={"machines": {"eware.dll": "x64"}})
    try:
        answer = call(conn, "dll.register", path=EWARE)
    finally:
        conn.close()

    assert (answer["value"]["machine"], answer["value"]["regsvr32"]) == ("x64", SYSTEM32)


def test_the_demo_crm_pool_is_32bit_and_serves_eware(tmp_path: Path) -> None:
    conn = sagecrm_server(tmp_path)
    try:
        state = call(conn, "iis.state")["value"]
        page = call(conn, "http.get", url=LOGIN)["value"]
    finally:
        conn.close()

    assert state["pools_32bit"] == {
        "DefaultAppPool": False,
        "CRM App Pool": True,
        "CRMRewriter App Pool": False,
    }
    assert page["status"] == 200


def test_a_64bit_crm_pool_answers_500_not_a_valid_win32_application(tmp_path: Path) -> None:
    conn = sagecrm_server(tmp_path, iis={"pools_32bit": {"CRM App Pool": False}})
    try:
        page = call(conn, "http.get", url=LOGIN)["value"]
    finally:
        conn.close()

    assert page["status"] == 500
    assert "HTTP Error 500.0" in page["body"] and "0x800700c1" in page["body"]
    assert "%1 is not a valid Win32 application." in page["body"]


def test_file_acl_answers_the_modelled_rules_and_changes_nothing(tmp_path: Path) -> None:
    rules = [{"identity": "NT SERVICE\\MSSQLSERVER", "rights": "Modify, Synchronize", "type": "allow"}]
    conn = sagecrm_server(tmp_path, directories=["D:\\Backups"], disks={"D": {"total": 1 << 40, "free": 1 << 39}},
                          acls={"D:\\Backups": {"owner": "BUILTIN\\Administrators", "rules": rules}})  # fmt: skip
    try:
        before = conn.sim.snapshot()
        answer = call(conn, "file.acl", path="d:\\backups")["value"]
        missing = call(conn, "file.acl", path="D:\\Nowhere")["value"]
        after = conn.sim.snapshot()
    finally:
        conn.close()

    assert answer == {"exists": True, "owner": "BUILTIN\\Administrators", "rules": [
        {"identity": "NT SERVICE\\MSSQLSERVER", "rights": RIGHTS["Modify"] | RIGHTS["Synchronize"], "type": "allow",
         "inherited": False, "inherit_only": False}]}  # fmt: skip
    assert missing == {"exists": False, "owner": None, "rules": []}
    assert before == after


# --- write access decided from an ACL ---------------------------------------------------------------
def rule(identity: str, rights: str | int, kind: str = "allow", inherit_only: bool = False) -> dict[str, Any]:
    value = rights if isinstance(rights, int) else RIGHTS[rights]
    return {
        "identity": identity,
        "rights": value,
        "type": kind,
        "inherited": True,
        "inherit_only": inherit_only,
    }


ACCOUNT = "NT Service\\MSSQLSERVER"


@pytest.mark.parametrize(
    ("rules", "writable"),
    [
        ([rule("NT SERVICE\\MSSQLSERVER", "Modify")], True),  # the service SID, any case
        ([rule("BUILTIN\\Users", "Write")], True),  # every service is in Users
        ([rule("Everyone", 0x40000000)], True),  # GENERIC_WRITE
        ([rule("NT SERVICE\\MSSQLSERVER", "FullControl"), rule("Everyone", "Write", "deny")], False),
        ([rule("BUILTIN\\Users", "ReadAndExecute")], False),
        ([rule("NT SERVICE\\MSSQLSERVER", "FullControl", inherit_only=True)], False),  # applies to children
        ([rule("BUILTIN\\Administrators", "FullControl")], None),  # a service account may or may not be in it
        ([rule("CONTOSO\\SQL Admins", "Modify"), rule("BUILTIN\\Users", "Read")], None),
        ([rule("NT SERVICE\\MSSQLSERVER", "Modify"), rule("CONTOSO\\Blocked", "Write", "deny")], None),
    ],
)
def test_write_access_from_the_rules(rules: list[dict[str, Any]], writable: bool | None) -> None:
    verdict = write_access(ACCOUNT, {"exists": True, "rules": rules})

    assert verdict["writable"] is writable, verdict


def test_localsystem_is_an_administrator_and_an_unknown_account_decides_nothing() -> None:
    acl = {"exists": True, "rules": [rule("BUILTIN\\Administrators", "FullControl")]}

    assert write_access("LocalSystem", acl)["writable"] is True
    assert write_access(None, acl) == {
        "writable": None,
        "reason": "the SQL Server service account is unknown (VIEW SERVER STATE needed to read "
        "sys.dm_server_services)",
    }
    assert write_access(ACCOUNT, {"exists": False})["writable"] is False
