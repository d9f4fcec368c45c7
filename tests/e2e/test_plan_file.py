"""Plan files: `cutover plan ... -o FILE` writes the plan a client signs off, `cutover run FILE` runs it.

The file holds the plan and the sha256 of the playbook (with its imports), the inventory and the
variables it came from, and is valid against engine/schemas/planfile.schema.json. Running it
runs exactly that plan (the journal records which file and plan sha256); an input changed since
is refused with exit 3 and nothing is journaled; a flag that would change the plan is refused
(exit 2); a damaged file is a located error (exit 2).
"""

from __future__ import annotations

import json
import sqlite3

import jsonschema

from engine.load.schema import load_schema
from engine.pipeline.plan_file import sha256_of
from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate


def _plan_to(estate: SimEstate, target: str, *args: str):
    return run_cli(["plan", str(PLAYBOOKS / "upgrade.yml"), "-i", str(estate.inventory), "-o", target, *args],
                   estate.root)


def _runs(estate: SimEstate) -> list[dict]:
    if not (estate.state_dir / "runs.db").exists():
        return []
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY rowid")]


def test_the_plan_file_runs_exactly_the_plan_it_holds(tmp_path):
    estate = SimEstate(tmp_path, "single")
    made = _plan_to(estate, "window.plan", "-e", "note=signed-off")
    assert made.rc == 0, made.err
    document = json.loads((estate.root / "window.plan").read_text())
    jsonschema.validate(document, load_schema("planfile"))
    assert document["plan_sha256"] == sha256_of(document["plan"])
    assert document["options"]["extra_vars"] == ["note=signed-off"]
    assert {g["id"] for g in document["gates"]} == {"licence-tested", "downtime-announced", "test-upgrade-passed",
                                                   "live-frozen", "client-go", "solo-synchronised",
                                                   "db-upgrade-log-crm", "upgrade-log-fixed-crm"}
    assert "run exactly this plan with: cutover run window.plan" in made.out

    ran = run_cli(["run", "window.plan", "--approve-all", *estate.repaired(), "--no-report"], estate.root)

    assert ran.rc == 0, ran.out + ran.err
    (run,) = _runs(estate)
    args = json.loads(run["args"])
    assert args["plan_file"] == {"path": "window.plan", "plan_sha256": document["plan_sha256"]}
    assert args["extra_vars"] == ["note=signed-off"] and run["status"] == "succeeded"
    assert sha256_of(json.loads(run["plan"])) == document["plan_sha256"]
    assert estate.db_version() == "7.3"


def test_a_changed_input_is_refused_with_exit_3_and_nothing_runs(tmp_path):
    estate = SimEstate(tmp_path, "single")
    assert _plan_to(estate, "window.plan").rc == 0
    estate.inventory.write_text(estate.inventory.read_text() + "# edited after the sign-off\n")

    ran = run_cli(["run", "window.plan", "--approve-all", *estate.repaired()], estate.root)

    assert ran.rc == 3
    assert "window.plan: the inventory changed since the plan was written" in ran.err
    assert _runs(estate) == [] and estate.db_version() == "7.2"


def test_flags_that_would_change_the_plan_are_refused(tmp_path):
    estate = SimEstate(tmp_path, "single")
    assert _plan_to(estate, "window.plan").rc == 0
    ran = run_cli(["run", "window.plan", "-l", "crm", "-e", "x=1"], estate.root)
    assert ran.rc == 2 and "window.plan is a plan file: -l, -e would change the plan it holds" in ran.err
    assert _runs(estate) == []


def test_a_damaged_plan_file_is_a_located_error(tmp_path):
    estate = SimEstate(tmp_path, "single")
    assert _plan_to(estate, "window.plan").rc == 0
    document = json.loads((estate.root / "window.plan").read_text())
    document["inputs"]["playbook_sha256"] = 42
    (estate.root / "window.plan").write_text(json.dumps(document, indent=2))
    ran = run_cli(["run", "window.plan"], estate.root)
    assert ran.rc == 2 and "window.plan:" in ran.err and "playbook_sha256" in ran.err and "Traceback" not in ran.err


def test_format_with_output_still_writes_that_rendering(tmp_path):
    estate = SimEstate(tmp_path, "single")
    made = _plan_to(estate, "plan.dot", "--format", "dot")
    assert made.rc == 0 and (estate.root / "plan.dot").read_text().startswith("digraph")
