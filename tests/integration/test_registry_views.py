"""Registry views: a 32-bit Sage CRM on 64-bit Windows keeps its keys where 64-bit readers do not look.

On 64-bit Windows the registry redirector gives 32-bit programs their own view of HKLM\\SOFTWARE,
stored under HKLM\\SOFTWARE\\WOW6432Node ("Registry Redirector",
https://learn.microsoft.com/windows/win32/winprog64/registry-redirector). The helper runs in the
64-bit PowerShell, so before this was handled every registry primitive read and wrote the 64-bit
view, where a 32-bit Sage CRM has no keys: preflight found no install, and a rollback's `reg import`
(which names keys as the exporting view showed them) wrote into the wrong view. The primitives
now take a `view` (RegistryView.Registry32/Registry64, `reg.exe /reg:32|/reg:64`: "Specifies the
key should be accessed using the 32-bit registry view", https://learn.microsoft.com/windows-server/
administration/windows-commands/reg-import), the modules find the view that holds a key, record it
with the export and import into it, and the inventory can name it (`sagecrm.registry_view`).

The simulated hosts model both layouts: x64 with the keys in the 32-bit view (what a real server
has, and the `sagecrm` preset's default), the keys in the 64-bit view, and a 32-bit Windows where
the two views are one ("If you request a 64-bit view on a 32-bit operating system, the returned
keys will be in the 32-bit view", https://learn.microsoft.com/dotnet/api/microsoft.win32.registryview).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.module import Artifact, RunContext
from engine.connect.sim import SimConnection
from simulation.host import SimHost
from tests.support.modharness import run_module
from tests.support.sagecrm_estates import SimEstate, differences, inventory_doc
from tests.support.sim_hosts import sagecrm_server

CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
PHYSICAL_32 = "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\eWare\\Config\\/CRM"
PHYSICAL_64 = "HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM"


def ok(host: SimHost, op: str, **args: Any) -> Any:
    [answer] = host.call([{"op": op, "args": args}])
    assert answer["ok"], answer
    return answer["value"]


def connection(tmp_path: Path, **initial: Any) -> SimConnection:
    return sagecrm_server(tmp_path, **initial)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[SimConnection]:
    """A 64-bit Windows server with the 32-bit Sage CRM, as real ones are."""
    opened = connection(tmp_path)
    yield opened
    opened.close()


def run_with(*artifacts: Artifact) -> RunContext:
    run = RunContext(run_id="views", operator="tester")
    for art in artifacts:
        run.artifacts.setdefault(art.resource, []).append(art)
    return run


# --- the simulated hosts -----------------------------------------------------------------------


def test_a_32_bit_sage_crm_on_64_bit_windows_is_seen_only_in_the_32_bit_view(conn) -> None:
    sim = conn.sim

    in_32 = ok(sim, "registry.get", key=CONFIG, name="Version", view="32")
    in_64 = ok(sim, "registry.get", key=CONFIG, name="Version")
    physical = ok(sim, "registry.get", key="HKLM\\SOFTWARE\\WOW6432Node\\eWare\\Config\\/CRM", name="Version")

    assert in_32 == {"exists": True, "values": {"Version": {"type": "REG_SZ", "data": "7.2"}},
                     "subkeys": [], "view": "32"}  # fmt: skip
    assert in_64["exists"] is False  # what the helper saw before it named a view
    assert physical["values"] == in_32["values"]
    assert "WOW6432Node" in ok(sim, "registry.get", key="HKLM\\SOFTWARE")["subkeys"]
    assert PHYSICAL_32 in sim.snapshot()["registry"] and PHYSICAL_64 not in sim.snapshot()["registry"]


def test_on_32_bit_windows_both_views_are_the_one_registry(tmp_path: Path) -> None:
    conn = connection(tmp_path, architecture="x86")
    try:
        in_32 = ok(conn.sim, "registry.get", key=CONFIG, name="Version", view="32")
        in_64 = ok(conn.sim, "registry.get", key=CONFIG, name="Version", view="64")
        facts = ok(conn.sim, "host.facts")
        stored = conn.sim.snapshot()["registry"]
    finally:
        conn.close()

    assert in_32["values"] == in_64["values"] == {"Version": {"type": "REG_SZ", "data": "7.2"}}
    assert facts["architecture"] == "x86"
    assert PHYSICAL_64 in stored and not any("WOW6432Node" in key for key in stored)


def test_an_export_names_keys_as_its_view_shows_them_and_imports_back_only_into_that_view(conn) -> None:
    sim = conn.sim
    ok(sim, "file.mkdir", path="C:\\Backup")
    exported = ok(sim, "registry.export", key=CONFIG, dest="C:\\Backup\\config.reg", view="32")
    text = sim.read_bytes("C:\\Backup\\config.reg")[2:].decode("utf-16-le")
    ok(sim, "registry.set", key=CONFIG, name="Version", data="7.3", view="32")

    wrong = ok(sim, "registry.import", path="C:\\Backup\\config.reg")  # reg import without /reg:32
    after_wrong = sim.registry_value(CONFIG, "Version", view="32")
    right = ok(sim, "registry.import", path="C:\\Backup\\config.reg", view="32")

    assert exported["view"] == "32"
    assert "[HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM]" in text and "WOW6432Node" not in text
    assert wrong["changed"] is True and after_wrong["data"] == "7.3"  # Sage CRM still reads 7.3
    assert sim.registry_value(CONFIG, "Version", view="64")["data"] == "7.2"  # a stray 64-bit copy
    assert right == {"changed": True, "sha256": exported["sha256"], "view": "32"}
    assert sim.registry_value(CONFIG, "Version", view="32")["data"] == "7.2"


def test_a_view_that_is_not_32_or_64_is_refused(conn) -> None:
    [answer] = conn.sim.call([{"op": "registry.get", "args": {"key": CONFIG, "view": "wow"}}])

    assert answer == {"ok": False, "kind": "invalid", "error": "view must be '32' or '64', not 'wow'"}


# --- the modules --------------------------------------------------------------------------------


def test_registry_export_finds_the_32_bit_view_and_records_it_with_the_artifact(conn) -> None:
    result = run_module("registry_export", {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}, connection=conn)

    assert not result.failed, result.msg
    [artifact] = result.artifacts
    assert artifact.meta["view"] == "32" and result.output["view"] == "32"
    assert "32-bit view (WOW6432Node)" in result.msg
    text = conn.sim.read_bytes("C:\\Backup\\config.reg")[2:].decode("utf-16-le")
    assert '"Version"="7.2"' in text


def test_registry_import_restores_into_the_view_recorded_with_the_export(conn) -> None:
    exported = run_module(
        "registry_export", {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}, connection=conn
    )
    before = conn.sim.snapshot(exclude=["C:\\Backup"])
    conn.sim.set_registry_value(CONFIG, "Version", "7.3", view="32")  # what the upgrade did

    restored = run_module(
        "registry_import", {"path": "C:\\Backup\\config.reg", "key": CONFIG}, connection=conn,
        run=run_with(*exported.artifacts),
    )  # fmt: skip

    assert not restored.failed, restored.msg
    assert restored.output["view"] == "32" and "into the 32-bit view" in restored.msg
    assert conn.sim.snapshot(exclude=["C:\\Backup"]) == before  # nothing written in the 64-bit view


def test_an_explicit_view_wins_over_the_recorded_one(conn) -> None:
    exported = run_module(
        "registry_export", {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}, connection=conn
    )

    result = run_module(
        "registry_import", {"path": "C:\\Backup\\config.reg", "key": CONFIG, "view": "64"}, connection=conn,
        run=run_with(*exported.artifacts),
    )  # fmt: skip

    assert not result.failed, result.msg
    assert result.output["view"] == "64"
    assert conn.sim.registry_value(CONFIG, "Version", view="64")["data"] == "7.2"


def test_a_key_in_both_views_with_different_contents_is_the_operators_to_choose(conn) -> None:
    conn.sim.set_registry_value(CONFIG, "Version", "9.9", view="64")  # a stray 64-bit copy

    auto = run_module("registry_export", {"key": CONFIG, "dest": "C:\\Backup\\a.reg"}, connection=conn)
    chosen = run_module(
        "registry_export", {"key": CONFIG, "dest": "C:\\Backup\\b.reg", "view": "32"}, connection=conn
    )

    assert auto.failed
    assert "exists in both the 64-bit and the 32-bit (WOW6432Node) registry view" in auto.msg
    assert "view: 32" in auto.msg
    assert not chosen.failed and chosen.artifacts[0].meta["view"] == "32"


def test_an_explicit_view_without_the_key_says_which_view_was_looked_in(conn) -> None:
    result = run_module(
        "registry_export", {"key": CONFIG, "dest": "C:\\Backup\\a.reg", "view": "64"}, connection=conn
    )

    assert result.failed
    assert result.msg == f"registry key {CONFIG} does not exist in the 64-bit view on web1"


# --- Sage CRM estates in each layout ------------------------------------------------------------


def _estate_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **initial: Any) -> SimEstate:
    monkeypatch.chdir(tmp_path)
    doc = inventory_doc("single")
    doc["defaults"]["sim"]["initial"].update(initial)
    if initial.get("architecture") == "x86":  # no "Program Files (x86)" on a 32-bit Windows
        doc["sagecrm"]["program_files"] = "C:\\Program Files\\Sage\\CRM"
        files = doc["defaults"]["sim"]["initial"]["files"]
        for path in [p for p in files if "Program Files (x86)" in p]:
            files[path.replace("Program Files (x86)", "Program Files")] = files.pop(path)
    return SimEstate(tmp_path, "single", doc=doc)


@pytest.mark.parametrize(
    ("initial", "physical", "view"),
    [
        ({}, PHYSICAL_32, "32"),  # 64-bit Windows, 32-bit Sage CRM: the demo's and real servers' layout
        ({"registry_view": "64"}, PHYSICAL_64, "64"),
        ({"architecture": "x86"}, PHYSICAL_64, "32"),
    ],
    ids=["x64-wow6432node", "x64-native-keys", "x86"],
)
def test_upgrade_then_rollback_restores_the_keys_where_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, initial: dict[str, Any], physical: str, view: str
) -> None:
    estate = _estate_with(tmp_path, monkeypatch, **initial)
    before = estate.snapshot()

    upgrade = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    upgraded = estate.host("crm").snapshot()["registry"][physical]["Version"]["data"]
    rollback = estate.run("rollback.yml", "--approve-all", "--from-run", estate.last_run())

    assert upgrade.rc == 0, upgrade.out[-3000:] + upgrade.err
    assert upgraded == "7.3"
    assert rollback.rc == 0, rollback.out[-3000:] + rollback.err
    assert differences(before, estate.snapshot()) == []
    assert estate.host("crm").registry_value(CONFIG, "Version", view=view)["data"] == "7.2"


def test_the_inventory_names_the_view_and_a_wrong_one_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = inventory_doc("single", registry_view="64")  # the keys are in the 32-bit view
    estate = SimEstate(tmp_path, "single", doc=doc)
    before = estate.snapshot()

    backup = estate.run("backup.yml", "--approve-all")

    assert backup.rc == 1
    assert f"registry key {CONFIG} does not exist in the 64-bit view on crm" in backup.out
    assert differences(before, estate.snapshot()) == []


def test_the_file_of_a_32_bit_export_is_what_reg_exe_writes(conn) -> None:
    """The export is regedit's format with the logical key, UTF-16 LE with a BOM."""
    ok(conn.sim, "file.mkdir", path="C:\\Backup")
    ok(conn.sim, "registry.export", key=CONFIG, dest="C:\\Backup\\c.reg", view="32")
    raw = conn.sim.read_bytes("C:\\Backup\\c.reg")
    content = ok(conn.sim, "file.read", path="C:\\Backup\\c.reg")["content_b64"]

    assert raw.startswith(b"\xff\xfe") and base64.b64decode(content) == raw
    assert (
        raw[2:]
        .decode("utf-16-le")
        .startswith(
            "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM]\r\n"
        )
    )
