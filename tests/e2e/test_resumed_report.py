"""A resumed run's report keeps the whole story, and the earlier attempt's report is kept.

The installer fails on the simulated single server (an injected fault, as a broken setup.exe
would); the fault is cleared and another operator resumes the run. The run's report then lists
both attempts (who, from where, when, the failure and its error, the resume), and the report
written at the end of the first attempt is kept under `attempt-1/`, not overwritten.
"""

from __future__ import annotations

import json

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate


def test_the_report_of_a_resumed_run_tells_each_attempt(tmp_path):
    estate = SimEstate(tmp_path, "single")
    estate.host("crm").add_fault({"op": "process.run", "mode": "always"})
    first = run_cli(["run", str(PLAYBOOKS / "upgrade.yml"), "-i", str(estate.inventory), "--approve-all", *estate.repaired(),
                     "--operator", "alice"], estate.root)
    assert first.rc == 1
    run_id = estate.last_run()
    folder = estate.state_dir / "reports" / run_id
    first_report = (folder / "report.json").read_text(encoding="utf-8")

    estate.host("crm").clear_faults()
    resumed = run_cli(["resume", run_id, "--approve-all", *estate.repaired(), "--operator", "bob"], estate.root)
    assert resumed.rc == 0, resumed.out + resumed.err

    doc = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    one, two = doc["attempts"]
    assert (one["number"], one["by"], one["resumed"], one["status"]) == (1, "alice", False, "failed")
    assert [f["task"] for f in one["failures"]] == ["Sage CRM installer"]
    assert "injected fault on process.run" in one["failures"][0]["error"]
    assert (two["number"], two["by"], two["resumed"], two["status"]) == (2, "bob", True, "succeeded")
    assert one["ended"] <= two["started"] and two["failures"] == []
    html = (folder / "report.html").read_text(encoding="utf-8")
    table = html[html.index('<table id="attempts">'):]
    table = table[:table.index("</table>")]
    assert "alice" in table and "bob" in table and "resumed" in table and "injected fault on process.run" in table
    assert (folder / "attempt-1" / "report.json").read_text(encoding="utf-8") == first_report
    assert json.loads(first_report)["run"]["status"] == "failed"
    assert sorted(p.name for p in (folder / "attempt-1").iterdir()) == ["junit.xml", "report.html", "report.json"]


def test_a_run_of_one_attempt_has_no_attempts_table(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = run_cli(["run", str(PLAYBOOKS / "backup.yml"), "-i", str(estate.inventory), "--approve-all"],
                     estate.root)
    assert result.rc == 0, result.out + result.err
    folder = estate.state_dir / "reports" / estate.last_run()
    doc = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert [a["status"] for a in doc["attempts"]] == ["succeeded"]
    assert 'id="attempts"' not in (folder / "report.html").read_text(encoding="utf-8")
    assert not list(folder.glob("attempt-*"))
