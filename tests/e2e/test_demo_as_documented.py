"""The demo, run exactly as README.md and examples/demo/inventory.yml tell a new user (issue #22).

Each test copies the repository's playbooks and examples into a fresh folder, reads the commands
from the document itself (so a document that drifts fails here), runs them in order from that
folder, and checks what each one must leave: its exit code, the run's status in the journal and
in its JSON report, the checklist of the report, and the simulated estate's versions.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from simulation.host import SimHost
from tests.support.runs import REPO, run_cli

INVENTORY = "examples/demo/inventory.yml"
CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
HOSTS = ("crm1", "crm2", "crm3")
#: what the demo inventory says its CRM database is (relative to where cutover runs)
DATABASE = ".cutover/sim/sagecrm-demo-crm.sqlite"


def inventory_commands() -> list[str]:
    """The `cutover ...` lines of the inventory's opening comment, in order."""
    text = (REPO / INVENTORY).read_text(encoding="utf-8")
    return [m.group(1).strip() for m in re.finditer(r"^#\s+(cutover\s.+)$", text, flags=re.M)]


def readme_commands() -> list[str]:
    """The `cutover run ...` lines of README.md's shell blocks that use the demo inventory, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)[^\n`]*\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("cutover run ") and INVENTORY in line:
                lines.append(line.split(" #", 1)[0].strip())
    return lines


def fresh_copy(tmp_path: Path) -> Path:
    for folder in ("playbooks", "examples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def journal_runs(root: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(root / ".cutover" / "runs.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY started, rowid")]


def report_of(root: Path, run_id: str) -> dict[str, Any]:
    return json.loads((root / ".cutover" / "reports" / run_id / "report.json").read_text(encoding="utf-8"))


def versions(root: Path) -> dict[str, str]:
    """Each server's registry Version and the CRM database's."""
    found = {h: SimHost.open(root / ".cutover", h).registry_value(CONFIG, "Version", view="32")["data"] for h in HOSTS}
    with sqlite3.connect(root / DATABASE) as db:
        row = db.execute("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'Version'").fetchone()
    return {**found, "database": row[0]}


def run_documented(root: Path, line: str, upgrade_run: str | None) -> tuple[Any, dict[str, Any]]:
    """Run one documented line from `root`; (CLI result, the journal's row of the run it made)."""
    args = shlex.split(line.replace("<upgrade run id>", upgrade_run or "<upgrade run id>"))
    assert args[0] == "cutover" and "<upgrade run id>" not in args, line
    before = len(journal_runs(root)) if (root / ".cutover" / "runs.db").exists() else 0
    result = run_cli(args[1:], root)
    runs = journal_runs(root)
    assert len(runs) == before + 1, f"{line}: no new run was journaled\n{result.out}{result.err}"
    return result, runs[-1]


def check_outcome(root: Path, line: str, result: Any, run: dict[str, Any]) -> dict[str, Any]:
    """What every documented command must leave: exit 0, a succeeded run, a report saying so."""
    assert result.rc == 0, f"{line}\n{result.out}{result.err}"
    assert run["status"] == "succeeded"
    assert f"run {run['id']}: succeeded" in result.out
    report = report_of(root, run["id"])
    assert report["run"]["status"] == "succeeded" and report["run"]["simulated"] is True
    assert report["counts"]["failed"] == 0 and report["counts"]["blocked"] == 0
    listed = Counter((entry["item"], entry["host"]) for entry in report["checklist"])
    assert [key for key, times in listed.items() if times > 1] == []  # no item twice
    return report


def check_verify_report(report: dict[str, Any]) -> None:
    states = {(entry["item"], entry["host"]): entry["state"] for entry in report["checklist"]}
    multi = [s for (name, _host), s in states.items() if name.startswith("Multi-server settings")]
    assert multi == ["passed"]  # the demo database has its MultiServer* rows
    library = {host: s for (name, host), s in states.items() if name == "Checklist: library location"}
    assert library == dict.fromkeys(HOSTS, "skipped")  # `when:` false: no library is configured
    data = [s for (name, _host), s in states.items() if name.startswith("Data integrity: ")]
    assert data == ["passed"]  # compared with the upgrade's backup (--from-run)
    assert states[("Data integrity", "crm2")] == "skipped"  # so its person's gate was not needed
    failed = sorted(name for (name, _host), s in states.items() if s == "failed")
    # the one item a person must act on: the standard view the demo customer customised
    assert failed == ["New standard views (_New) reviewed"]
    assert states[("_New views reviewed", "crm2")] == "approved-by-flag"  # --approve-all: nobody signed


def check_verify_html(root: Path, run_id: str, report: dict[str, Any]) -> None:
    """The sign-off sheet shows skipped items as skipped: not in red, not counted as missing."""
    html = (root / ".cutover" / "reports" / run_id / "report.html").read_text(encoding="utf-8")
    rows = Counter(re.findall(r'<tr class="check-item (good|bad|skipped)">', html))
    wanted = Counter(
        "good" if e["ok"] else "skipped" if e["state"] == "skipped" else "bad" for e in report["checklist"]
    )
    assert rows == wanted and rows["skipped"] == 4  # library location on 3 servers, the data gate
    total, ok = len(report["checklist"]), sum(e["ok"] for e in report["checklist"])
    flagged = sum(e["state"] == "approved-by-flag" for e in report["checklist"])
    assert f"{ok} of {total} items signed or passed; 4 skipped;" in html
    assert f'<strong class="bad-text">{flagged} approved by flag</strong>' in html
    assert f'<strong class="bad-text">{total - ok - 4 - flagged} not</strong>' in html


@pytest.mark.parametrize("document", ["inventory", "readme"])
def test_the_documented_demo_commands_run_as_documented(tmp_path: Path, document: str) -> None:
    lines = inventory_commands() if document == "inventory" else readme_commands()
    playbooks = [Path(shlex.split(line)[2]).name for line in lines]
    assert playbooks[0] == "upgrade.yml" and playbooks[-1] == "rollback.yml", lines
    root = fresh_copy(tmp_path)
    upgrade_run = None
    for line, playbook in zip(lines, playbooks, strict=True):
        result, run = run_documented(root, line, upgrade_run)
        report = check_outcome(root, line, result, run)
        if playbook == "upgrade.yml":
            upgrade_run = run["id"]
            assert versions(root) == dict.fromkeys((*HOSTS, "database"), "7.3")
        elif playbook == "verify.yml":
            check_verify_report(report)
            check_verify_html(root, run["id"], report)
            assert versions(root) == dict.fromkeys((*HOSTS, "database"), "7.3")
        elif playbook == "rollback.yml":
            assert run["parent_run"] == upgrade_run or upgrade_run in json.dumps(report["run"]["args"])
            assert versions(root) == dict.fromkeys((*HOSTS, "database"), "7.2")
    if document == "inventory":
        assert playbooks == ["upgrade.yml", "verify.yml", "rollback.yml"]


def test_the_demo_database_is_built_by_the_one_builder_with_the_multi_server_rows(tmp_path: Path) -> None:
    """The database the demo builds on first use has what the tests' estates have (issue #22)."""
    root = fresh_copy(tmp_path)
    result = run_cli(["run", "playbooks/sagecrm/backup.yml", "-i", INVENTORY, "--no-report"], root)
    assert result.rc == 0, result.out + result.err
    with sqlite3.connect(root / DATABASE) as db:
        params = dict(db.execute("SELECT Parm_Name, Parm_Value FROM custom_sysparams"))
    assert params["MultiServerNames"] == "crm1;crm2;crm3"
    assert params["MultiServerLoadBalancing"] == "true"
    assert params["MultiServerDTLSName"] == "crm1.demo.local"
    assert params["MultiServerFQDNs"] == "crm1.demo.local;crm2.demo.local;crm3.demo.local"
    assert params["Version"] == "7.2"
