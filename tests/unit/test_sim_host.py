"""The simulated Windows host: every primitive, persistence, faults, presets and programs."""

from __future__ import annotations

import base64
import io
import json
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from engine.api.primitives import Remote
from engine.connect import connection_for
from engine.connect.remote.spec import ERROR_KINDS, PRIMITIVES
from engine.core.errors import ConnectionFailed, TaskTimeout, UserError
from engine.core.model import Host
from simulation.core import OPS
from simulation.host import EPOCH, SimHost, register_program, unregister_program
from tests.support.runs import run_cli, write_yaml

CRM = "C:\\Program Files (x86)\\Sage\\CRM\\CRM"
SERVICES = "C:\\Program Files (x86)\\Sage\\CRM\\Services"
CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
REPO = Path(__file__).resolve().parents[2]


def answer(host: SimHost, op: str, /, **args: object) -> dict:
    return host.call([{"op": op, "args": args}])[0]


def ok(host: SimHost, op: str, /, **args: object) -> object:
    result = answer(host, op, **args)
    assert result["ok"], result
    return result["value"]


def fails(host: SimHost, op: str, kind: str, /, **args: object) -> str:
    result = answer(host, op, **args)
    assert result == {"ok": False, "error": result.get("error"), "kind": kind}, result
    assert result["error"]
    return result["error"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def crm(tmp_path: Path) -> SimHost:
    return SimHost.open(tmp_path, "web1", {"preset": "sagecrm"})


@pytest.fixture
def crm64(tmp_path: Path) -> SimHost:
    """A Sage CRM server whose eWare keys are in the 64-bit registry view (HKLM\\SOFTWARE\\eWare)."""
    return SimHost.open(tmp_path, "web1", {"preset": "sagecrm", "registry_view": "64"})


@pytest.fixture
def bare(tmp_path: Path) -> SimHost:
    return SimHost.open(tmp_path, "plain", {"disks": {"C": {"total": 10_000, "free": 8_000}}})


# --- contract -------------------------------------------------------------------------------------------
def test_every_windows_primitive_of_the_spec_is_implemented_and_nothing_else() -> None:
    assert set(OPS) == {name for name, spec in PRIMITIVES.items() if "windows" in spec.platforms}


def test_calls_outside_the_contract_get_documented_error_kinds(crm: SimHost) -> None:
    answers = crm.call(
        [
            {"op": "nope.nothing", "args": {}},
            {"op": "file.stat", "args": {}},
            {"op": "file.stat", "args": {"path": "C:\\", "colour": "red"}},
            {"op": "file.stat", "args": {"path": "relative\\x"}},
            {"op": "file.stat", "args": {"path": "Q:\\x"}},
            "not a call",
        ]
    )
    assert [a["kind"] for a in answers] == [
        "unsupported",
        "invalid",
        "invalid",
        "invalid",
        "not_found",
        "invalid",
    ]
    assert all(a["kind"] in ERROR_KINDS and not a["ok"] for a in answers)


def test_a_failed_call_does_not_stop_the_batch(crm: SimHost) -> None:
    answers = crm.call(
        [
            {"op": "service.get", "args": {"name": "NoSuchService"}},
            {"op": "file.read", "args": {"path": "C:\\missing.txt"}},
            {"op": "host.facts", "args": {}},
        ]
    )
    assert answers[0] == {"ok": True, "value": {"exists": False, "state": "unknown", "start_mode": "unknown"}}
    assert answers[1]["kind"] == "not_found"
    assert answers[2]["value"] == {
        "os": "windows",
        "hostname": "WEB1",
        "user": "Administrator",
        "simulated": True,
        "os_name": "Microsoft Windows Server 2019 Standard",
        "os_version": "10.0.17763",
        "architecture": "x64",
        "powershell": "5.1.17763.1",
        "dotnet_release": 461814,
    }


# --- files ----------------------------------------------------------------------------------------------
def test_file_write_read_stat_hash_and_case_insensitive_names(bare: SimHost) -> None:
    ok(bare, "file.mkdir", path="C:\\Data\\Sub")
    written = ok(bare, "file.write", path="C:\\Data\\Sub\\Note.TXT", content_b64=b64(b"hello"))
    assert (
        written["changed"]
        and written["sha256"] == ok(bare, "file.hash", path="c:/data/sub/note.txt")["digest"]
    )
    assert (
        ok(bare, "file.write", path="C:\\DATA\\sub\\note.txt", content_b64=b64(b"hello"))["changed"] is False
    )
    read = ok(bare, "file.read", path="c:\\data\\SUB\\NOTE.txt", max_bytes=3)
    assert (base64.b64decode(read["content_b64"]), read["size"], read["truncated"]) == (b"hel", 5, True)
    st = ok(bare, "file.stat", path="C:\\Data\\Sub\\..\\Sub\\note.txt")
    assert st["exists"] and st["type"] == "file" and st["size"] == 5 and st["mode"] == "0644"
    assert st["owner"] == "BUILTIN\\Administrators" and st["mtime"] > EPOCH
    assert ok(bare, "file.stat", path="C:\\Data\\none")["exists"] is False
    assert ok(bare, "file.hash", path="C:\\Data\\Sub\\note.txt", algorithm="md5")["digest"] == (
        "5d41402abc4b2a76b9719d911017c592"
    )
    assert bare.snapshot()["files"]["C:\\Data\\Sub\\Note.TXT"]["size"] == 5
    fails(bare, "file.write", "not_found", path="C:\\Nowhere\\x.txt", content_b64=b64(b"x"))
    fails(bare, "file.write", "invalid", path="C:\\Data\\x.txt", content_b64="***")
    fails(bare, "file.hash", "invalid", path="C:\\Data")


def test_file_write_backup_and_read_only_attribute(bare: SimHost) -> None:
    ok(bare, "file.write", path="C:\\app.ini", content_b64=b64(b"v1"))
    result = ok(bare, "file.write", path="C:\\app.ini", content_b64=b64(b"v2"), backup=True)
    assert result["changed"] and result["backup_path"].startswith("C:\\app.ini.")
    assert base64.b64decode(ok(bare, "file.read", path=result["backup_path"])["content_b64"]) == b"v1"
    attrs = ok(bare, "file.attrs", path="C:\\app.ini", mode="0444", owner="CORP\\crmadmin")
    assert attrs["changed"] and attrs["before"]["mode"] == "0644" and attrs["after"]["mode"] == "0444"
    assert ok(bare, "file.attrs", path="C:\\app.ini", mode="0400")["changed"] is False
    fails(bare, "file.write", "denied", path="C:\\app.ini", content_b64=b64(b"v3"))
    assert ok(bare, "file.stat", path="C:\\app.ini")["owner"] == "CORP\\crmadmin"


def test_mkdir_touch_remove(bare: SimHost) -> None:
    assert ok(bare, "file.mkdir", path="C:\\a\\b\\c")["changed"] is True
    assert ok(bare, "file.stat", path="C:\\a\\b\\c")["type"] == "directory"
    assert ok(bare, "file.mkdir", path="C:\\A\\B\\C")["changed"] is False
    assert [e["path"] for e in ok(bare, "file.list", path="C:\\a")["entries"]] == ["b"]  # one folder, not two
    fails(bare, "file.mkdir", "not_found", path="C:\\x\\y", parents=False)
    assert ok(bare, "file.stat", path="C:\\x")["exists"] is False
    assert ok(bare, "file.touch", path="C:\\a\\t.txt")["changed"] is True
    touched = ok(bare, "file.stat", path="C:\\a\\t.txt")
    assert (touched["type"], touched["size"]) == ("file", 0)
    assert ok(bare, "file.touch", path="C:\\a\\t.txt")["changed"] is False
    fails(bare, "file.mkdir", "exists", path="C:\\a\\t.txt")
    fails(bare, "file.remove", "failed", path="C:\\a")
    assert ok(bare, "file.stat", path="C:\\a\\t.txt")["exists"] is True  # the refused remove removed nothing
    assert ok(bare, "file.remove", path="C:\\a", recursive=True)["changed"] is True
    assert ok(bare, "file.stat", path="C:\\a")["exists"] is False and bare.fs_bytes("C") == 0
    assert ok(bare, "file.remove", path="C:\\a")["changed"] is False


def test_copy_move_list_and_tree_hash(crm: SimHost) -> None:
    before = ok(crm, "file.tree_hash", path=CRM)
    copied = ok(crm, "file.copy", src=CRM, dest=CRM + "_backup")
    assert copied["changed"] and copied["files"] == before["files"] and copied["bytes"] == before["bytes"]
    assert ok(crm, "file.tree_hash", path=CRM + "_backup")["digest"] == before["digest"]
    assert ok(crm, "file.copy", src=CRM, dest=CRM + "_backup") == {"changed": False, "files": 0, "bytes": 0}
    fails(crm, "file.copy", "invalid", src=CRM, dest=CRM + "\\inside")
    fails(crm, "file.copy", "exists", src=CRM + "\\eware.dll", dest=CRM + "\\WWWRoot")
    listing = ok(crm, "file.list", path=CRM)["entries"]
    assert {"eware.dll", "WWWRoot", "Setup", "tomcat"} <= {e["path"] for e in listing}
    deep = ok(crm, "file.list", path=CRM, recursive=True, pattern="*.JS")["entries"]
    assert [e["path"] for e in deep] == ["WWWRoot\\js\\crm.js"] and deep[0]["type"] == "file"
    assert ok(crm, "file.move", src=CRM + "_backup", dest="C:\\Old")["changed"] is True
    assert ok(crm, "file.move", src=CRM + "_backup", dest="C:\\Old")["changed"] is False
    fails(crm, "file.move", "exists", src=CRM + "\\eware.dll", dest=CRM + "\\Setup")
    fails(crm, "file.move", "not_found", src="C:\\none", dest="C:\\none2")
    assert ok(crm, "file.tree_hash", path="C:\\old")["digest"] == before["digest"]


def test_tree_hash_is_the_documented_digest(bare: SimHost) -> None:
    import hashlib

    ok(bare, "file.mkdir", path="C:\\t\\sub")
    ok(bare, "file.write", path="C:\\t\\b.txt", content_b64=b64(b"B"))
    ok(bare, "file.write", path="C:\\t\\sub\\a.txt", content_b64=b64(b"A"))
    lines = "".join(
        f"{rel}\t{hashlib.sha256(data).hexdigest()}\n" for rel, data in [("b.txt", b"B"), ("sub/a.txt", b"A")]
    )
    assert ok(bare, "file.tree_hash", path="C:\\t") == {
        "digest": hashlib.sha256(lines.encode()).hexdigest(),
        "files": 2,
        "bytes": 2,
    }


# --- archives -------------------------------------------------------------------------------------------
def test_archive_create_verify_list_extract_round_trip(crm: SimHost) -> None:
    ok(crm, "file.mkdir", path="C:\\Backups")
    created = ok(crm, "archive.create", src=CRM, dest="C:\\Backups\\crm.zip")
    assert created["entries"] > 5 and created["size"] > 0
    verified = ok(crm, "archive.verify", path="C:\\Backups\\crm.zip")
    assert (
        verified["ok"]
        and verified["sha256"] == created["sha256"]
        and verified["entries"] == created["entries"]
    )
    names = {e["name"] for e in ok(crm, "archive.list", path="C:\\Backups\\crm.zip")["entries"]}
    assert {"eware.dll", "WWWRoot/js/crm.js", "Library/"} <= names
    extracted = ok(crm, "archive.extract", src="C:\\Backups\\crm.zip", dest="C:\\Restore\\CRM")
    assert extracted["changed"] and extracted["files"] == ok(crm, "file.tree_hash", path=CRM)["files"]
    assert (
        ok(crm, "file.tree_hash", path="C:\\Restore\\CRM")["digest"]
        == ok(crm, "file.tree_hash", path=CRM)["digest"]
    )
    assert ok(crm, "file.stat", path="C:\\Restore\\CRM\\Library")["type"] == "directory"
    assert ok(crm, "archive.extract", src="C:\\Backups\\crm.zip", dest="C:\\Restore\\CRM")["changed"] is False
    fails(crm, "archive.create", "invalid", src=CRM, dest=CRM + "\\self.zip")
    fails(crm, "archive.create", "unsupported", src=CRM, dest="C:\\Backups\\x.tgz", format="tar.gz")


def test_archives_are_deterministic(tmp_path: Path) -> None:
    digests, listings = [], []
    for name in ("one", "two", "three"):
        host = SimHost.open(tmp_path, name, {"preset": "sagecrm"})
        if name == "three":  # one byte of content differs: so must the archive
            ok(host, "file.write", path=CRM + "\\WWWRoot\\web.config", content_b64=b64(b"<configuration/>"))
        digests.append(ok(host, "archive.create", src=CRM, dest="C:\\crm.zip")["sha256"])
        listings.append(ok(host, "archive.list", path="C:\\crm.zip")["entries"])
    assert digests[0] == digests[1] != digests[2]
    assert listings[0] == listings[1] and len(listings[0]) > 5


def _zip_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bad",
    [
        ("../evil.txt", b"x", 0o644),
        ("C:/Windows/evil.txt", b"x", 0o644),
        ("/abs.txt", b"x", 0o644),
        ("link", b"../../outside", stat.S_IFLNK | 0o777),
        ("bad:name.txt", b"x", 0o644),
    ],
)
def test_archive_extract_refuses_unsafe_members_and_writes_nothing(bare: SimHost, bad: tuple) -> None:
    data = _zip_bytes([("good.txt", b"fine", 0o644), bad])
    ok(bare, "file.write", path="C:\\in.zip", content_b64=b64(data))
    listed = ok(bare, "archive.list", path="C:\\in.zip")
    assert listed["unsafe"] == [bad[0]]
    error = fails(bare, "archive.extract", "unsafe", src="C:\\in.zip", dest="C:\\out")
    assert bad[0] in error
    assert ok(bare, "file.stat", path="C:\\out")["exists"] is False


def test_archive_extract_strip_overwrite_and_corruption(bare: SimHost) -> None:
    data = _zip_bytes([("top/a.txt", b"A", 0o644), ("top/sub/b.txt", b"B", 0o644)])
    ok(bare, "file.write", path="C:\\in.zip", content_b64=b64(data))
    assert ok(bare, "archive.extract", src="C:\\in.zip", dest="C:\\out", strip=1)["files"] == 2
    assert ok(bare, "file.stat", path="C:\\out\\sub\\b.txt")["exists"]
    ok(bare, "file.write", path="C:\\out\\a.txt", content_b64=b64(b"changed"))
    fails(bare, "archive.extract", "exists", src="C:\\in.zip", dest="C:\\out", strip=1, overwrite=False)
    broken = bytearray(data)
    broken[40] ^= 0xFF
    ok(bare, "file.write", path="C:\\bad.zip", content_b64=b64(bytes(broken)))
    result = ok(bare, "archive.verify", path="C:\\bad.zip")
    assert result["ok"] is False and result["error"]
    fails(bare, "archive.verify", "not_found", path="C:\\none.zip")


# --- registry -------------------------------------------------------------------------------------------
def test_registry_get_set_types_and_case(crm64: SimHost) -> None:
    crm = crm64
    got = ok(crm, "registry.get", key="hklm:\\software\\EWARE\\config\\/crm", name="version")
    assert got == {
        "exists": True,
        "values": {"Version": {"type": "REG_SZ", "data": "7.2"}},
        "subkeys": [],
        "view": "64",
    }
    assert ok(crm, "registry.get", key="HKLM\\SOFTWARE\\eWare")["subkeys"] == ["Config", "Mappings"]
    assert ok(crm, "registry.get", key="HKLM\\SOFTWARE\\Nope") == {
        "exists": False,
        "values": {},
        "subkeys": [],
        "view": "64",
    }
    result = ok(crm, "registry.set", key=CONFIG, name="Version", data="7.3")
    assert result == {"changed": True, "before": {"type": "REG_SZ", "data": "7.2"}}
    assert ok(crm, "registry.set", key=CONFIG, name="VERSION", data="7.3")["changed"] is False
    ok(crm, "registry.set", key=CONFIG + "\\Sub", name="Port", data=10009, type="REG_DWORD")
    ok(crm, "registry.set", key=CONFIG + "\\Sub", name="Servers", data=["WEB1", "WEB2"])
    values = ok(crm, "registry.get", key=CONFIG + "\\sub")["values"]
    assert values["Port"] == {"type": "REG_DWORD", "data": 10009}
    assert values["Servers"] == {"type": "REG_MULTI_SZ", "data": ["WEB1", "WEB2"]}
    fails(crm, "registry.set", "invalid", key=CONFIG, name="X", data="text", type="REG_DWORD")
    fails(crm, "registry.get", "invalid", key="HKXX\\Software")


def test_registry_export_is_a_real_reg_file_and_import_restores(crm64: SimHost) -> None:
    crm = crm64
    ok(crm, "file.mkdir", path="C:\\Backups")
    ok(crm, "registry.set", key=CONFIG, name="Big", data=list(range(60)), type="REG_BINARY")
    ok(crm, "registry.set", key=CONFIG, name="Path", data="%ProgramFiles%\\x", type="REG_EXPAND_SZ")
    ok(crm, "registry.set", key=CONFIG, name="Q", data=1 << 40, type="REG_QWORD")
    ok(crm, "registry.set", key=CONFIG, name="", data='quote " and \\ back')
    before = crm.snapshot(exclude=["C:\\Backups"])
    exported = ok(crm, "registry.export", key=CONFIG, dest="C:\\Backups\\config.reg")
    raw = crm.read_bytes("C:\\Backups\\config.reg")
    assert raw.startswith(b"\xff\xfe") and len(raw) == exported["size"]
    text = raw[2:].decode("utf-16-le")
    assert text.startswith(
        "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM]"
    )
    assert '"Version"="7.2"' in text and "hex(2):" in text and "hex(b):" in text and ",\\\r\n  " in text
    assert '@="quote \\" and \\\\ back"' in text
    ok(crm, "registry.set", key=CONFIG, name="Version", data="7.3")
    ok(crm, "registry.set", key=CONFIG, name="Q", data=5, type="REG_QWORD")
    imported = ok(crm, "registry.import", path="C:\\Backups\\config.reg")
    assert imported == {"changed": True, "sha256": exported["sha256"], "view": "64"}
    assert crm.snapshot(exclude=["C:\\Backups"]) == before
    assert ok(crm, "registry.import", path="C:\\Backups\\config.reg")["changed"] is False


def test_registry_import_merges_and_honours_delete_markers(crm64: SimHost) -> None:
    crm = crm64
    ok(crm, "registry.set", key=CONFIG, name="Added", data="by upgrade")
    reg = (
        "Windows Registry Editor Version 5.00\r\n\r\n"
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM]\r\n"
        '"Version"="7.1"\r\n"InstallName"=-\r\n\r\n'
        "[-HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Mappings]\r\n"
    )
    crm.write_bytes("C:\\in.reg", b"\xff\xfe" + reg.encode("utf-16-le"))
    assert ok(crm, "registry.import", path="C:\\in.reg")["changed"] is True
    values = ok(crm, "registry.get", key=CONFIG)["values"]
    assert values["Version"]["data"] == "7.1" and "InstallName" not in values and "Added" in values
    assert ok(crm, "registry.get", key="HKLM\\SOFTWARE\\eWare\\Mappings")["exists"] is False
    crm.write_bytes("C:\\bad.reg", b"Windows Registry Editor Version 5.00\r\n\r\n[HKLM\\X]\r\nnonsense\r\n")
    assert "line 4" in fails(crm, "registry.import", "invalid", path="C:\\bad.reg")
    fails(crm, "registry.export", "not_found", key="HKLM\\SOFTWARE\\Nope", dest="C:\\x.reg")


# --- services and programs --------------------------------------------------------------------------
def test_service_get_and_set(crm: SimHost) -> None:
    assert ok(crm, "service.get", name="crmescalationservice") == {
        "exists": True,
        "state": "running",
        "start_mode": "auto",
        "path": SERVICES + "\\CRMEscalationService.exe",
        "account": "LocalSystem",
    }
    result = ok(crm, "service.set", name="CRMEscalationService", state="stopped", start_mode="manual")
    assert result == {
        "changed": True,
        "before": {"state": "running", "start_mode": "auto"},
        "after": {"state": "stopped", "start_mode": "manual"},
        "dependents_stopped": [],
    }
    assert ok(crm, "service.set", name="CRMEscalationService", state="stopped")["changed"] is False
    restarted = ok(crm, "service.set", name="CRMEscalationService", state="restarted")
    assert restarted["changed"] is True and restarted["after"] == {"state": "running", "start_mode": "manual"}
    ok(crm, "service.set", name="CRMIndexerService", state="stopped", start_mode="disabled")
    assert "disabled" in fails(crm, "service.set", "failed", name="CRMIndexerService", state="running")
    assert ok(crm, "service.get", name="CRMIndexerService")["state"] == "stopped"
    fails(crm, "service.set", "not_found", name="Nope", state="running")
    fails(crm, "service.set", "invalid", name="CRMIndexerService", state="sleeping")


def test_w3svc_depends_on_was_and_drives_iis(crm: SimHost) -> None:
    ok(crm, "service.set", name="WAS", state="stopped")
    assert ok(crm, "service.get", name="W3SVC")["state"] == "stopped"
    assert ok(crm, "iis.state")["service"] == "stopped"
    ok(crm, "service.set", name="W3SVC", state="running")
    assert ok(crm, "service.get", name="WAS")["state"] == "running"


def test_service_executables_install_with_i_and_remove_with_u(crm: SimHost) -> None:
    exe = SERVICES + "\\eWareEmailManager.exe"
    assert ok(crm, "service.uninstall", name="eWareEmailManager", executable=exe) == {
        "changed": True,
        "rc": 0,
    }
    assert ok(crm, "service.get", name="eWareEmailManager")["exists"] is False
    assert ok(crm, "service.uninstall", name="eWareEmailManager", executable=exe) == {
        "changed": False,
        "rc": 0,
    }
    ok(crm, "file.copy", src=SERVICES, dest=SERVICES + "_old")
    old = SERVICES + "_old\\EWAREEMAILMANAGER.EXE"
    assert ok(crm, "service.install", name="eWareEmailManager", executable=old) == {"changed": True, "rc": 0}
    got = ok(crm, "service.get", name="eWareEmailManager")
    assert got["path"] == SERVICES + "_old\\eWareEmailManager.exe" and got["state"] == "stopped"
    again = ok(crm, "process.run", argv=[old, "/i"])
    assert again["rc"] == 1 and "already exists" in again["stderr"]
    assert ok(crm, "process.run", argv=[old, "/u"])["rc"] == 0
    assert ok(crm, "process.run", argv=[old, "/u"])["rc"] == 1
    assert "9009" in fails(
        crm,
        "service.install",
        "not_found",
        name="eWareEmailManager",
        executable="C:\\nope\\eWareEmailManager.exe",
    )
    indexer = SERVICES + "\\CRMIndexerService.exe"
    assert ok(crm, "process.run", argv=[indexer, "/u"])["rc"] == 0
    assert "is not installed" in fails(crm, "service.install", "failed", name="Other", executable=indexer)
    assert ok(crm, "service.get", name="CRMIndexerService")["exists"] is True


def test_process_run_builtins_and_unknown_programs(crm: SimHost) -> None:
    unknown = ok(crm, "process.run", argv=["frobnicate.exe", "/x"])
    assert unknown["rc"] == 9009 and "is not recognized" in unknown["stderr"]
    assert ok(crm, "process.run", argv=["cmd", "/c", "exit", "3"])["rc"] == 3
    assert ok(crm, "process.run", argv=["cmd.exe", "/c", "exit 4"])["rc"] == 4
    assert ok(crm, "process.run", argv=["exit 5"], shell=True)["rc"] == 5
    assert ok(crm, "process.run", argv=["echo hello world"], shell=True)["stdout"] == "hello world\r\n"
    refused = ok(crm, "process.run", argv=["powershell.exe", "-Command", "Stop-Service W3SVC"])
    assert refused["rc"] == 1 and "not interpreted" in refused["stderr"]
    assert ok(crm, "service.get", name="W3SVC")["state"] == "running"
    stop = ok(crm, "process.run", argv=["C:\\Windows\\System32\\iisreset.exe", "/stop"])
    assert stop["rc"] == 0 and ok(crm, "iis.state")["service"] == "stopped"
    assert ok(crm, "process.run", argv=["iisreset", "/start"])["rc"] == 0
    assert ok(crm, "iis.state")["service"] == "running"
    fails(crm, "process.run", "not_found", argv=["cmd", "/c", "exit 0"], cwd="C:\\nowhere")
    fails(crm, "process.run", "invalid", argv=[])


def test_shutdown_restarts_the_host_which_goes_away_for_one_call(crm: SimHost) -> None:
    """`shutdown /r`: services back to their start modes, pending-restart markers gone, the link dropped.

    As documented: `shutdown /r` "restarts the computer after shutdown"
    (https://learn.microsoft.com/windows-server/administration/windows-commands/shutdown); "during
    system boot, the SCM starts all auto-start services and the services on which they depend"
    (https://learn.microsoft.com/windows/win32/services/automatically-starting-services); Session
    Manager carries out PendingFileRenameOperations at boot
    (https://learn.microsoft.com/sysinternals/downloads/pendmoves).
    """
    pending = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"
    manager = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"
    crm.set_registry_value(pending, "", "")
    crm.set_registry_value(manager, "PendingFileRenameOperations", ["\\??\\C:\\old.dll", ""], "REG_MULTI_SZ")
    crm.set_registry_value(manager, "BootExecute", ["autocheck autochk *"], "REG_MULTI_SZ")
    ok(crm, "service.set", name="CRMTomcat7", state="stopped")  # auto: runs again after the restart
    ok(crm, "service.set", name="CRMIndexerService", state="stopped", start_mode="disabled")
    crm.install_service("Helper", "C:\\Windows\\helper.exe", start_mode="manual")
    crm.set_service_state("Helper", "running")  # manual: stopped after the restart
    ok(crm, "service.set", name="WAS", state="stopped")  # W3SVC (auto) needs it: both run again
    assert ok(crm, "process.run", argv=["shutdown.exe", "/r", "/t", "0"]) == {"rc": 0, "stdout": "", "stderr": ""}
    with pytest.raises(ConnectionFailed, match="web1 is restarting"):
        crm.call([{"op": "host.facts", "args": {}}])
    states = {name: ok(crm, "service.get", name=name)["state"] for name in
              ("CRMTomcat7", "CRMIndexerService", "Helper", "WAS", "W3SVC", "eWareEmailManager")}  # fmt: skip
    assert states == {"CRMTomcat7": "running", "CRMIndexerService": "stopped", "Helper": "stopped",
                      "WAS": "running", "W3SVC": "running", "eWareEmailManager": "running"}  # fmt: skip
    assert ok(crm, "registry.get", key=pending)["exists"] is False
    assert set(ok(crm, "registry.get", key=manager)["values"]) == {"BootExecute"}
    assert crm.state["boots"] == 1 and crm.events()[-1]["event"].startswith("restart")
    refused = ok(crm, "process.run", argv=["shutdown", "/s"])
    assert refused["rc"] == 1 and "only restarts" in refused["stderr"]
    assert ok(crm, "host.facts")["simulated"] is True  # no restart, nothing dropped


def test_canned_programs_and_their_timeout(tmp_path: Path) -> None:
    host = SimHost.open(
        tmp_path, "h", {"programs": {"check.exe": {"rc": 2, "stdout": "warn", "duration": 30}}}
    )
    assert ok(host, "process.run", argv=["check.exe"]) == {"rc": 2, "stdout": "warn", "stderr": ""}
    fails(host, "process.run", "timeout", argv=["check"], timeout=5)


def test_registered_program_plugins_can_change_the_host(crm: SimHost) -> None:
    seen: list = []

    def installer(host: SimHost, argv: list[str], stdin: bytes) -> tuple[int, str, str]:
        seen.append((argv, stdin, host.process))
        host.set_registry_value(CONFIG, "Version", "7.3", view="32")
        host.write_bytes(CRM + "\\eware.dll", b"eware.dll Sage CRM 7.3\n")
        host.set_product("Sage CRM", "7.3")
        return 0, "upgraded", ""

    register_program("C:\\Media\\SageCRM*\\setup.exe", installer)
    try:
        argv = ["C:\\media\\SageCRM73\\SETUP.EXE", "/s"]
        result = ok(crm, "process.run", argv=argv, stdin_b64=b64(b"answers"), cwd="C:\\", env={"A": "1"})
        assert result == {"rc": 0, "stdout": "upgraded", "stderr": ""}
        line = "C:\\media\\SageCRM73\\SETUP.EXE /s"  # the command line the program gets, as on Windows
        assert seen == [(argv, b"answers", {"cwd": "C:\\", "env": {"A": "1"}, "command_line": line})]
        # a path the glob does not match is not this plug-in (other plug-ins may claim setup.exe)
        assert ok(crm, "process.run", argv=["D:\\other\\unheard-of.exe"])["rc"] == 9009
    finally:
        assert unregister_program("C:\\Media\\SageCRM*\\setup.exe")
    assert crm.registry_value(CONFIG, "version", view="32") == {"type": "REG_SZ", "data": "7.3"}
    page = ok(crm, "http.get", url="http://localhost/CRM/eware.dll/Logon")
    assert page["status"] == 200 and "Sage CRM 7.3" in page["body"]
    assert crm.snapshot()["products"] == {"Sage CRM": {"version": "7.3"}}


# --- IIS, COM, disks, network --------------------------------------------------------------------------
def test_iis_state_paths_pools_and_reset(crm: SimHost) -> None:
    state = ok(crm, "iis.state")
    assert state["apps"]["Default Web Site/CRM"] == {
        "physical_path": CRM + "\\WWWRoot",
        "pool": "CRM App Pool",
    }
    assert state["apps"]["Default Web Site/sdata"]["pool"] == "CRMRewriter App Pool"
    assert ok(crm, "iis.get_path", site="Default Web Site", app="/CRM") == {
        "physical_path": CRM + "\\WWWRoot"
    }
    result = ok(crm, "iis.set_path", site="default web site", app="crm", path=CRM + "_backup\\WWWRoot")
    assert result == {"changed": True, "before": CRM + "\\WWWRoot"}
    assert (
        ok(crm, "iis.set_path", site="Default Web Site", app="CRM", path=CRM + "_BACKUP\\WWWRoot")["changed"]
        is False
    )
    fails(crm, "iis.get_path", "not_found", site="Default Web Site", app="Nope")
    assert ok(crm, "iis.set_state", kind="pool", name="CRM App Pool", state="stopped") == {
        "changed": True,
        "before": "started",
        "workers_exited": [],
    }
    fails(crm, "iis.recycle", "failed", pool="CRM App Pool")
    ok(crm, "iis.set_state", kind="pool", name="crm app pool", state="started")
    assert ok(crm, "iis.recycle", pool="CRM App Pool") == {"changed": True}
    fails(crm, "iis.recycle", "not_found", pool="Nope")
    fails(crm, "iis.set_state", "invalid", kind="farm", name="x", state="started")
    assert ok(crm, "iis.reset", action="stop") == {"changed": True, "before": "running"}
    assert ok(crm, "iis.reset", action="stop") == {"changed": False, "before": "stopped"}
    assert ok(crm, "iis.reset", action="restart") == {"changed": True, "before": "stopped"}
    assert ok(crm, "iis.state")["service"] == "running"


def test_http_follows_the_iis_model(crm: SimHost) -> None:
    page = ok(crm, "http.get", url="http://localhost/CRM/eware.dll/Logon")
    assert page["status"] == 200 and "Sage CRM 7.2" in page["body"] and page["elapsed"] == 0.0
    assert ok(crm, "http.get", url="http://WEB1/crm/js/crm.js", max_bytes=10)["body"] == "// Sage CR"
    assert ok(crm, "http.get", url="http://localhost/nothing-here")["status"] == 404
    ok(crm, "iis.set_state", kind="pool", name="CRM App Pool", state="stopped")
    assert ok(crm, "http.get", url="http://localhost/CRM/")["status"] == 503
    ok(crm, "iis.reset", action="stop")
    assert "Unable to connect" in fails(crm, "http.get", "failed", url="http://localhost/CRM/")
    fails(crm, "http.get", "failed", url="http://example.com/")


def test_canned_http_answers(tmp_path: Path) -> None:
    canned = {"status": 202, "body": "licence accepted", "headers": {"X-Licence": "ok"}}
    host = SimHost.open(tmp_path, "h", {"http": {"https://licence.example/ok": canned}})
    assert ok(host, "http.get", url="https://licence.example/ok") == {
        "status": 202,
        "headers": {"X-Licence": "ok"},
        "body": "licence accepted",
        "elapsed": 0.0,
    }
    assert "could not be resolved" in fails(host, "http.get", "failed", url="https://licence.example/other")


def test_file_acl_reads_a_folders_rules(crm: SimHost) -> None:
    # a folder whose ACL the preset does not model answers the restrictive default (simulation/acl.py)
    acl = ok(crm, "file.acl", path=CRM)
    assert acl["exists"] is True and acl["owner"] == "BUILTIN\\Administrators"
    assert [(r["identity"], r["type"]) for r in acl["rules"]] == [
        ("BUILTIN\\Administrators", "allow"), ("NT AUTHORITY\\SYSTEM", "allow"), ("BUILTIN\\Users", "allow")]  # fmt: skip
    assert ok(crm, "file.acl", path=CRM + "\\nothing") == {"exists": False, "owner": None, "rules": []}


def test_dll_register_unregister_and_lookup(crm: SimHost) -> None:
    dll = CRM + "\\eware.dll"
    assert ok(crm, "dll.registered", clsid_name="eWare.eWare") == {"registered": True, "path": dll}
    ok(crm, "file.copy", src=CRM, dest=CRM + "_backup")
    old = CRM + "_backup\\EWARE.DLL"
    result = ok(crm, "dll.register", path=old)
    assert result == {"changed": True, "rc": 0, "registered_path": CRM + "_backup\\eware.dll", "machine": "x86",
                      "regsvr32": "C:\\Windows\\SysWOW64\\regsvr32.exe"}  # fmt: skip
    assert ok(crm, "dll.registered", clsid_name="EWARE.EWARE")["path"] == CRM + "_backup\\eware.dll"
    assert ok(crm, "dll.register", path=old)["changed"] is False
    assert ok(crm, "dll.register", path=old, unregister=True)["changed"] is True
    assert ok(crm, "dll.registered", clsid_name="eWare.eWareSelfService") == {
        "registered": False,
        "path": None,
    }
    fails(crm, "dll.register", "not_found", path="C:\\nope\\eware.dll")
    crm.write_bytes("C:\\plain.dll", b"MZ")
    assert "entry-point" in fails(crm, "dll.register", "failed", path="C:\\plain.dll")
    silent = ok(crm, "process.run", argv=["regsvr32", "/s", dll])
    assert silent == {"rc": 0, "stdout": "", "stderr": ""}
    assert ok(crm, "dll.registered", clsid_name="eWare.eWare")["path"] == dll


def test_disk_free_writes_consume_and_disk_full(bare: SimHost) -> None:
    assert ok(bare, "disk.free", path="C:\\") == {"free": 8_000, "total": 10_000}
    ok(bare, "file.write", path="C:\\f.bin", content_b64=b64(b"x" * 3_000))
    assert ok(bare, "disk.free", path="c:\\anything\\below")["free"] == 5_000
    assert "not enough space" in fails(
        bare, "file.write", "no_space", path="C:\\g.bin", content_b64=b64(b"x" * 6_000)
    )
    fault = bare.add_fault({"disk_full": "C:"})
    assert ok(bare, "disk.free", path="C:\\")["free"] == 0
    fails(bare, "file.write", "no_space", path="C:\\tiny.txt", content_b64=b64(b"1"))
    fails(bare, "file.copy", "no_space", src="C:\\f.bin", dest="C:\\f2.bin")
    assert bare.clear_faults(fault) == 1
    assert ok(bare, "file.write", path="C:\\tiny.txt", content_b64=b64(b"1"))["changed"]
    bare.set_disk("D", total=1_000, free=1_000)
    assert ok(bare, "disk.free", path="D:\\") == {"free": 1_000, "total": 1_000}
    fails(bare, "disk.free", "not_found", path="E:\\")


def test_net_port_follows_services_and_other_sim_hosts(tmp_path: Path) -> None:
    web = SimHost.open(tmp_path, "web1", {"preset": "sagecrm", "roles": ["web"]})
    db = SimHost.open(tmp_path, "db1", {"preset": "sagecrm", "roles": ["db"], "hostname": "SQL01"})
    assert ok(web, "net.port", port=80) == {"open": True}
    assert ok(web, "net.port", port=10009)["open"] is True
    assert ok(web, "net.port", port=1433, address="sql01") == {"open": True}
    ok(db, "service.set", name="MSSQLSERVER", state="stopped")
    assert ok(web, "net.port", port=1433, address="db1") == {"open": False}
    assert ok(web, "net.port", port=1433, address="elsewhere") == {"open": False}
    ok(web, "service.set", name="W3SVC", state="stopped")
    assert ok(web, "net.port", port=80)["open"] is False
    fails(web, "net.port", "invalid", port=70000)


# --- presets ------------------------------------------------------------------------------------------
def test_sagecrm_preset_builds_a_realistic_server(crm: SimHost) -> None:
    snap = crm.snapshot()
    files = snap["files"]
    for path in ("eware.dll", "WWWRoot\\js\\crm.js", "Setup", "Library", "tomcat\\bin\\tomcat7.exe"):
        assert CRM + "\\" + path in files, path
    assert SERVICES + "\\IISUtils\\CRMRewriter\\web.config" in files
    registry = snap["registry"]
    config = registry["HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\eWare\\Config\\/CRM"]
    assert {k: v["data"] for k, v in config.items() if k.startswith("Default")} == {
        "DefaultDatabase": "CRM",
        "DefaultDatabaseServer": "DBSERVER",
    }
    assert "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\eWare\\Mappings" in registry
    assert set(snap["services"]) == {
        "W3SVC",
        "WAS",
        "CRMTomcat7",
        "eWareEmailManager",
        "CRMEscalationService",
        "CRMIndexerService",
    }
    assert snap["com"]["classes"]["eWare.eWare"] == CRM + "\\eware.dll"
    assert snap["products"] == {"Sage CRM": {"version": "7.2"}}


def test_sagecrm_preset_options_and_roles(tmp_path: Path) -> None:
    host = SimHost.open(
        tmp_path,
        "db1",
        {
            "preset": "sagecrm",
            "install_name": "Sales",
            "version": "7.1",
            "roles": ["db", "escalation", "dtls"],
        },
    )
    snap = host.snapshot()
    assert set(snap["services"]) == {"MSSQLSERVER", "CRMEscalationService"}
    assert snap["iis"] is None and snap["disks"]["D"]["total"] > 0
    key = "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\eWare\\Config\\/Sales"
    assert snap["registry"][key]["Version"]["data"] == "7.1"
    assert "C:\\Program Files (x86)\\Sage\\CRM\\Sales\\eware.dll" in snap["files"]
    fails(host, "iis.state", "not_found")


def test_plain_initial_and_overlay_on_a_preset(tmp_path: Path) -> None:
    host = SimHost.open(
        tmp_path,
        "h",
        {
            "files": {
                "C:\\App\\a.txt": "alpha",
                "C:\\App\\b.bin": {"content_b64": b64(b"\0\1"), "mode": "0444"},
            },
            "directories": ["C:\\Empty"],
            "services": {"Svc": {"state": "stopped", "start_mode": "manual", "path": "C:\\App\\svc.exe"}},
            "registry": {
                "HKLM\\SOFTWARE\\Acme": {"Name": "x", "Count": 3, "Raw": {"type": "REG_BINARY", "data": [1]}}
            },
            "iis": {
                "sites": {"S": "started"},
                "pools": {"P": "started"},
                "apps": {"S/": {"physical_path": "C:\\App", "pool": "P"}},
            },
        },
    )
    assert ok(host, "file.stat", path="C:\\App\\b.bin")["mode"] == "0444"
    assert (
        ok(host, "registry.get", key="HKLM\\SOFTWARE\\Acme", name="Count")["values"]["Count"]["type"]
        == "REG_DWORD"
    )
    assert ok(host, "service.get", name="svc")["state"] == "stopped"
    assert ok(host, "http.get", url="http://localhost/a.txt")["body"] == "alpha"
    crm = SimHost.open(tmp_path, "c", {"preset": "sagecrm", "services": {"CRMTomcat7": {"state": "stopped"}}})
    assert ok(crm, "service.get", name="CRMTomcat7")["state"] == "stopped"
    assert ok(crm, "service.get", name="CRMTomcat7")["path"].endswith("tomcat7.exe")


def test_a_preset_is_found_by_name_or_dotted_path_and_names_the_known_ones(tmp_path: Path) -> None:
    host = SimHost.open(tmp_path, "g1", {"preset": "tests.support.sim_preset", "greeting": "bonjour",
                                         "roles": ["web"], "services": {"Greeter": {"state": "stopped"}}})  # fmt: skip
    assert host.read_bytes("C:\\hello.txt") == b"bonjour from g1 (web)"
    assert host.service("Greeter")["state"] == "stopped"  # explicit sections are laid over the preset
    with pytest.raises(UserError) as caught:
        SimHost.open(tmp_path, "g2", {"preset": "oracle"})
    assert caught.value.problems[0].hint == "known presets: 'sagecrm'"
    with pytest.raises(UserError, match="unknown key 'install_name'"):
        SimHost.open(tmp_path, "g3", {"preset": "tests.support.sim_preset", "install_name": "CRM"})


def test_the_sagecrm_preset_plugs_in_its_installer_in_every_process(tmp_path: Path) -> None:
    """The preset writes its plug-in into the host state; a fresh process opening the host has setup.exe."""
    media = "C:\\Install\\SageCRM73"
    initial = {"preset": "sagecrm", "plugins": ["simulation.sagecrm.plugin"], "files": {
        f"{media}\\setup.exe": "Sage CRM 7.3 setup (simulation)\n",
        f"{media}\\web.iss": "[SageCRM]\nMode=Upgrade\nInstallName=CRM\nLicenceKey=K\nDatabase=No\n",
    }}  # fmt: skip
    host = SimHost.open(tmp_path, "web1", initial)
    assert host.state["plugins"] == ["simulation.sagecrm.plugin"]  # listed twice, loaded once
    unregister_program("setup.exe")  # as if this process had never loaded it
    argv = [f"{media}\\setup.exe", "/s", f"/f1{media}\\web.iss"]
    child = textwrap.dedent(
        """
        import json, sys
        from simulation.host import SimHost
        host = SimHost.open(sys.argv[1], "web1")
        print(host.call([{"op": "process.run", "args": {"argv": json.loads(sys.argv[2])}}])[0]["value"]["rc"])
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path), json.dumps(argv)], cwd=REPO, capture_output=True, text=True
    )
    assert (run.returncode, run.stdout.strip()) == (0, "0"), run.stderr
    reopened = SimHost.open(tmp_path, "web1")  # this process gets it back when it opens the host
    assert reopened.registry_value(CONFIG, "Version", view="32")["data"] == "7.3"
    again = ok(reopened, "process.run", argv=argv)  # the installer answers in this process too
    assert again["rc"] == 1 and "already at version 7.3" in again["stderr"]


@pytest.mark.parametrize(
    ("initial", "words"),
    [
        ({"servises": {}}, "did you mean 'services'"),
        ({"preset": "oracle"}, "unknown preset"),
        ({"install_name": "CRM"}, "needs `preset: sagecrm`"),
        ({"files": {"relative.txt": "x"}}, "must be absolute"),
        ({"services": {"S": {"state": "flying"}}}, "state is one of"),
        ({"faults": [{"op": "file.*", "mode": "sometimes"}]}, "mode must be one of"),
        ({"faults": [{"op": "file.*", "kind": "fialed"}]}, "did you mean 'failed'"),
    ],
)
def test_bad_initial_is_a_user_error(tmp_path: Path, initial: dict, words: str) -> None:
    with pytest.raises(UserError) as caught:
        SimHost.open(tmp_path, "bad", initial)
    assert words in str(caught.value)


# --- faults --------------------------------------------------------------------------------------------
def test_fault_once_always_after_and_clearing(crm: SimHost) -> None:
    crm.add_fault(
        {"op": "service.set", "match": {"name": "w3svc"}, "mode": "once", "kind": "denied", "error": "no"}
    )
    assert answer(crm, "service.set", name="W3SVC", state="running") == {
        "ok": False,
        "error": "no",
        "kind": "denied",
    }
    assert answer(crm, "service.set", name="W3SVC", state="running")["ok"] is True
    assert answer(crm, "service.set", name="WAS", state="running")["ok"] is True
    always = crm.add_fault({"op": "iis.*", "mode": "always"})
    for _ in range(3):
        assert answer(crm, "iis.state")["kind"] == "failed"
    assert crm.clear_faults(always) == 1 and answer(crm, "iis.state")["ok"]
    crm.add_fault({"op": "file.stat", "mode": "after", "count": 2, "kind": "timeout"})
    kinds = [answer(crm, "file.stat", path="C:\\")["ok"] for _ in range(4)]
    assert kinds == [True, True, False, False]
    assert [f["hits"] for f in crm.faults()] == [2, 4]
    crm.add_fault({"op": "file.read", "mode": "once", "count": 2})
    assert [answer(crm, "file.read", path=CRM + "\\eware.dll")["ok"] for _ in range(3)] == [
        False,
        False,
        True,
    ]
    assert crm.clear_faults() == 3 and crm.faults() == []  # the once rule, the after rule, this one


def test_faults_persist_across_processes_and_clearing_is_seen(tmp_path: Path) -> None:
    rule = {"op": "service.set", "mode": "always", "kind": "failed"}
    first = SimHost.open(tmp_path, "web1", {"preset": "sagecrm"}, faults=[rule])
    assert answer(first, "service.set", name="W3SVC", state="stopped")["kind"] == "failed"
    again = SimHost.open(tmp_path, "web1", {"preset": "sagecrm"}, faults=[rule])
    assert again.faults()[0]["hits"] == 1
    again.clear_faults()
    reopened = SimHost.open(tmp_path, "web1", {"preset": "sagecrm"}, faults=[rule])
    assert reopened.faults() == [] and answer(reopened, "service.set", name="W3SVC", state="stopped")["ok"]


def test_connection_fault_drops_after_the_earlier_calls_happened(crm: SimHost) -> None:
    crm.add_fault({"op": "iis.reset", "kind": "connection", "error": "link lost"})
    with pytest.raises(ConnectionFailed, match="link lost"):
        crm.call(
            [
                {"op": "service.set", "args": {"name": "CRMTomcat7", "state": "stopped"}},
                {"op": "iis.reset", "args": {"action": "stop"}},
                {"op": "service.set", "args": {"name": "CRMIndexerService", "state": "stopped"}},
            ]
        )
    reopened = SimHost.open(crm.state_file.parent.parent, "web1")
    assert ok(reopened, "service.get", name="CRMTomcat7")["state"] == "stopped"
    assert ok(reopened, "service.get", name="CRMIndexerService")["state"] == "running"
    assert ok(reopened, "iis.state")["service"] == "running"


def test_latency_past_the_timeout_is_a_task_timeout(crm: SimHost) -> None:
    crm.add_fault({"op": "iis.reset", "mode": "always", "latency": 30})
    with pytest.raises(TaskTimeout):
        crm.call([{"op": "iis.reset", "args": {"action": "stop"}}], timeout=0.01)
    assert ok(crm, "iis.state")["service"] == "running"


def test_match_on_argv_and_env_works_as_documented(bare: SimHost) -> None:
    """docs/simulation.md, Faults: a string is a glob over the command line, a list goes item by item."""
    setup = ["C:\\Install\\SageCRM73\\setup.exe", "/s", "/f1C:\\Install\\SageCRM73\\upgrade-db.iss"]
    bare.add_fault({"op": "process.run", "match": {"argv": "*\\SETUP.EXE /s *"}, "mode": "always"})
    assert answer(bare, "process.run", argv=setup)["kind"] == "failed"
    assert answer(bare, "process.run", argv=["cmd", "/c", "echo", "setup.exe"])["ok"] is True
    bare.clear_faults()
    bare.add_fault({"op": "process.run", "match": {"argv": ["*setup.exe", "/S"]}, "mode": "always"})
    assert answer(bare, "process.run", argv=setup)["kind"] == "failed"  # more items than the rule: fine
    assert answer(bare, "process.run", argv=[setup[0]])["ok"] is True  # fewer: not this call
    assert answer(bare, "process.run", argv=[setup[0], "/q"])["ok"] is True
    bare.clear_faults()
    bare.add_fault({"op": "process.run", "match": {"env": {"CUTOVER_*": "*.sqlite"}}, "mode": "always"})
    # an env *key* is matched by name, not as a glob: this rule names no key the call has
    assert answer(bare, "process.run", argv=["cmd", "/c", "exit 0"], env={"CUTOVER_X": "a.sqlite"})["ok"]
    bare.clear_faults()
    bare.add_fault({"op": "process.run", "match": {"env": {"DB": "*.SQLITE"}}, "mode": "always"})
    assert answer(bare, "process.run", argv=["cmd", "/c", "exit 0"], env={"DB": "C:\\crm.sqlite"})["ok"] is False
    assert answer(bare, "process.run", argv=["cmd", "/c", "exit 0"], env={"DB": "C:\\crm.mdf"})["ok"] is True
    assert [rule["hits"] for rule in bare.faults()] == [1]  # the call without DB in env did not count


def test_a_match_on_an_argument_the_primitive_does_not_have_is_refused(bare: SimHost) -> None:
    with pytest.raises(UserError, match="process.run has no argument 'args', so the rule would never match"):
        bare.add_fault({"op": "process.run", "match": {"args": ["setup.exe"]}})
    with pytest.raises(UserError, match="did you mean 'argv'"):
        bare.add_fault({"op": "process.run", "match": {"arg": "x"}})
    assert bare.add_fault({"op": "process.*", "match": {"anything": 1}})  # a glob may name several


def test_an_inventory_fault_on_argv_fails_the_matching_task(tmp_path: Path) -> None:
    """The same rule written in YAML, through `cutover run`: the installer call fails, the other runs."""
    inventory = write_yaml(
        tmp_path / "inventory.yml",
        {
            "estate": "argv-fault",
            "hosts": {"web1": {"connection": "sim", "sim": {
                "initial": {"programs": {"setup.exe": {"rc": 0}, "tool.exe": {"rc": 0}}},
                "faults": [{"op": "process.run", "match": {"argv": "setup.exe /s*"}, "mode": "always",
                            "error": "the installer crashed (injected)"}],
            }}},
        },
    )  # fmt: skip
    playbook = write_yaml(
        tmp_path / "play.yml",
        [{"hosts": "web1", "tasks": [
            {"name": "other tool", "command": "tool.exe /s"},
            {"name": "installer", "command": "setup.exe /s /f1answers.iss"},
        ]}],
    )  # fmt: skip
    result = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report", "--output", "jsonl"], tmp_path)
    assert result.rc == 1, result.out + result.err
    ended = {e["task"]: e for e in result.events() if e["event"] == "node_ended"}
    assert ended["other tool"]["status"] == "changed"
    assert ended["installer"]["status"] == "failed"
    assert "the installer crashed (injected)" in ended["installer"]["error"]


# --- persistence, snapshot, reset ----------------------------------------------------------------------
def test_state_persists_across_opens(tmp_path: Path) -> None:
    first = SimHost.open(tmp_path, "web1", {"preset": "sagecrm"})
    ok(first, "service.set", name="W3SVC", state="stopped")
    ok(first, "file.write", path="C:\\marker.txt", content_b64=b64(b"m"))
    second = SimHost.open(tmp_path, "web1", {"preset": "sagecrm", "version": "9.9"})
    assert ok(second, "service.get", name="W3SVC")["state"] == "stopped"
    assert ok(second, "registry.get", key=CONFIG, name="Version", view="32")["values"]["Version"]["data"] == "7.2"
    assert second.snapshot() == first.snapshot()
    assert (tmp_path / "sim" / "web1.json").is_file() and (tmp_path / "sim" / "web1" / "fs" / "C").is_dir()
    ok(second, "service.set", name="WAS", state="stopped")
    assert ok(first, "service.get", name="WAS")["state"] == "stopped"


_CHILD = textwrap.dedent(
    """
    import sys
    from simulation.host import SimHost
    host = SimHost.open(sys.argv[1], "web1")
    for i in range(int(sys.argv[3])):
        answers = host.call([{"op": "registry.set",
                              "args": {"key": "HKLM\\\\SOFTWARE\\\\Load", "name": sys.argv[2] + str(i), "data": i}}])
        assert answers[0]["ok"], answers
    """
)


def test_state_is_shared_with_other_processes_under_a_lock(tmp_path: Path) -> None:
    host = SimHost.open(tmp_path, "web1", {"preset": "sagecrm"})
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), tag, "12"], cwd=REPO) for tag in "ab"
    ]
    for i in range(12):
        ok(host, "registry.set", key="HKLM\\SOFTWARE\\Load", name=f"p{i}", data=i)
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    values = ok(host, "registry.get", key="HKLM\\SOFTWARE\\Load")["values"]
    assert len(values) == 36
    saved = json.loads((tmp_path / "sim" / "web1.json").read_text())
    assert len(saved["registry"]["HKEY_LOCAL_MACHINE\\SOFTWARE\\Load"]) == 36


def test_snapshot_equal_after_a_change_and_its_reversal(crm: SimHost) -> None:
    before = crm.snapshot()
    ok(crm, "iis.set_path", site="Default Web Site", app="CRM", path="C:\\elsewhere")
    ok(crm, "service.set", name="eWareEmailManager", state="stopped")
    ok(crm, "file.write", path=CRM + "\\eware.dll", content_b64=b64(b"new dll"))
    ok(crm, "file.write", path="C:\\backup.txt", content_b64=b64(b"kept"))
    changed = crm.snapshot()
    assert changed != before
    assert changed["files"][CRM + "\\eware.dll"]["sha256"] != before["files"][CRM + "\\eware.dll"]["sha256"]
    ok(crm, "iis.set_path", site="Default Web Site", app="CRM", path=CRM + "\\WWWRoot")
    ok(crm, "service.set", name="eWareEmailManager", state="running")
    assert crm.path(CRM + "\\EWARE.DLL").read_bytes() == b"new dll"  # the real file behind the path
    ok(crm, "file.copy", src="C:\\backup.txt", dest="C:\\b2.txt")
    crm.reset()
    assert crm.snapshot() == before
    assert crm.snapshot(exclude=["c:\\program files (x86)"])["files"] == {}


def test_reset_rebuilds_from_the_seed_and_restores_seed_faults(tmp_path: Path) -> None:
    host = SimHost.open(tmp_path, "web1", {"preset": "sagecrm"}, faults=[{"op": "x.*", "mode": "always"}])
    fresh = host.snapshot()
    ok(host, "file.remove", path=CRM, recursive=True)
    host.clear_faults()
    host.reset()
    assert host.snapshot() == fresh and len(host.faults()) == 1
    assert host.events() == []


def test_clock_is_deterministic(tmp_path: Path) -> None:
    stamps = []
    for name in ("a", "b"):
        host = SimHost.open(tmp_path, name, {"preset": "sagecrm"})
        ok(host, "file.write", path="C:\\x.txt", content_b64=b64(b"x"))
        stamps.append((ok(host, "file.stat", path="C:\\x.txt")["mtime"], host.events()))
    assert stamps[0] == stamps[1] and stamps[0][0] == EPOCH + 1


# --- the connection -----------------------------------------------------------------------------------
def _sim_host(**sim: object) -> Host:
    return Host(name="web1", address="web1", connection="sim", roles=("web", "email"), settings={"sim": sim})


def test_sim_connection_opens_calls_and_says_it_is_a_simulation(tmp_path: Path) -> None:
    conn = connection_for(_sim_host(initial={"preset": "sagecrm"}), state_dir=str(tmp_path))
    assert (conn.platform, conn.simulated) == ("windows", True) and "simulation" in conn.label
    assert Remote(conn).simulated is True and Remote(conn).platform == "windows"
    with conn:
        answers = conn.call(
            [{"op": "host.facts", "args": {}}, {"op": "service.get", "args": {"name": "W3SVC"}}]
        )
        assert answers[0]["value"]["simulated"] is True and answers[1]["value"]["state"] == "running"
        services = conn.call([{"op": "service.get", "args": {"name": "CRMEscalationService"}}])
        assert services[0]["value"]["exists"] is False  # roles came from the inventory host
    conn.close()
    with pytest.raises(ConnectionFailed):
        conn.call([{"op": "host.facts", "args": {}}])


def test_sim_connection_faults_and_latency_from_settings(tmp_path: Path) -> None:
    rule = {"op": "host.facts", "kind": "connection", "mode": "once"}
    conn = connection_for(_sim_host(initial={}, faults=[rule]), state_dir=str(tmp_path))
    conn.open()
    with pytest.raises(ConnectionFailed):
        conn.call([{"op": "host.facts", "args": {}}])
    assert conn.call([{"op": "host.facts", "args": {}}])[0]["ok"] is True
    slow = connection_for(_sim_host(initial={}, latency=30), state_dir=str(tmp_path / "slow"))
    slow.open()
    with pytest.raises(TaskTimeout):
        slow.call([{"op": "host.facts", "args": {}}], timeout=0.01)
    with pytest.raises(UserError, match="unknown sim setting"):
        connection_for(_sim_host(initail={}), state_dir=str(tmp_path)).open()


def test_plugins_listed_in_the_state_are_imported_by_a_new_process(tmp_path: Path) -> None:
    SimHost.open(tmp_path, "h", {"plugins": ["tests.support.sim_programs"]})
    child = textwrap.dedent(
        """
        import sys
        from simulation.host import SimHost
        host = SimHost.open(sys.argv[1], "h")
        print(host.call([{"op": "process.run", "args": {"argv": ["cutover-hello.exe", "sim"]}}])[0]["value"]["stdout"])
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello sim"
    assert SimHost.open(tmp_path, "h").read_bytes("C:\\HELLO.TXT") == b"sim"
    with pytest.raises(UserError, match="cannot be imported"):
        SimHost.open(tmp_path, "p", {"plugins": ["tests.support.no_such_plugin"]})


def test_the_documented_installer_plugin_works(crm: SimHost) -> None:
    doc = (REPO / "docs" / "simulation.md").read_text(encoding="utf-8")
    section = doc.split("### Writing a program plug-in", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/simulation.md", "exec"), {})
    try:
        assert ok(crm, "process.run", argv=["D:\\media\\setup.exe"])["rc"] == 1
        assert ok(crm, "process.run", argv=["D:\\media\\SETUP.EXE", "/s"]) == {
            "rc": 0,
            "stdout": "",
            "stderr": "",
        }
        assert crm.registry_value(CONFIG, "Version", view="32")["data"] == "7.3"
        assert "Sage CRM 7.3" in ok(crm, "http.get", url="http://localhost/CRM/eware.dll")["body"]
        assert ok(crm, "file.stat", path=CRM + "\\Setup\\UPGRADELOG.HTML")["exists"]
    finally:
        assert unregister_program("setup.exe")


def test_lock_markers_answer_as_lock_ps1_does(crm: SimHost) -> None:
    """Estate lock markers (engine/connect/remote/powershell/lock.ps1): one holder per path, compared
    as Windows compares paths; another run's marker is neither taken, beaten nor released."""
    path = "C:\\ProgramData\\cutover\\locks\\crm.lock"
    mine = {"run_id": "r1", "operator": "op", "heartbeat": "t0"}
    assert ok(crm, "lock.inspect", path=path) == {"exists": False, "holder": None}
    assert ok(crm, "lock.take", path=path, holder=mine) == {"taken": True, "again": False, "holder": mine, "path": path}
    other = ok(crm, "lock.take", path=path.upper(), holder={"run_id": "r2"})
    assert (other["taken"], other["holder"]) == (False, mine)
    assert ok(crm, "lock.take", path=path, holder=mine)["again"] is True
    assert ok(crm, "lock.beat", path=path, run_id="r2", heartbeat="t1")["beat"] is False
    assert ok(crm, "lock.beat", path=path, run_id="r1", heartbeat="t1")["holder"]["heartbeat"] == "t1"
    assert "held by run r1, not r2" in fails(crm, "lock.release", "exists", path=path, run_id="r2")
    assert ok(crm, "lock.release", path=path, run_id="r2", force=True)["changed"] is True
    assert ok(crm, "lock.release", path=path, run_id="r1") == {"changed": False, "holder": None}
    fails(crm, "lock.take", "not_found", path="Q:\\locks\\crm.lock", holder=mine)
    fails(crm, "lock.take", "invalid", path=path, holder={"operator": "no run id"})


def test_this_file_exercises_every_sim_primitive() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [name for name in OPS if f'"{name}"' not in source]
    assert missing == []


def test_registry_import_replace_removes_values_added_since_the_export(tmp_path) -> None:
    from simulation.host import SimHost

    host = SimHost.open(tmp_path, "reg", initial={"registry": {"HKLM\\SOFTWARE\\eWare\\Config\\/CRM": {
        "Version": {"type": "REG_SZ", "data": "7.2"}}}})
    key = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
    [exported] = host.call([{"op": "registry.export", "args": {"key": key, "dest": "C:\\b.reg"}}])
    assert exported["ok"], exported
    host.call([{"op": "registry.set", "args": {"key": key, "name": "Added", "data": "x"}},
               {"op": "registry.set", "args": {"key": key, "name": "Version", "data": "7.3"}}])
    [merged] = host.call([{"op": "registry.import", "args": {"path": "C:\\b.reg"}}])
    assert merged["ok"]
    [after_merge] = host.call([{"op": "registry.get", "args": {"key": key}}])
    assert "Added" in after_merge["value"]["values"]  # reg import alone merges
    [replaced] = host.call([{"op": "registry.import", "args": {"path": "C:\\b.reg", "replace": True}}])
    assert replaced["ok"]
    [after] = host.call([{"op": "registry.get", "args": {"key": key}}])
    assert set(after["value"]["values"]) == {"Version"}
    assert after["value"]["values"]["Version"]["data"] == "7.2"


def test_two_simhosts_on_one_state_dir_see_each_other_through_the_caches(tmp_path: Path) -> None:
    """What one process keeps between calls (the state read last, the drive folders, a name found
    by one lstat) is checked again on every call, so a second `SimHost` of the host (a `resume`,
    the WinRM test endpoint) and the first see each other's changes; a read-only call writes nothing."""
    first, second = SimHost.open(tmp_path, "h1"), SimHost.open(tmp_path, "h1")
    state = first.state_file
    written_before = (state.stat().st_ino, state.stat().st_mtime_ns)
    assert ok(first, "file.stat", path="C:\\Data\\Report.TXT") == {"exists": False}
    assert (state.stat().st_ino, state.stat().st_mtime_ns) == written_before  # nothing changed, nothing saved

    ok(second, "file.mkdir", path="C:\\DATA")
    ok(second, "file.write", path="C:\\DATA\\Report.TXT", content_b64=b64(b"hello"))
    seen = ok(first, "file.stat", path="c:\\data\\report.txt")
    assert (seen["exists"], seen["type"], seen["size"]) == (True, "file", 5)
    assert ok(first, "file.stat", path="C:\\DATA\\Report.TXT")["mtime"] == seen["mtime"]

    first.install_service("CutoverProbe", "C:\\probe.exe")
    assert second.service("cutoverprobe") is not None  # the state the first one saved is read again
    ok(first, "file.remove", path="C:\\data", recursive=True)
    assert ok(second, "file.stat", path="C:\\DATA\\Report.TXT") == {"exists": False}
    assert ok(second, "file.stat", path="C:\\DATA") == {"exists": False}
