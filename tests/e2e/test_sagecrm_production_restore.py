"""A Sage CRM rollback over a production database asks its own gate, and the answer is journaled.

`databases.crm.production: true`: the rollback's database restore (crm_restore -> db_restore)
waits for `restore-production-crm`, which `--approve-all` does not answer; named, the restore runs
and the gate's answer (who, comment) is in the journal's gates table like any other gate's.
"""

from __future__ import annotations

import sqlite3

from tests.support.sagecrm_estates import SimEstate, inventory_doc


def _production_estate(tmp_path) -> SimEstate:
    doc = inventory_doc("single")
    doc["databases"]["crm"]["production"] = True
    estate = SimEstate(tmp_path, "single", doc=doc)
    assert estate.run("upgrade.yml", "--approve-all", *estate.repaired()).rc == 0
    return estate


def test_approve_all_does_not_restore_a_production_database(tmp_path):
    estate = _production_estate(tmp_path)
    result = estate.run("rollback.yml", "--from-run", "last", "--approve-all")
    assert result.rc == 1, result.out + result.err
    assert "restore-production-crm" in result.out + result.err
    assert estate.db_version() == "7.3"  # not restored


def test_the_named_approval_restores_it_and_is_journaled(tmp_path):
    estate = _production_estate(tmp_path)
    result = estate.run(
        "rollback.yml",
        "--from-run",
        "last",
        "--approve-all",
        "--approve",
        "restore-production-crm=ticket 4711",
    )
    assert result.rc == 0, result.out + result.err
    assert estate.db_version() == "7.2"
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        rows = db.execute(
            "SELECT gate_id, approved, comment FROM gates WHERE run_id = ? AND gate_id = 'restore-production-crm'",
            (estate.last_run(),),
        ).fetchall()
    assert rows == [("restore-production-crm", 1, "ticket 4711")]
