"""The preflight reports the patch level and warns unless the target is declared the latest.

The guide: "Vérifiez que vous faites la mise à jour vers la toute dernière version de Sage CRM, y
compris le dernier ensemble de programmes de correction pour cette version" (chapter 9) and
"Mettre à jour avec le dernier pack de services de Sage CRM" (checklist). No public source lists
Sage CRM patches, so the inventory declares them (`sagecrm.target_patch`, `sagecrm.latest_patch`).
"""

from __future__ import annotations

import json

from tests.support.runs import run_cli, write_yaml
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate, inventory_doc, sim_initial

PREFLIGHT = [
    {
        "name": "Preflight",
        "hosts": "web:db",
        "tasks": [{"import_tasks": str(PLAYBOOKS / "tasks" / "preflight.yml")}],
    }
]


def _preflight(tmp_path, **section):
    doc = inventory_doc("single", **section)
    doc["defaults"]["sim"]["initial"] = {**sim_initial(), "patch": "7.2c"}
    estate = SimEstate(tmp_path, "single", doc=doc)
    playbook = write_yaml(tmp_path / "preflight.yml", PREFLIGHT)
    result = run_cli(["run", str(playbook), "-i", str(estate.inventory)], tmp_path)
    assert result.rc == 0, result.out + result.err
    run_id = estate.last_run()
    report = json.loads((estate.state_dir / "reports" / run_id / "report.json").read_text(encoding="utf-8"))
    return estate.findings(run_id, "patch_level"), json.dumps(report)


def test_target_not_declared_latest_is_a_warning_in_the_report(tmp_path):
    findings, report = _preflight(tmp_path, target_patch="7.3", latest_patch="7.3 SP2")
    assert [f["severity"] for f in findings] == ["warning"]
    message = findings[0]["message"]
    assert "patch 7.3, but the latest declared is 7.3 SP2" in message
    assert "le dernier ensemble de programmes de correction" in message
    detail = json.loads(findings[0]["detail"])
    assert detail["installed"] == {"version": "7.2", "patch": "7.2c"}
    assert detail["target"] == {"version": "7.3", "patch": "7.3"}
    assert "but the latest declared is 7.3 SP2" in report


def test_no_latest_patch_declared_says_the_engine_cannot_know(tmp_path):
    findings, report = _preflight(tmp_path)
    assert [f["severity"] for f in findings] == ["warning"]
    assert "the engine cannot know the latest Sage CRM 7.3 patch by itself" in findings[0]["message"]
    assert "sagecrm.latest_patch is not set" in report


def test_the_latest_patch_declared_is_no_warning(tmp_path):
    findings, _report = _preflight(tmp_path, target_patch="7.3 SP2", latest_patch="7.3 sp2")
    assert [f["severity"] for f in findings] == ["info"]


def test_the_probe_reports_installed_and_target_patch(tmp_path):
    doc = inventory_doc("single", target_patch="7.3", latest_patch="7.3 SP2")
    doc["defaults"]["sim"]["initial"] = {**sim_initial(), "patch": "7.2c"}
    estate = SimEstate(tmp_path, "single", doc=doc)
    result = run_cli(["probe", "-i", str(estate.inventory), "--format", "json"], tmp_path)
    assert result.rc == 0, result.err
    crm = json.loads(result.out)["hosts"]["crm"]["sagecrm"]
    assert crm["patch_level"] == {
        "installed": {"version": "7.2", "patch": "7.2c"},
        "target": {"version": "7.3", "patch": "7.3"},
        "latest_patch": "7.3 SP2",
    }
    assert any("but the latest declared is 7.3 SP2" in f["message"] for f in crm["findings"])
