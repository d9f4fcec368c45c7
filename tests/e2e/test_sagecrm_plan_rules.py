"""Playbooks that break the Sage CRM ordering rules do not run: exit 2, the task's file:line.

`cutover run` is refused before anything starts: no journal entry, no simulated host touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.runs import run_cli, write_yaml
from tests.support.sagecrm_estates import inventory_doc

DISCONNECT = {"name": "disconnect", "crm_disconnect": {}}
BACKUP = {"name": "backup", "crm_backup": {}}
INSTALL = {"name": "install", "crm_installer": {}}
CASES = {
    "web installer before the database server's": (
        [
            {"hosts": "web:db", "tasks": [DISCONNECT, BACKUP]},
            {"hosts": "web:!db", "tasks": [INSTALL]},
            {"hosts": "db", "tasks": [INSTALL]},
        ],
        "runs before the installer on the database server crm2",
    ),
    "installer without a verified backup": (
        [{"hosts": "web:db", "tasks": [DISCONNECT]}, {"hosts": "db", "tasks": [INSTALL]}],
        "with no verified backup of it planned before it",
    ),
    "a web server still connected": (
        [
            {"hosts": "crm3", "tasks": [DISCONNECT]},
            {"hosts": "web:db", "tasks": [BACKUP]},
            {"hosts": "db", "tasks": [INSTALL]},
        ],
        "would run while crm1 is still connected to the database",
    ),
}


def _first_installer_line(path: Path) -> int:
    """The refused task is the playbook's first `crm_installer` task (the web one in case 1)."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "name: install" in text)


@pytest.mark.parametrize(("plays", "message"), CASES.values(), ids=list(CASES))
def test_refused_before_anything_runs(tmp_path, plays: list[dict[str, Any]], message: str):
    inventory = write_yaml(tmp_path / "inventory.yml", inventory_doc("cluster"))
    playbook = write_yaml(tmp_path / "playbook.yml", json.loads(json.dumps(plays)))  # no YAML aliases
    result = run_cli(["run", str(playbook), "-i", str(inventory), "--approve-all"], tmp_path)
    assert result.rc == 2, result.out + result.err
    assert message in result.err
    located = [line for line in result.err.splitlines() if message in line]
    assert located[0].startswith(f"{playbook}:{_first_installer_line(playbook)}:"), located
    assert not (tmp_path / ".cutover" / "sim").exists()
    assert "Traceback" not in result.err
