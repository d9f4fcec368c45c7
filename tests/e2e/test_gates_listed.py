"""Gates an operator can see and name before the window, and that read honestly afterwards.

`plan` and `validate` list every gate (id, host, what it asks, its time window), the Sage CRM
installer's operator gate included when a server has no response file; `--approve ID` with an
id the plan does not have is refused before anything runs (exit 2, nothing journaled); a gate
answered by `--approve-all` is recorded and reported as "approved by flag", never as signed;
a refusal reads once ("not approved: run again ..." not "not approved: not approved: ...").
"""

from __future__ import annotations

import json
import sqlite3

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate


def _command(estate: SimEstate, command: str, *args: str):
    return run_cli([command, str(PLAYBOOKS / "upgrade.yml"), "-i", str(estate.inventory), *args], estate.root)


def test_plan_and_validate_list_every_gate(tmp_path):
    estate = SimEstate(tmp_path, "cluster", silent=False)
    for command in ("plan", "validate"):
        result = _command(estate, command)
        assert result.rc == 0, result.err
        listing = result.out[result.out.index("gates ("):]
        assert "licence-tested  on " in listing and "downtime-announced  on " in listing
        assert "asks: Users know that Sage CRM is unavailable during the upgrade" in listing
        for host in estate.hosts:  # no response file: the installer is a person's gate on each server
            assert f"installer-{host}  on {host}" in listing, (command, host)
        assert "times in UTC" in listing and "[any time during the run]" in listing


def test_an_unknown_approve_id_is_refused_before_anything_runs(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("upgrade.yml", "--approve", "licence-tested", "--approve", "downtime-anounced")

    assert result.rc == 2
    assert "--approve downtime-anounced: the plan has no such gate (did you mean downtime-announced?)" in result.err
    assert not (estate.state_dir / "runs.db").exists() or _count_runs(estate) == 0
    checked = _command(estate, "validate", "--approve", "nope")
    assert checked.rc == 2 and "--approve nope: the plan has no such gate" in checked.err


def _count_runs(estate: SimEstate) -> int:
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_approve_all_is_reported_as_approved_by_flag_never_as_signed(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = run_cli(["run", str(PLAYBOOKS / "upgrade.yml"), "-i", str(estate.inventory), "--approve-all", *estate.repaired(),
                      "--approve", "licence-tested=tried at 14:00"], estate.root)
    assert result.rc == 0, result.out + result.err
    run_id = estate.last_run()
    doc = json.loads(run_cli(["report", run_id, "--format", "json", "-o", "-"], estate.root).out)
    states = {item["gate"]: item["state"] for item in doc["checklist"] if item["source"] == "gate"}
    assert states["licence-tested"] == "signed" and states["downtime-announced"] == "approved-by-flag"
    by_name = {"licence-tested", *[g for g in states if g.startswith("upgrade-log-fixed-")]}
    assert all(state == ("signed" if gate in by_name else "approved-by-flag") for gate, state in states.items()), states
    html = (estate.state_dir / "reports" / run_id / "report.html").read_text(encoding="utf-8")
    checklist = html[html.index('<section id="checklist">'):]
    row = checklist[checklist.index("<code>downtime-announced</code>"):]
    row = row[:row.index("</tr>")]
    assert "approved by flag" in row and "not signed" in row and "signed by" not in row
    glance = html[html.index('id="glance-gates"'):]
    glance = glance[:glance.index("</td>")]
    assert "<code>downtime-announced</code> on crm: <strong class=\"bad-text\">approved by flag</strong>" in glance
    assert "<code>licence-tested</code> on crm: signed by" in glance


def test_a_refused_gate_reads_once(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("upgrade.yml", "--approve", "licence-tested")
    assert result.rc == 1
    node = next(n for n in estate.nodes(estate.last_run()).values() if n["status"] == "failed")
    assert node["error"] == ("gate downtime-announced not approved: run again with --approve downtime-announced "
                             "(non-interactive run)")
    assert "not approved: not approved" not in result.out + result.err
