"""`cutover run --on-failure rollback`: the command line's own path to rolling a failed upgrade back.

The installer fails on the single server after its backups and the destructive steps started;
the same command then plans playbooks/sagecrm/rollback.yml from the failed run's backups and runs
it as a run of its own (its parent the failed one), and the estate is as it was before.
"""

from __future__ import annotations

import sqlite3

from tests.support.sagecrm_estates import SimEstate, differences


def test_a_failed_upgrade_rolls_itself_back_when_asked(tmp_path):
    estate = SimEstate(tmp_path, "single")
    before = estate.snapshot()
    estate.host("crm").add_fault({"op": "process.run", "mode": "always"})

    result = estate.run("upgrade.yml", "--approve-all", "--on-failure", "rollback")

    assert result.rc == 1, result.out + result.err  # the upgrade failed; its exit code is the run's
    assert "failed after a destructive step: rolling back with" in result.out
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        runs = db.execute("SELECT id, status, parent_run, playbook FROM runs ORDER BY rowid").fetchall()
    (failed, _, _, upgrade), (rollback, status, parent, book) = runs
    assert upgrade.endswith("upgrade.yml") and book.endswith("rollback.yml")
    assert (status, parent) == ("succeeded", failed) and rollback != failed
    assert differences(before, estate.snapshot()) == []


def test_without_a_destructive_step_nothing_is_rolled_back(tmp_path):
    estate = SimEstate(tmp_path, "single")
    estate.host("crm").add_fault({"op": "archive.create", "mode": "always"})

    result = estate.run("upgrade.yml", "--approve-all", "--on-failure", "rollback")

    assert result.rc == 1
    assert "failed before any destructive step: nothing to roll back" in result.out
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
