"""The Windows modules on simulated Sage CRM servers (SimConnection, the `sagecrm` preset).

Every state module runs twice (changed, then ok); check mode is proved to change nothing by
comparing the simulated host's snapshot before and after; `undo` is proved to restore the
snapshot; the restoring modules (registry_import, win_archive extracted) are shown to refuse
without a verified, intact backup and to leave the host untouched when they do; recorded
artifacts carry the sha256 of the file the host holds.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.api.module import Result, RunContext, TaskContext
from engine.api.primitives import Remote
from engine.api.registry import ModuleRegistry
from engine.connect.sim import SimConnection
from engine.core.errors import UserError
from engine.core.model import Host
from simulation.host import SimHost
from tests.support.modharness import check_args, run_module

SAGE = "C:\\Program Files (x86)\\Sage\\CRM"
CRM = f"{SAGE}\\CRM"
BACKUP = f"{SAGE}\\CRM_backup"
#: The 32-bit Sage CRM's key: in the 32-bit registry view of the 64-bit simulated server (WOW6432Node).
CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
EMAIL = "eWareEmailManager"
EMAIL_EXE = f"{SAGE}\\Services\\eWareEmailManager.exe"
REGISTRY = ModuleRegistry()


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[SimConnection]:
    """A fresh simulated Sage CRM web server (all default roles)."""
    host = Host(
        name="web1", address="web1", connection="sim", settings={"sim": {"initial": {"preset": "sagecrm"}}}
    )
    connection = SimConnection(host, state_dir=str(tmp_path / "state"))
    connection.open()
    yield connection
    connection.close()


def sim(conn: SimConnection) -> SimHost:
    return conn.sim


def run_ctx(**kw: Any) -> RunContext:
    return RunContext(run_id="test", operator="tester", **kw)


def twice(name: str, args: Any, conn: SimConnection, **kw: Any) -> tuple[Result, Result]:
    """A module run twice: changed, then ok."""
    first = run_module(name, args, connection=conn, **kw)
    assert not first.failed, first.msg
    assert first.changed, f"{name}: the first run should change"
    second = run_module(name, args, connection=conn, **kw)
    assert not second.failed, second.msg
    assert not second.changed, f"{name}: the second run should be ok ({second.msg})"
    return first, second


def check_mode_changes_nothing(name: str, args: Any, conn: SimConnection) -> Result:
    """Check mode says it would change, with a before/after, and the host is exactly as it was."""
    before = sim(conn).snapshot()
    result = run_module(name, args, connection=conn, check=True, diff=True)
    assert not result.failed, result.msg
    assert result.changed, f"{name}: check mode should report a change"
    assert result.diff is not None and ("before" in result.diff or "after" in result.diff), result.diff
    assert sim(conn).snapshot() == before
    return result


def undo(name: str, args: dict[str, Any], recorded: Result, conn: SimConnection) -> Result:
    """Call a module's undo with what the journal keeps of a run (the registered output)."""
    module = REGISTRY.get(name)
    ctx = TaskContext(host=conn.host, vars={}, remote=Remote(conn), run=run_ctx(), task_name=name)
    return module.undo(ctx, check_args(name, args), {**recorded.output, "changed": recorded.changed})


def hash_on_host(conn: SimConnection, path: str) -> str:
    return hashlib.sha256(sim(conn).read_bytes(path)).hexdigest()


def with_artifacts(*results: Result, allow_unprotected: bool = False) -> RunContext:
    """A run context holding the artifacts earlier tasks recorded, as the executor fills it."""
    run = run_ctx(allow_unprotected=allow_unprotected)
    for result in results:
        for art in result.artifacts:
            run.artifacts.setdefault(art.resource, []).append(art)
    return run


# --- win_service --------------------------------------------------------------------------------------


def test_win_service_stops_then_is_ok_and_undo_restores_the_host(conn):
    start = sim(conn).snapshot()
    first, _ = twice("win_service", {"name": EMAIL, "state": "stopped", "start_mode": "manual"}, conn)
    assert sim(conn).service(EMAIL)["state"] == "stopped"
    assert sim(conn).service(EMAIL)["start_mode"] == "manual"
    assert first.output["before"]["state"] == "running"
    back = undo("win_service", {"name": EMAIL, "state": "stopped"}, first, conn)
    assert back.changed
    assert sim(conn).snapshot() == start


def test_win_service_restarted_always_restarts(conn):
    for _ in range(2):
        result = run_module("win_service", {"name": EMAIL, "state": "restarted"}, connection=conn)
        assert result.changed and not result.failed and result.output["state"] == "running"
    assert [e["event"] for e in sim(conn).events()].count(f"service {EMAIL} restarted") == 2


def test_win_service_check_mode_changes_nothing(conn):
    result = check_mode_changes_nothing("win_service", {"name": EMAIL, "state": "stopped"}, conn)
    assert result.diff["before"]["state"] == "running"
    assert result.diff["after"]["state"] == "stopped"


def test_win_service_uninstall_records_the_binary_and_undo_reinstalls_it(conn):
    start = sim(conn).snapshot()
    first, _ = twice("win_service", {"name": EMAIL, "installed": False}, conn)
    assert sim(conn).service(EMAIL) is None
    [art] = first.artifacts
    assert (art.kind, art.resource, art.location) == (
        "service_binary",
        f"setting:web1:service:{EMAIL}",
        EMAIL_EXE,
    )
    assert art.verified and art.sha256 == hash_on_host(conn, EMAIL_EXE)
    assert undo("win_service", {"name": EMAIL, "installed": False}, first, conn).changed
    assert sim(conn).snapshot() == start


def test_win_service_installs_from_the_executable_then_is_ok(conn):
    run_module("win_service", {"name": EMAIL, "installed": False}, connection=conn)
    installed = sim(conn).snapshot()
    args = {"name": EMAIL, "installed": True, "executable": EMAIL_EXE, "state": "started"}
    first, _ = twice("win_service", args, conn)
    assert sim(conn).service(EMAIL)["state"] == "running"
    assert sim(conn).service(EMAIL)["path"] == EMAIL_EXE
    assert undo("win_service", args, first, conn).changed
    assert sim(conn).snapshot() == installed


def test_win_service_missing_service_fails_with_a_plain_message(conn):
    result = run_module("win_service", {"name": "NoSuchService", "state": "started"}, connection=conn)
    assert result.failed
    assert "NoSuchService is not installed on web1" in result.msg


def test_win_service_schema_refuses_install_without_executable():
    with pytest.raises(UserError):
        check_args("win_service", {"name": EMAIL, "installed": True})
    with pytest.raises(UserError):
        check_args("win_service", {"name": EMAIL, "installed": False, "state": "started"})


# --- iis ------------------------------------------------------------------------------------------------


@pytest.fixture
def backup_folder(conn) -> str:
    sim(conn).write_bytes(f"{BACKUP}\\WWWRoot\\web.config", b"<configuration />\n")
    return f"{BACKUP}\\WWWRoot"


def test_iis_physical_path_records_the_old_one_and_undo_sets_it_back(conn, backup_folder):
    start = sim(conn).snapshot()
    args = {"app": "Default Web Site/CRM", "physical_path": backup_folder}
    first, _ = twice("iis", args, conn)
    assert sim(conn).state["iis"]["apps"]["Default Web Site/CRM"]["physical_path"] == backup_folder
    [art] = first.artifacts
    assert art.kind == "old_setting"
    assert art.resource == "setting:web1:iis:Default Web Site/CRM"
    assert art.meta == {
        "old": f"{CRM}\\WWWRoot",
        "new": backup_folder,
        "site": "Default Web Site",
        "app": "CRM",
    }
    module = REGISTRY.get("iis")
    assert module.protects(args, conn.host) == [art.resource]
    assert undo("iis", args, first, conn).changed
    assert sim(conn).snapshot() == start


def test_iis_check_mode_and_a_missing_folder(conn, backup_folder):
    args = {"app": "Default Web Site/CRM", "physical_path": backup_folder}
    result = check_mode_changes_nothing("iis", args, conn)
    assert result.diff["after"] == {"physical_path": backup_folder}
    missing = run_module(
        "iis", {"app": "Default Web Site/CRM", "physical_path": "C:\\nowhere"}, connection=conn
    )
    assert missing.failed and "does not exist" in missing.msg


def test_iis_w3svc_site_and_pool_states_with_undo(conn):
    start = sim(conn).snapshot()
    stop_iis, _ = twice("iis", {"state": "stopped"}, conn)
    assert sim(conn).service("W3SVC")["state"] == "stopped"
    assert undo("iis", {"state": "stopped"}, stop_iis, conn).changed
    assert sim(conn).snapshot() == start
    pool, _ = twice("iis", {"pool": "CRM App Pool", "state": "stopped"}, conn)
    assert sim(conn).state["iis"]["pools"]["CRM App Pool"] == "stopped"
    assert undo("iis", {"pool": "CRM App Pool", "state": "stopped"}, pool, conn).changed
    site, _ = twice("iis", {"site": "Default Web Site", "state": "stopped"}, conn)
    assert undo("iis", {"site": "Default Web Site", "state": "stopped"}, site, conn).changed
    assert sim(conn).snapshot() == start
    check_mode_changes_nothing("iis", {"state": "stopped"}, conn)


def test_iis_restart_and_recycle_always_change(conn):
    for args in ({"state": "restarted"}, {"recycle": "CRM App Pool"}):
        assert run_module("iis", args, connection=conn).changed
        assert run_module("iis", args, connection=conn).changed
    events = [e["event"] for e in sim(conn).events()]
    assert events.count("iisreset") == 2
    assert events.count("iis pool CRM App Pool recycled") == 2


def test_iis_schema_allows_one_target_per_task():
    with pytest.raises(UserError):
        check_args("iis", {"site": "Default Web Site", "pool": "CRM App Pool", "state": "stopped"})
    with pytest.raises(UserError):
        check_args("iis", {"app": "Default Web Site/CRM"})


# --- registry_export / registry_import ----------------------------------------------------------------


def export(conn, dest: str = "C:\\Backup\\config.reg", **extra: Any) -> Result:
    result = run_module("registry_export", {"key": CONFIG, "dest": dest, **extra}, connection=conn)
    assert not result.failed, result.msg
    return result


def test_registry_export_is_verified_then_ok(conn):
    first, second = twice("registry_export", {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}, conn)
    [art] = first.artifacts
    assert (art.kind, art.resource, art.verified) == ("registry_export", f"registry:web1:{CONFIG}", True)
    data = sim(conn).read_bytes("C:\\Backup\\config.reg")
    assert art.sha256 == hashlib.sha256(data).hexdigest() and art.size == len(data)
    assert data.startswith(b"\xff\xfe") and "DefaultDatabase" in data.decode("utf-16")
    assert [a.sha256 for a in second.artifacts] == [art.sha256]  # the ok run still reports its backup
    module = REGISTRY.get("registry_export")
    long_root = {"key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM\\", "dest": "x"}
    assert module.protects(long_root, conn.host) == [art.resource]


def test_registry_export_check_mode_and_force_false(conn):
    check_mode_changes_nothing("registry_export", {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}, conn)
    first = export(conn)
    sim(conn).set_registry_value(CONFIG, "Version", "7.3", view="32")
    kept = export(conn, force=False)
    assert not kept.changed
    assert kept.artifacts[0].sha256 == first.artifacts[0].sha256
    fresh = export(conn)
    assert fresh.changed and fresh.artifacts[0].sha256 != first.artifacts[0].sha256


def test_registry_import_refuses_without_a_verified_backup(conn):
    sim(conn).write_bytes("C:\\x.reg", _reg_file(CONFIG, {"Version": "7.1"}))
    before = sim(conn).snapshot()
    result = run_module("registry_import", {"path": "C:\\x.reg", "key": CONFIG}, connection=conn)
    assert result.failed and "no verified backup" in result.msg
    assert sim(conn).snapshot() == before


def test_registry_import_restores_the_export_then_is_ok(conn):
    backup = export(conn)
    original = sim(conn).snapshot(exclude=["C:\\Backup"])
    sim(conn).set_registry_value(CONFIG, "Version", "7.3", view="32")
    sim(conn).set_registry_value(CONFIG, "DefaultDatabase", "CRM73", view="32")
    args = {"path": "C:\\Backup\\config.reg", "key": CONFIG}
    first, _ = twice("registry_import", args, conn, run=with_artifacts(backup))
    assert first.output["changes"] == 2 and first.output["backup"] == "C:\\Backup\\config.reg"
    assert sim(conn).snapshot(exclude=["C:\\Backup"]) == original


def test_registry_import_check_mode_changes_nothing(conn):
    export(conn)
    sim(conn).set_registry_value(CONFIG, "Version", "7.3", view="32")
    result = check_mode_changes_nothing(
        "registry_import", {"path": "C:\\Backup\\config.reg", "key": CONFIG}, conn
    )
    assert {"key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM", "name": "Version",
            "before": {"type": "REG_SZ", "data": "7.3"}} in result.diff["before"]  # fmt: skip


def test_restores_in_check_mode_expect_the_backup_an_earlier_step_would_make(conn):
    """A check run takes no backup: the restore steps say they would change instead of failing."""
    for name, args in (
        ("registry_import", {"path": "C:\\Backup\\config.reg", "key": CONFIG}),
        ("win_archive", {"path": CRM, "dest": ZIP, "state": "extracted"}),
    ):
        check_mode_changes_nothing(name, args, conn)
        real = run_module(name, args, connection=conn)
        assert real.failed and "does not exist" in real.msg


def test_registry_import_refuses_a_backup_changed_since_it_was_verified(conn):
    backup = export(conn)
    sim(conn).write_bytes("C:\\Backup\\config.reg", _reg_file(CONFIG, {"Version": "6.0"}))
    before = sim(conn).snapshot()
    args = {"path": "C:\\Backup\\config.reg", "key": CONFIG}
    result = run_module("registry_import", args, connection=conn, run=with_artifacts(backup))
    assert result.failed and "changed since it was verified" in result.msg
    assert sim(conn).snapshot() == before
    forced = run_module("registry_import", args, connection=conn, run=with_artifacts(allow_unprotected=True))
    assert forced.changed and not forced.failed
    assert sim(conn).registry_value(CONFIG, "Version", view="32")["data"] == "6.0"


def test_registry_import_refuses_a_file_that_writes_outside_its_key(conn):
    backup = export(conn)
    sim(conn).write_bytes("C:\\other.reg", _reg_file("HKLM\\SOFTWARE\\eWare\\Mappings", {"/CRM": "X"}))
    args = {"path": "C:\\other.reg", "key": CONFIG}
    result = run_module("registry_import", args, connection=conn, run=with_artifacts(backup))
    assert result.failed and "writes outside" in result.msg


def _reg_file(key: str, values: dict[str, str]) -> bytes:
    long = key.replace("HKLM\\", "HKEY_LOCAL_MACHINE\\")
    lines = ["Windows Registry Editor Version 5.00", "", f"[{long}]"]
    lines += [f'"{name}"="{value}"' for name, value in values.items()]
    return b"\xff\xfe" + ("\r\n".join(lines) + "\r\n").encode("utf-16-le")


# --- win_archive -------------------------------------------------------------------------------------------


ZIP = "C:\\Backup\\crm.zip"


def test_win_archive_present_is_verified_then_ok(conn):
    first, second = twice("win_archive", {"path": CRM, "dest": ZIP}, conn)
    [art] = first.artifacts
    assert (art.kind, art.resource, art.location, art.verified) == ("archive", f"files:web1:{CRM}", ZIP, True)
    assert art.sha256 == hash_on_host(conn, ZIP)
    assert [a.sha256 for a in second.artifacts] == [art.sha256]
    assert REGISTRY.get("win_archive").protects({"path": CRM, "dest": ZIP}, conn.host) == [art.resource]


def test_win_archive_present_check_mode_changes_nothing(conn):
    check_mode_changes_nothing("win_archive", {"path": CRM, "dest": ZIP}, conn)


def test_win_archive_extracted_refuses_without_a_verified_backup(conn):
    run_module("win_archive", {"path": CRM, "dest": ZIP}, connection=conn)
    sim(conn).write_bytes(f"{CRM}\\eware.dll", b"eware.dll Sage CRM 7.3\n")
    before = sim(conn).snapshot()
    result = run_module("win_archive", {"path": CRM, "dest": ZIP, "state": "extracted"}, connection=conn)
    assert result.failed and f"no verified backup of files:web1:{CRM}" in result.msg
    assert sim(conn).snapshot() == before


def test_win_archive_extracted_restores_the_folder_exactly_then_is_ok(conn):
    original = sim(conn).snapshot()
    backup = run_module("win_archive", {"path": CRM, "dest": ZIP}, connection=conn)
    sim(conn).write_bytes(f"{CRM}\\eware.dll", b"eware.dll Sage CRM 7.3\n")
    sim(conn).write_bytes(f"{CRM}\\WWWRoot\\new.asp", b"<% added by the upgrade %>\n")
    sim(conn).remove(f"{CRM}\\Setup\\install.log")
    args = {"path": CRM, "dest": ZIP, "state": "extracted"}
    check_mode_changes_nothing("win_archive", args, conn)
    first, _ = twice("win_archive", args, conn, run=with_artifacts(backup))
    assert first.output["backup"] == ZIP
    assert sim(conn).snapshot(exclude=["C:\\Backup"]) == original
    assert not [path for path in sim(conn).snapshot()["files"] if ".cutover-" in path]  # no work folder left


def test_win_archive_extracted_refuses_a_zip_changed_since_it_was_verified(conn):
    backup = run_module("win_archive", {"path": CRM, "dest": ZIP}, connection=conn)
    sim(conn).write_bytes(ZIP, sim(conn).read_bytes(ZIP) + b"tampered")
    before = sim(conn).snapshot()
    args = {"path": CRM, "dest": ZIP, "state": "extracted"}
    result = run_module("win_archive", args, connection=conn, run=with_artifacts(backup))
    assert result.failed and "changed since it was verified" in result.msg
    assert sim(conn).snapshot() == before


def test_win_archive_declares_what_it_destroys():
    module = REGISTRY.get("win_archive")
    host = Host(name="web1", address="web1", connection="sim")
    assert module.destructive
    assert module.destroys({"path": CRM, "dest": ZIP, "state": "extracted"}, host) == [f"files:web1:{CRM}"]
    assert module.destroys({"path": CRM, "dest": ZIP}, host) == []
    with pytest.raises(UserError):
        check_args("win_archive", {"path": CRM, "dest": "C:\\Backup\\crm.tar.gz"})


# --- regsvr32 -----------------------------------------------------------------------------------------------


def test_regsvr32_registers_the_backup_dll_and_undo_reregisters_the_old_one(conn):
    sim(conn).write_bytes(f"{BACKUP}\\eware.dll", sim(conn).read_bytes(f"{CRM}\\eware.dll"))
    start = sim(conn).snapshot()
    args = {"path": f"{BACKUP}\\eware.dll"}
    check_mode_changes_nothing("regsvr32", args, conn)
    first, _ = twice("regsvr32", args, conn)
    assert sim(conn).state["com"]["classes"]["eWare.eWare"] == f"{BACKUP}\\eware.dll"
    # the 32-bit eware.dll on 64-bit Windows: SysWOW64's regsvr32 (tests/unit/test_win32_on_wow64.py)
    assert (first.output["machine"], first.output["regsvr32"]) == ("x86", "C:\\Windows\\SysWOW64\\regsvr32.exe")
    [art] = first.artifacts
    assert (art.kind, art.resource, art.location) == (
        "old_setting",
        "setting:web1:com:eWare.eWare",
        f"{CRM}\\eware.dll",
    )
    assert art.sha256 == hash_on_host(conn, f"{CRM}\\eware.dll")
    assert undo("regsvr32", args, first, conn).changed
    assert sim(conn).snapshot() == start


def test_regsvr32_unregister_and_a_missing_dll(conn):
    first, _ = twice("regsvr32", {"path": f"{CRM}\\eware.dll", "state": "unregistered"}, conn)
    assert "eWare.eWare" not in sim(conn).state["com"]["classes"]
    assert undo("regsvr32", {"path": f"{CRM}\\eware.dll"}, first, conn).changed
    assert sim(conn).state["com"]["classes"]["eWare.eWare"] == f"{CRM}\\eware.dll"
    missing = run_module("regsvr32", {"path": "C:\\nowhere\\eware.dll"}, connection=conn)
    assert missing.failed and "does not exist" in missing.msg


# --- disk_space ---------------------------------------------------------------------------------------------


def test_disk_space_passes_then_fails_early_with_the_numbers(conn):
    sim(conn).set_disk("C", free=5 << 30)
    ok = run_module("disk_space", {"path": "C:\\Backup", "min_free": "1GB", "for_path": CRM}, connection=conn)
    assert not ok.failed and not ok.changed
    assert ok.output["free"] == 5 << 30 and ok.output["needed"] == 1 << 30
    assert ok.output["for_size"] == sum(
        len(sim(conn).read_bytes(f"{CRM}\\{p}"))
        for p in ("eware.dll", "WWWRoot\\web.config", "WWWRoot\\js\\crm.js", "WWWRoot\\Themes\\default.css",
                  "WWWRoot\\CustomPages\\readme.txt", "Setup\\install.log", "tomcat\\conf\\server.xml",
                  "tomcat\\bin\\tomcat7.exe")
    )  # fmt: skip
    short = run_module("disk_space", {"path": "C:\\", "min_free": "10GB"}, connection=conn)
    assert short.failed
    assert "5.0 GB free, 10.0 GB needed" in short.msg and "short by 5.0 GB" in short.msg
    sim(conn).set_disk("C", free=10_000)
    big = run_module("disk_space", {"path": "C:\\", "for_path": CRM, "margin": 2}, connection=conn)
    assert big.failed and f"{CRM} is" in big.msg


# --- win_file / win_copy / win_stat ----------------------------------------------------------------------------


def test_win_file_directory_touch_absent(conn):
    check_mode_changes_nothing("win_file", {"path": "C:\\Backup\\run1", "state": "directory"}, conn)
    twice("win_file", {"path": "C:\\Backup\\run1", "state": "directory"}, conn)
    twice("win_file", {"path": "C:\\Backup\\run1\\marker.txt", "state": "touch"}, conn)
    assert sim(conn).read_bytes("C:\\Backup\\run1\\marker.txt") == b""
    assert REGISTRY.get("win_file").destroys({"path": "C:\\Backup", "state": "absent"}, conn.host) == [
        "files:web1:C:\\Backup"
    ]
    twice("win_file", {"path": "C:\\Backup", "state": "absent"}, conn)
    assert not sim(conn).exists("C:\\Backup")


def test_win_copy_writes_crlf_then_is_ok_and_keeps_a_verified_backup(conn):
    dest = f"{CRM}\\WWWRoot\\web.config"
    args = {
        "dest": dest,
        "content": "<configuration>\n  <x/>\n</configuration>\n",
        "newline": "crlf",
        "backup": True,
    }
    check_mode_changes_nothing("win_copy", args, conn)
    old = sim(conn).read_bytes(dest)
    first, _ = twice("win_copy", args, conn)
    assert sim(conn).read_bytes(dest) == b"<configuration>\r\n  <x/>\r\n</configuration>\r\n"
    [art] = first.artifacts
    assert art.kind == "file_backup" and art.sha256 == hashlib.sha256(old).hexdigest()
    assert sim(conn).read_bytes(art.location) == old


def test_win_stat_reports_existence_and_checksum(conn):
    result = run_module("win_stat", {"path": f"{CRM}\\eware.dll", "checksum": True}, connection=conn)
    facts = result.output["stat"]
    assert facts["exists"] and facts["isreg"] and not result.changed
    assert facts["checksum"] == hash_on_host(conn, f"{CRM}\\eware.dll")
    assert "uid" not in facts
    assert run_module("win_stat", {"path": "C:\\nothing"}, connection=conn).output["stat"]["exists"] is False


# --- powershell ----------------------------------------------------------------------------------------------


def test_powershell_is_refused_on_a_simulated_host_unless_a_guard_skips_it(conn):
    result = run_module("powershell", "Get-Service | Out-Null", connection=conn)
    assert result.failed and "not supported on simulated hosts" in result.msg
    guarded = run_module(
        "powershell", {"script": "Restart-Computer", "creates": f"{CRM}\\eware.dll"}, connection=conn
    )
    assert not guarded.failed and not guarded.changed
    assert REGISTRY.get("powershell").supports_check is False


# --- win_reboot -------------------------------------------------------------------------------------------------


def test_win_reboot_restarts_services_to_their_start_modes_and_waits_for_the_host(conn):
    sim(conn).set_service_state("CRMTomcat7", "stopped")
    sim(conn).set_service_state("WAS", "stopped")  # stops nothing else in the model, W3SVC needs it
    sim(conn).install_service("Helper", "C:\\Windows\\helper.exe", start_mode="manual")
    sim(conn).set_service_state("Helper", "running")
    sim(conn).add_fault({"op": "host.facts", "kind": "connection", "mode": "once", "count": 2})
    check = run_module("win_reboot", {}, connection=conn, check=True)
    assert check.changed and sim(conn).service("CRMTomcat7")["state"] == "stopped"
    result = run_module("win_reboot", {"delay": 0, "timeout": 60}, connection=conn)
    assert result.changed and not result.failed, result.msg
    assert result.output["attempts"] == 3
    services = {name: sim(conn).service(name)["state"] for name in ("CRMTomcat7", "WAS", "W3SVC", "Helper")}
    assert services == {"CRMTomcat7": "running", "WAS": "running", "W3SVC": "running", "Helper": "stopped"}


def test_win_reboot_only_if_pending(conn):
    args = {"only_if_pending": True, "delay": 0}
    assert not run_module("win_reboot", args, connection=conn).changed
    pending = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"
    sim(conn).set_registry_value(pending, "", "")
    first = run_module("win_reboot", args, connection=conn)
    assert first.changed and first.output["pending"] == [pending]
    assert not run_module("win_reboot", args, connection=conn).changed


# --- http_login_check ---------------------------------------------------------------------------------------------


def test_http_login_check_from_the_host_reaches_the_simulated_crm(conn):
    args = {"url": "http://localhost/CRM/eware.dll", "user": "admin", "password": "pw-123", "from": "host",
            "method": "GET", "contains": "Login"}  # fmt: skip
    result = run_module("http_login_check", args, connection=conn)
    assert not result.failed and not result.changed and result.output["status"] == 200
    run_module("iis", {"pool": "CRM App Pool", "state": "stopped"}, connection=conn)
    down = run_module("http_login_check", args, connection=conn)
    assert down.failed and "status 503" in down.msg
    assert "pw-123" not in repr(down.output) + down.msg


@pytest.fixture
def login_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server with a Sage-like login form: the right user and password get a home page."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's spelling
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            seen.append({"method": "POST", "form": form, "path": self.path})
            good = form.get("EWARE_USERID") == "admin" and form.get("PASSWORD") == "s3cr;et&=x"
            self._answer(200 if good else 401, "Welcome to My CRM" if good else "Login failed")

        def do_GET(self) -> None:  # noqa: N802
            seen.append({"method": "GET", "auth": self.headers.get("Authorization"), "path": self.path})
            good = (
                self.headers.get("Authorization") == "Basic " + base64.b64encode(b"admin:s3cr;et&=x").decode()
            )
            self._answer(200 if good else 401, "Welcome" if good else "Login failed")

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}/crm/eware.dll/Login", seen
        server.shutdown()


def test_http_login_check_posts_the_form_from_the_controller(login_server):
    url, seen = login_server
    args = {"url": url, "user": "admin", "password": "s3cr;et&=x", "contains": "Welcome"}
    result = run_module("http_login_check", args)
    assert not result.failed and result.output["status"] == 200, result.msg
    assert seen[-1]["form"] == {"EWARE_USERID": "admin", "PASSWORD": "s3cr;et&=x"}
    wrong = run_module("http_login_check", {**args, "password": "nope", "retries": 1, "delay": 0})
    assert wrong.failed and "status 401" in wrong.msg and wrong.output["attempts"] == 2
    basic = run_module("http_login_check", {**args, "method": "GET"})
    assert not basic.failed and seen[-1]["auth"].startswith("Basic ")
    assert "s3cr;et&=x" not in repr(basic.output) + basic.msg
    with pytest.raises(UserError):
        check_args("http_login_check", {**args, "from": "host"})  # the host can only GET


def test_registry_import_restores_exactly_by_default(tmp_path) -> None:
    """Values added after the export do not survive a restore (replace: true is the default)."""
    from engine.api.module import Artifact
    from engine.connect.sim import SimConnection
    from engine.core.model import Host
    from simulation.host import SimHost
    from tests.support.modharness import run_module

    key = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
    host = Host("w1", "w1", "sim", settings={"sim": {"initial": {"registry": {key: {
        "Version": {"type": "REG_SZ", "data": "7.2"}}}}}})
    conn = SimConnection(host, state_dir=str(tmp_path))
    conn.open()
    exported = run_module("registry_export", {"key": key, "dest": "C:\\b\\config.reg"}, connection=conn)
    assert exported.artifacts and exported.artifacts[0].verified
    sim = SimHost.open(tmp_path, "w1")
    sim.call([{"op": "registry.set", "args": {"key": key, "name": "AddedByUpgrade", "data": "x"}},
              {"op": "registry.set", "args": {"key": key, "name": "Version", "data": "7.3"}}])
    from engine.api.module import RunContext

    run = RunContext(run_id="t", operator="t", artifacts={exported.artifacts[0].resource: list(exported.artifacts)})
    restored = run_module("registry_import", {"path": "C:\\b\\config.reg", "key": key}, connection=conn, run=run)
    assert restored.changed and not restored.failed, restored.msg
    [state] = SimHost.open(tmp_path, "w1").call([{"op": "registry.get", "args": {"key": key}}])
    assert set(state["value"]["values"]) == {"Version"}
    assert state["value"]["values"]["Version"]["data"] == "7.2"
    assert isinstance(exported.artifacts[0], Artifact)
    conn.close()
