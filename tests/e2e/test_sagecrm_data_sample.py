"""The guide's 20-company sample through the simulated estate: seeded, the seed in the journal,
compared after the upgrade (issue 16, item 11; chapter 12 "échantillonnage aléatoire de 20
enregistrements de sociétés")."""

from __future__ import annotations

import json
import sqlite3

from tests.support.sagecrm_estates import SimEstate


def test_sample_seed_journaled_and_a_changed_company_found(tmp_path):
    estate = SimEstate(tmp_path, "single")
    upgrade = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert upgrade.rc == 0, upgrade.out + upgrade.err
    run_id = estate.last_run()
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        rows = db.execute(
            "SELECT location, meta FROM artifacts WHERE run_id = ? AND kind = 'data_sample' ORDER BY rowid",
            (run_id,),
        ).fetchall()
    location, meta = rows[0][0], json.loads(rows[0][1])
    with sqlite3.connect(estate.db_path) as db:
        companies = db.execute("SELECT COUNT(*) FROM Company").fetchone()[0]
    assert (
        isinstance(meta["seed"], int) and meta["count"] == min(20, companies) and meta["table"] == "Company"
    )
    recorded = json.loads(open(location, encoding="utf-8").read())
    assert recorded["seed"] == meta["seed"] and len(recorded["rows"]) == meta["count"]
    changed = sorted(recorded["rows"], key=int)[-1]
    with sqlite3.connect(estate.db_path) as db:
        db.execute(
            "UPDATE Company SET Comp_Name = 'changed by the upgrade' WHERE Comp_CompanyId = ?",
            (int(changed),),
        )

    verify = estate.run("verify.yml", "--approve-all", "--from-run", run_id)
    assert verify.rc == 0, verify.out + verify.err  # the data-integrity gate (approved here) is asked instead
    sample = [
        f for f in estate.findings(estate.last_run(), "checklist") if "20 company records" in f["message"]
    ]
    assert len(sample) == 1 and '"ok": false' in sample[0]["detail"]
    assert (
        f"seed {meta['seed']}" in sample[0]["message"] and f"differ (ids {changed})" in sample[0]["message"]
    )
