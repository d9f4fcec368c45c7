"""The Sage CRM installer step after a controller killed mid-installer: the retry is verified, not refused.

With `connection: sim` the simulated setup.exe runs inside the cutover process, so a SIGKILL can
land inside it: the files it wrote (program files, `Setup\\UPGRADELOG.HTML`) are on disk, while
the host's registry and clock (saved when the call ends) are as before the call. The resumed step
runs the installer again, which writes the same log byte for byte. That log was written by this
upgrade (by its first attempt), so the step must pass; only a log found before the step's *first*
attempt in this run is "the one from before this upgrade". (This was the 1-in-3 failure of
tests/e2e/test_crash_campaign_sagecrm.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.api.module import Gatekeeper, utcnow
from simulation.sagecrm import setup_program
from tests.e2e.test_sagecrm_modules import on, run_ctx
from tests.support.sagecrm_estates import SimEstate

LOG = "C:\\Program Files (x86)\\Sage\\CRM\\CRM\\Setup\\UPGRADELOG.HTML"


class DbLogRepaired(Gatekeeper):
    """The operator who repaired the database server's upgrade log and approves its gate by name."""

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict:
        ok = gate_id.startswith("db-upgrade-log-")
        return {"approved": ok, "by": "ops", "at": utcnow(), "comment": "repaired" if ok else "no"}


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimEstate:
    monkeypatch.chdir(tmp_path)  # the simulated database path is relative to where cutover runs
    return SimEstate(tmp_path, "cluster", silent=True)


def test_an_installer_attempt_cut_short_then_retried_in_the_same_run_is_verified(estate: SimEstate) -> None:
    run = run_ctx(estate, DbLogRepaired())
    assert not on(estate, "crm_installer", {}, host="crm2", run=run).failed  # the database server first
    state_file = estate.host("crm1").state_file
    saved = state_file.with_name("before-kill.json")
    shutil.copy(state_file, saved)
    first = on(estate, "crm_installer", {}, host="crm1", run=run)
    assert first.changed and not first.failed, first.msg
    written = estate.host("crm1").call([{"op": "file.hash", "args": {"path": LOG}}])[0]["value"]["digest"]
    shutil.copy(saved, state_file)  # the kill: files stay written, the host's state is from before the call
    assert estate.host("crm1").registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")["data"] == "7.2"

    retried = on(estate, "crm_installer", {}, host="crm1", run=run)

    assert retried.changed and not retried.failed, retried.msg
    assert retried.output["verified"]["registry"] == "7.3"
    assert retried.output["verified"]["log_sha256"] == written  # the same log, written again


def test_a_log_from_before_the_first_attempt_is_still_refused(
    estate: SimEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installer that exits 0 but leaves the previous upgrade's log: the retry rule must not hide it."""
    run = run_ctx(estate, DbLogRepaired())
    assert not on(estate, "crm_installer", {}, host="crm2", run=run).failed
    estate.host("crm1").write_bytes(LOG, b"<html>Upgrade summary : Sage CRM 7.2</html>\n")
    monkeypatch.setattr(setup_program, "_write_logs", lambda *args: None)  # exits 0, writes no log

    first = on(estate, "crm_installer", {}, host="crm1", run=run)
    again = on(estate, "crm_installer", {}, host="crm1", run=run)

    assert first.failed and "UPGRADELOG.HTML is the one from before this upgrade" in first.msg
    assert again.failed and "UPGRADELOG.HTML is the one from before this upgrade" in again.msg
