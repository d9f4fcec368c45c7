"""Rollback as an operator drives it: preview, `--from-run last`, one message without it, no second rollback.

On a simulated single-server Sage CRM estate: `plan`/`validate rollback.yml --from-run RUN` list
each restore with the artifact it uses and a data-loss estimate for the database; `--from-run
last` picks the newest upgrade that recorded verified backups (not a check-mode run, not a
rollback); a rollback planned without `--from-run` gives one message with the candidates (exit
2); a run already rolled back is refused naming the rollback, and `--rollback-again` is recorded.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate, differences


def _preview(estate: SimEstate, command: str, *args: str):
    return run_cli([command, str(PLAYBOOKS / "rollback.yml"), "-i", str(estate.inventory), *args], estate.root)


def _runs(estate: SimEstate) -> list[tuple]:
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        return db.execute("SELECT id, kind, status, parent_run, args, notes FROM runs ORDER BY rowid").fetchall()


@pytest.fixture
def upgraded(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc == 0, result.out + result.err
    return estate, estate.last_run()


def test_without_from_run_one_message_lists_the_candidates(upgraded):
    estate, upgrade_run = upgraded
    estate.run("upgrade.yml", "--check", "--approve-all", *estate.repaired())  # a check-mode run is no candidate

    result = _preview(estate, "plan")

    assert result.rc == 2
    assert result.err.count("this playbook restores what an earlier run recorded: pass --from-run RUN") == 1
    assert "no verified backup of it planned before it" not in result.err
    candidates = result.err.split("candidates:")[1]
    assert upgrade_run in candidates
    assert estate.last_run() not in candidates and "Traceback" not in result.err


def test_without_any_run_the_message_says_none_is_recorded(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = _preview(estate, "validate")
    assert result.rc == 2
    assert "pass --from-run RUN" in result.err and "candidates: none recorded" in result.err


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_preview_lists_each_restore_with_its_artifact_and_the_data_loss(upgraded, command):
    estate, upgrade_run = upgraded
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        db.row_factory = sqlite3.Row
        backup = dict(db.execute("SELECT * FROM artifacts WHERE run_id = ? AND resource = 'db:crm' AND verified = 1",
                                 (upgrade_run,)).fetchone())

    result = _preview(estate, command, "--from-run", upgrade_run[:17])

    assert result.rc == 0, result.err
    assert f"rollback from run {upgrade_run}:" in result.out
    db_line = next(line for line in result.out.splitlines() if "db:crm from" in line)
    assert backup["location"] in db_line and backup["sha256"] in db_line
    assert f"{backup['size']} bytes" in db_line and backup["taken_at"] in db_line
    assert "data loss:" in result.out and f"of run {upgrade_run} after the backup" in result.out
    assert "registry:crm:HKLM\\SOFTWARE\\eWare\\Mappings from" in result.out


def test_from_run_last_is_the_newest_upgrade_with_backups_and_a_second_rollback_is_refused(upgraded):
    estate, upgrade_run = upgraded
    estate.run("upgrade.yml", "--check", "--approve-all", *estate.repaired())  # newer, but check mode

    first = estate.run("rollback.yml", "--from-run", "last")

    assert first.rc == 0, first.out + first.err
    rollback_run = estate.last_run()
    row = next(r for r in _runs(estate) if r[0] == rollback_run)
    assert (row[1], row[3]) == ("rollback", upgrade_run)

    again = estate.run("rollback.yml", "--from-run", upgrade_run)
    assert again.rc == 2
    assert f"already rolled back by run {rollback_run}" in again.err and "--rollback-again" in again.err
    assert len(_runs(estate)) == 3  # nothing was started

    last = estate.run("rollback.yml", "--from-run", "last")  # the rollback itself is no candidate
    assert last.rc == 2 and f"already rolled back by run {rollback_run}" in last.err

    forced = estate.run("rollback.yml", "--from-run", upgrade_run, "--rollback-again")
    assert forced.rc == 0, forced.out + forced.err
    _id, kind, status, parent, args, notes = _runs(estate)[-1]
    assert (kind, status, parent) == ("rollback", "succeeded", upgrade_run)
    assert json.loads(args)["rollback_again"] is True
    assert any("--rollback-again" in n and rollback_run in n for n in json.loads(notes))


def test_an_ambiguous_prefix_is_refused_as_ambiguous(upgraded):
    estate, _upgrade_run = upgraded
    estate.run("upgrade.yml", "--check", "--approve-all", *estate.repaired())
    result = _preview(estate, "plan", "--from-run", "2")
    assert result.rc == 2 and "is ambiguous: 2 runs start with it" in result.err


@pytest.mark.parametrize("kind", ["single", "cluster"])
def test_a_rollback_dry_run_previews_every_step_and_changes_nothing(tmp_path, kind):
    """`rollback.yml --check` used to fail at `Register <install>_backup\\eware.dll` (and then at the
    IIS physical path): the dry run had not unzipped `<install>_backup`, so the DLL was not there.
    Those steps now show the change they would make after the steps before them."""
    estate = SimEstate(tmp_path, kind)
    assert estate.run("upgrade.yml", "--approve-all", *estate.repaired()).rc == 0
    before = estate.snapshot()

    result = estate.run("rollback.yml", "--from-run", "last", "--check", "--approve-all")

    assert result.rc == 0, result.out + result.err
    nodes = estate.nodes(estate.last_run()).values()
    registers = [n for n in nodes if n["task"] == "Register <install>_backup\\eware.dll"]
    assert registers and {n["status"] for n in registers} == {"would-change"}, registers
    assert not [n for n in nodes if n["status"] in ("failed", "blocked")]
    assert differences(before, estate.snapshot()) == []
