"""The Sage CRM installer run the way InstallShield documents its silent mode.

- Command line: "Command-line options that require a parameter must be specified with no space
  between the option and its parameter ... Quotation marks around an option's parameter are
  required only if the parameter contains spaces" (Revenera, "Setup.exe and Update.exe
  Command-Line Parameters",
  https://docs.revenera.com/installshield28helplib/helplibrary/IHelpSetup_EXECmdLine.htm): the
  response file goes as `/f1"C:\\Sage Media\\x.iss"`, never as `"/f1C:\\Sage Media\\x.iss"`.
- Result: the `[ResponseResult]` section of the log named by /f2 holds `ResultCode`, 0 for success
  and a negative code otherwise, -3 "Required data not found in the Setup.iss file" among them
  (Revenera, "Checking for Errors Using the Setup.log File",
  https://docs.revenera.com/installshield28helplib/helplibrary/SetupLog.htm). A silent setup
  that failed can exit 0; the log is what says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.api.module import ModuleFailed, RunContext
from engine.connect.sim import SimConnection
from engine.load.inventory import load_inventory
from modules.sagecrm import _installshield as installshield
from simulation.sagecrm.setup_program import installshield_switches, response_file
from tests.support.modharness import run_module
from tests.support.sagecrm_estates import BACKUPS, SimEstate, inventory_doc

SPACED = "C:\\Sage Media\\7.3 upgrade"


def spaced_estate(tmp_path: Path, db_response: str) -> SimEstate:
    """One server whose response file lives in a folder with spaces (as media folders often do)."""
    doc = inventory_doc("single")
    doc["defaults"]["sim"]["initial"]["files"][f"{SPACED}\\upgrade db.iss"] = db_response
    doc["sagecrm"]["installer"]["response_files"] = {"db": f"{SPACED}\\upgrade db.iss"}
    return SimEstate(tmp_path, "single", doc=doc)


def install(estate: SimEstate) -> Any:
    """The _dta clean-up the playbook runs first (so no script fails), then the installer."""
    inventory = load_inventory(estate.inventory)
    run = RunContext(
        run_id="installshield",
        operator="tester",
        databases={k: dict(v) for k, v in inventory.databases.items()},
        inventory=inventory,
        state_dir=str(estate.state_dir),
    )
    conn = SimConnection(inventory.hosts["crm"], str(estate.state_dir))
    conn.open()
    try:
        assert run_module("crm_dta_cleanup", {}, connection=conn, run=run).changed
        return run_module("crm_installer", {}, connection=conn, run=run)
    finally:
        conn.close()


def test_a_response_file_path_with_spaces_reaches_installshield_as_f1_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    estate = spaced_estate(tmp_path, response_file(database=True))
    result = install(estate)
    assert not result.failed, result.msg
    assert result.output["result_code"] == 0
    host = estate.host("crm")
    assert host.registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")["data"] == "7.3"
    log = host.read_bytes(f"{BACKUPS}\\setup-crm.log").decode()
    assert "[ResponseResult]\r\nResultCode=0" in log


def test_a_silent_setup_that_exits_0_with_a_failing_result_code_fails_with_its_meaning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    estate = spaced_estate(tmp_path, "[NotSageCRM]\nMode=Upgrade\n")  # required data not there
    result = install(estate)
    assert result.failed
    assert "exit code 0" in result.msg
    assert "Setup.log ResultCode -3: Required data not found in the Setup.iss file" in result.msg
    host = estate.host("crm")
    assert host.registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")["data"] == "7.2"


def test_the_command_line_puts_each_quote_after_its_option():
    line = installshield.silent_command("C:\\Sage Media\\setup.exe", "C:\\a b\\x.iss", "C:\\logs\\s.log")
    assert line == '"C:\\Sage Media\\setup.exe" /s /f1"C:\\a b\\x.iss" /f2"C:\\logs\\s.log"'
    # the simulated setup.exe reads it as InstallShield does, and ignores a whole-token quote
    assert installshield_switches(line) == {"s": "", "f1": "C:\\a b\\x.iss", "f2": "C:\\logs\\s.log"}
    assert "f1" not in installshield_switches('setup.exe /s "/f1C:\\a b\\x.iss"')


@pytest.mark.parametrize("bad", ["C:\\100%\\x.iss", 'C:\\a"b\\x.iss', "C:\\wow!\\x.iss", "C:\\a\r\nb.iss"])
def test_a_path_cmd_would_interpret_is_refused_not_pasted(bad):
    with pytest.raises(ModuleFailed, match="cannot be passed to setup.exe safely"):
        installshield.silent_command("C:\\m\\setup.exe", bad, "C:\\l\\s.log")


@pytest.mark.parametrize(
    ("log", "code"),
    [
        ("[InstallShield Silent]\nVersion=v7.00\nFile=Log File\n[ResponseResult]\nResultCode=0\n", 0),
        ("[ResponseResult]\r\nResultCode=-53\r\n", -53),
        ("[Application]\nName=Sage CRM\n", None),
        ("not a log", None),
    ],
)
def test_the_result_code_is_read_from_the_response_result_section(log, code):
    assert installshield.result_code(log) == code
    if code is not None:
        assert installshield.meaning(code) in installshield.RESULT_CODES.values()
