"""What the terminal says when a run ends: findings with counts and where to look; after a failure
the estate's state and the exact commands to resume and to roll back.

A succeeded upgrade on the simulated cluster records findings (a customised view kept with its
`_New` twin, `_dta_` objects dropped, Solo references, an upgrade-log line to fix): they are
printed at the end with their counts, and `--fail-on-findings` makes the run exit 1. An upgrade
whose installer fails after the destructive steps started says what each host was left in and
prints the resume and rollback commands, and the printed rollback command really rolls it back.
"""

from __future__ import annotations

import shlex

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import SimEstate, differences


def _section(out: str, start: str) -> list[str]:
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    return lines[first:]


def test_findings_are_printed_with_counts_and_fail_the_run_when_asked(tmp_path):
    estate = SimEstate(tmp_path, "cluster")
    plain = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert plain.rc == 0, plain.out + plain.err
    recorded = [f for f in estate.findings(estate.last_run()) if f["severity"] in ("warning", "error")]

    shown = _section(plain.out, "findings:")
    assert shown[0] == f"findings: {len(recorded)} to act on"
    for category in {f["category"] for f in recorded}:
        count = sum(1 for f in recorded if f["category"] == category)
        assert any(line.startswith(f"  {category}: {count}") for line in shown), category
    assert any("NB doit être réparé" in line and "views.es.html" in line for line in shown)
    assert "estate state:" not in plain.out  # a succeeded run needs no recovery commands

    again = SimEstate(tmp_path / "again", "cluster")
    failing = again.run("upgrade.yml", "--approve-all", *again.repaired(), "--fail-on-findings")
    assert failing.rc == 1 and f"--fail-on-findings: {len(recorded)} finding(s) to act on: exit 1" in failing.err


def test_a_run_without_findings_passes_fail_on_findings(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("backup.yml", "--approve-all", "--fail-on-findings")
    assert result.rc == 0, result.out + result.err
    assert "findings:" not in result.out


def test_a_failed_run_says_where_the_estate_stands_and_how_to_resume_or_roll_back(tmp_path):
    estate = SimEstate(tmp_path, "single")
    before = estate.snapshot()
    estate.host("crm").add_fault({"op": "process.run", "mode": "always"})

    failed = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert failed.rc == 1
    run_id = estate.last_run()
    state = _section(failed.out, "estate state:")
    assert any(line.startswith("  crm: ") and "Lock users out" in line and "Back up this server" in line
               for line in state)
    assert any(line.startswith("  crm: FAILED at Sage CRM installer:") for line in state)
    resume = next(line for line in state if line.startswith("resume (fix the cause first): "))
    assert resume.endswith(f"cutover resume {run_id}")
    rollback = next(line for line in state if line.startswith("roll back: cutover run "))
    words = shlex.split(rollback.removeprefix("roll back: cutover "))
    assert words[-2:] == ["--from-run", run_id] and words[1].endswith("rollback.yml")

    estate.host("crm").clear_faults()
    undone = run_cli([*words, "--no-report"], estate.root)  # the printed command, as printed
    assert undone.rc == 0, undone.out + undone.err
    assert differences(before, estate.snapshot()) == []


def test_a_run_that_failed_before_any_destructive_step_needs_no_rollback(tmp_path):
    estate = SimEstate(tmp_path, "single")
    estate.host("crm").add_fault({"op": "archive.create", "mode": "always"})
    failed = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert failed.rc == 1
    assert "roll back: not needed, no destructive step started (resume when fixed)" in failed.out
