"""A rollback checks every backup before it changes anything; one not as recorded refuses it all.

The Sage CRM upgrade of a simulated cluster records its backups (registry exports and program
file archives on each server, the database dump on the controller). One is then tampered with,
one shortened, one removed: `rollback.yml --from-run` must refuse before its first step (exit 3)
listing all three, run no step, record no run, and leave hosts and database exactly as they were
(no server taken off the database, IIS not stopped). With the backups put back, it rolls back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.journal.store import Journal
from tests.support.sagecrm_estates import SimEstate, differences


@pytest.fixture
def upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SimEstate, str, dict]:
    monkeypatch.chdir(tmp_path)
    estate = SimEstate(tmp_path, "cluster")
    before = estate.snapshot()
    done = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert done.rc == 0, done.out + done.err
    return estate, estate.last_run(), before


def backups(estate: SimEstate, run_id: str) -> list:
    journal = Journal(estate.state_dir / "runs.db")
    try:
        return journal.artifacts(run_id)
    finally:
        journal.close()


def test_a_tampered_backup_refuses_the_whole_rollback_with_the_estate_untouched(upgraded) -> None:
    estate, run_id, before = upgraded
    arts = backups(estate, run_id)
    archive = next(a for a in arts if a.kind == "archive" and a.host == "crm1")
    export = next(a for a in arts if a.kind == "registry_export" and a.host == "crm3")
    dump = next(a for a in arts if a.kind == "db_backup")
    crm1, crm3 = estate.host("crm1"), estate.host("crm3")
    original = crm1.read_bytes(archive.location)
    crm1.write_bytes(archive.location, original[:-1] + bytes([original[-1] ^ 0xFF]))  # same size, other bytes
    crm3.write_bytes(export.location, crm3.read_bytes(export.location)[:-10])  # shortened
    aside = Path(dump.location).with_suffix(".aside")
    shutil.move(dump.location, aside)  # gone
    upgraded_state = estate.snapshot()

    refused = estate.run("rollback.yml", "--from-run", run_id, "--approve-all")

    assert refused.rc == 3, refused.out + refused.err
    assert f"rollback from run {run_id} refused before any step, the estate untouched" in refused.err
    assert "3 of its" in refused.err
    assert f"crm1:{archive.location} ({archive.resource}): sha256 " in refused.err
    assert f"crm3:{export.location} ({export.resource}): size {export.size - 10}, recorded {export.size}" in refused.err
    assert f"{dump.location} ({dump.resource}): missing" in refused.err
    assert "Traceback" not in refused.err
    assert estate.last_run() == run_id  # no rollback run was even recorded
    assert differences(upgraded_state, estate.snapshot()) == []  # nothing stopped, nothing restored

    crm1.write_bytes(archive.location, original)
    shutil.move(aside, dump.location)
    crm3.write_bytes(export.location, b"")  # still wrong: the rollback stays refused, naming only it
    again = estate.run("rollback.yml", "--from-run", run_id, "--approve-all")
    assert again.rc == 3 and "1 of its" in again.err and export.location in again.err


def test_whole_backups_are_checked_then_the_rollback_restores(upgraded) -> None:
    estate, run_id, before = upgraded
    rolled = estate.run("rollback.yml", "--from-run", run_id, "--approve-all")
    assert rolled.rc == 0, rolled.out + rolled.err
    journal = Journal(estate.state_dir / "runs.db")
    try:
        notes = journal.find_run("last")["notes"]
    finally:
        journal.close()
    checked = [n for n in notes if "checked (size, sha256, readable) before the first step" in n]
    assert checked and checked[0].startswith(f"{len([a for a in backups(estate, run_id) if a.verified])} backup(s)")
    assert differences(before, estate.snapshot()) == []
