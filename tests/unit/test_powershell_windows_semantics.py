"""The PowerShell primitives do what a real Windows server needs, read from their syntax tree.

No Windows runs here. What the simulated host and the WinRM endpoint prove about the engine and
the modules rests on the primitives behaving the same way on a server; these tests hold the
script (as the connection ships it, engine/connect/remote/powershell/) to the decisions that make
them do so, each with the Windows behaviour behind it:

- registry views are always explicit: RegistryKey.OpenBaseKey(hive, Registry32|Registry64) and
  reg.exe with /reg:32 or /reg:64, never the helper process's default view;
- services are stopped and started through ServiceController with WaitForStatus(status, timeout),
  never Stop-Service / Start-Service (they wait as long as the service control manager lets them);
- a stopped application pool is waited for until its worker processes exit;
- file.stat never hides an error behind -ErrorAction SilentlyContinue (a refused share is not
  an absent one);
- process.run joins the kill-on-close job before it starts a program;
- temporary files get random short names (never a fixed suffix that may be a real file);
- archive.extract checks each member's path length before it writes anything.
"""

from __future__ import annotations

import pytest
from tree_sitter import Node

from engine.connect.remote import powershell
from tests.support.powershell_tree import commands, method_calls, script_functions, text


@pytest.fixture(scope="module")
def functions() -> dict[str, Node]:
    return script_functions()


def calls_in(node: Node) -> set[str]:
    return {c.name for c in commands(node)}


def methods_in(node: Node) -> set[str]:
    return {m.method for m in method_calls(node)}


def test_no_registry_primitive_uses_the_default_view() -> None:
    source = powershell.script()

    assert "RegistryView]::Default" not in source
    assert "[Microsoft.Win32.RegistryView]::Registry32" in source and "'/reg:32'" in source


@pytest.mark.parametrize("name", ["Invoke-CutoverRegistryExport", "Invoke-CutoverRegistryImport"])
def test_reg_exe_is_always_told_the_view(functions: dict[str, Node], name: str) -> None:
    body = functions[name]
    reg_calls = [c for c in commands(body) if c.name == "Invoke-CutoverProgram"]

    assert reg_calls, name
    for call in reg_calls:
        assert "$view.switch" in text(call.node), text(call.node)


@pytest.mark.parametrize(
    "name", ["Invoke-CutoverRegistryGet", "Invoke-CutoverRegistrySet", "Invoke-CutoverRegistryExport",
             "Invoke-CutoverRegistryImport"],
)  # fmt: skip
def test_every_registry_primitive_reads_the_view_argument(functions: dict[str, Node], name: str) -> None:
    body = text(functions[name])

    assert "Get-CutoverRegView $a.view" in body


def test_services_are_driven_with_one_deadline(functions: dict[str, Node]) -> None:
    everything = set().union(*(calls_in(f) for f in functions.values()))
    wait = functions["Wait-CutoverServiceStatus"]

    assert not {"Stop-Service", "Start-Service"} & everything
    assert "WaitForStatus" in methods_in(wait)
    assert "Stop-CutoverServiceTree" in calls_in(functions["Invoke-CutoverServiceSet"])
    assert "DependentServices" in text(functions["Stop-CutoverServiceTree"])


def test_a_stopped_pool_is_waited_for_until_its_worker_processes_exit(functions: dict[str, Node]) -> None:
    set_state = text(functions["Invoke-CutoverIisSetState"])
    wait = functions["Wait-CutoverPoolStopped"]

    assert set_state.index("WorkerProcesses") < set_state.index("$object.Stop()")  # ids taken before Stop
    assert "Wait-CutoverPoolStopped" in set_state
    assert {"GetProcessById", "WaitForExit"} <= methods_in(wait)


def test_file_stat_does_not_hide_errors(functions: dict[str, Node]) -> None:
    stat = functions["Invoke-CutoverFileStat"]

    get_item = [c for c in commands(stat) if c.name == "Get-Item"]

    assert get_item and all("SilentlyContinue" not in text(c.node) for c in get_item)
    assert "Get-CutoverDeniedMessage" in calls_in(stat)


def test_process_run_joins_the_job_before_it_starts_the_program(functions: dict[str, Node]) -> None:
    body = text(functions["Invoke-CutoverProcessRun"])

    assert body.index("JoinKillOnCloseJob") < body.index("$process.Start()")
    assert "KillOnJobClose" in powershell.script()


def test_temporary_files_have_random_short_names(functions: dict[str, Node]) -> None:
    source = powershell.script()

    assert ".cutover-tmp" not in source
    for name in ("Write-CutoverFile", "Invoke-CutoverArchiveCreate", "Invoke-CutoverArchiveExtract"):
        assert "Get-CutoverTempPath" in calls_in(functions[name]), name


def test_extract_checks_every_path_length_before_writing(functions: dict[str, Node]) -> None:
    body = text(functions["Invoke-CutoverArchiveExtract"])

    assert body.index("Assert-CutoverPathLength") < body.index("New-CutoverDirectory")


def test_zips_are_read_with_the_oem_code_page_for_names_without_the_utf8_flag(functions: dict[str, Node]) -> None:
    """`ZipFile.OpenRead` decodes entry names that lack the zip's UTF-8 flag with the ANSI code page;
    the zips Windows' own tools write use the OEM one. `ZipFile.Open(path, Read, encoding)` takes it
    (https://learn.microsoft.com/dotnet/api/system.io.compression.zipfile.open, .NET Framework 4.5+)."""
    opening = [
        m
        for name, node in functions.items()
        for m in method_calls(node)
        if m.type_name and m.type_name.endswith("ZipFile") and m.method in ("Open", "OpenRead")
    ]
    assert opening and all(m.method == "Open" for m in opening), [text(m.node) for m in opening]
    for call in opening:
        assert len(call.arguments) == 3 and "ZipArchiveMode]::Read" in text(call.arguments[1])
        assert text(call.arguments[2]) == "(Get-CutoverOemEncoding)"
    readers = {name for name, node in functions.items() if "Open-CutoverZipRead" in calls_in(node)}
    assert {"Open-CutoverZip", "Invoke-CutoverArchiveVerify"} <= readers
