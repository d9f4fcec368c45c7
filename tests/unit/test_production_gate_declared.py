"""The restore steps of a production database declare `restore-production-<target>` (issue #17
item 4), so `plan`, the rollback preview and the `--approve` check know it before the run; a Sage
CRM test estate (`mirror_of`) restored from production's backup never does."""

from __future__ import annotations

from pathlib import Path

import yaml

from engine.load.inventory import load_inventory
from modules.sagecrm.crm_restore import CrmRestore
from tests.support.runs import REPO


def sage_inventory(tmp_path: Path, **top: object) -> Path:
    doc = yaml.safe_load((REPO / "inventories/sagecrm-single.yml").read_text())
    doc.update(top)
    path = tmp_path / f"estate-{'production' if top.get('production') else 'other'}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_production_sage_database_restore_declares_its_gate(tmp_path: Path) -> None:
    inventory = load_inventory(sage_inventory(tmp_path, production=True))
    host = inventory.hosts["crm"]

    gates = CrmRestore().gates({"what": ["database"]}, host)

    assert [g["id"] for g in gates] == ["restore-production-crm"]
    assert CrmRestore().gates({"what": ["registry"]}, host) == []  # no database restored there

    not_production = load_inventory(sage_inventory(tmp_path, production=False))
    assert CrmRestore().gates({"what": ["database"]}, not_production.hosts["crm"]) == []
