"""1CRM estates as operators write them: the example inventories, the estate rules, the plan rule.

The examples must load and plan with both playbooks. Each broken estate must be refused when
the inventory loads, with exit code 2 and the file:line:col of the offending key, never a
traceback. A playbook that would install the update without the backup step before it does not
plan. None of this touches a host.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.runs import REPO, run_cli, write_yaml

EXAMPLES = ["inventories/onecrm-no-contract.yml", "inventories/onecrm-contract.yml"]
PLAYBOOKS = ["playbooks/onecrm/upgrade.yml", "playbooks/onecrm/rollback.yml"]


@pytest.mark.parametrize("inventory", EXAMPLES)
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_example_estates_load_and_plan(tmp_path: Path, inventory: str, playbook: str) -> None:
    result = run_cli(["validate", str(REPO / playbook), "-i", str(REPO / inventory)], tmp_path)
    assert result.rc == 0, result.err
    assert "ok:" in result.out


class _PlainVault(yaml.SafeLoader):
    """Reads `!vault` values as the placeholder text they are in the example."""


_PlainVault.add_constructor("!vault", lambda loader, node: "secret")


def base() -> dict[str, Any]:
    """A valid estate without service contract (the example, its vault values made plain)."""
    return yaml.load((REPO / EXAMPLES[0]).read_text(), Loader=_PlainVault)  # noqa: S506 - a safe loader


def with_contract(doc: dict[str, Any]) -> dict[str, Any]:
    doc["onecrm"]["service_contract"] = True
    del doc["onecrm"]["live"]["nightly"]
    doc["databases"]["crm_test"] = {**doc["databases"]["crm_live"], "database": "onecrm_test"}
    doc["onecrm"]["test"] = {
        **doc["onecrm"]["live"],
        "install_path": "/var/www/1crm-test",
        "database": "crm_test",
        "backup_dir": "/var/backups/cutover/1crm-test",
    }
    return doc


_DELETE = object()

#: case -> ({dotted path: new value or _DELETE}, "key@the line it follows", message); `+test`: with contract
BROKEN: dict[str, tuple[dict[str, Any], str, str]] = {
    "unknown host": ({"onecrm.live.host": "crm2"}, "host@onecrm:", "no host 'crm2'"),
    "live role missing": ({"hosts.crm1.roles": []}, "crm1@", "needs the role 'onecrm_live'"),
    "unknown database target": (
        {"onecrm.live.database": "crm_liv"},
        "database@onecrm:",
        "did you mean 'crm_live'",
    ),
    "not mariadb": ({"databases.crm_live.dialect": "mssql"}, "database@onecrm:", "runs on mariadb"),
    "typo in a key": ({"onecrm.live.instal_path": "/x"}, "instal_path@", "did you mean 'install_path'"),
    "no nightly without contract": ({"onecrm.live.nightly": _DELETE}, "live@onecrm:", "nightly is required"),
    "time zones differ": ({"onecrm.timezone": "Europe/Vienna"}, "timezone@onecrm:", "differs from"),
    "template in a planned name": (
        {"onecrm.live.database": "{{ db }}"},
        "database@onecrm:",
        "must be written out",
    ),
    "backups inside the install": (
        {"onecrm.live.backup_dir": "/var/www/1crm/b"},
        "backup_dir@onecrm:",
        "inside",
    ),
    "download without checksum": (
        {"onecrm.package.url": "https://x.example/u.zip", "onecrm.package.sha256": _DELETE},
        "url@",
        "its sha256",
    ),
    "test is live's database": (
        {"+test": 1, "onecrm.test.database": "crm_live"},
        "database@  test:",
        "is the live",
    ),
    "test inside live": (
        {"+test": 1, "onecrm.test.install_path": "/var/www/1crm/t"},
        "install_path@  test:",
        "overl",
    ),
    "test on an unknown host": ({"+test": 1, "onecrm.test.host": "crm9"}, "host@  test:", "no host 'crm9'"),
}


def broken(changes: dict[str, Any]) -> dict[str, Any]:
    """The valid estate with `changes` applied."""
    doc = base()
    if changes.get("+test"):
        doc = with_contract(doc)
    for path, value in changes.items():
        if path == "+test":
            continue
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def line_of(text: str, key: str, after: str | None = None) -> int:
    """1-based line of the first `key:` (after the first line holding `after`, when given)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after) or line == after) if after else 0
    for i in range(start, len(lines)):
        if re.match(rf"\s*{re.escape(key)}:", lines[i]):
            return i + 1
    raise AssertionError(f"{key} not in the inventory")


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_estate_is_refused_at_its_line(tmp_path: Path, case: str) -> None:
    changes, place, message = BROKEN[case]
    key, after = place.split("@")
    path = write_yaml(tmp_path / "inv.yml", broken(changes))

    result = run_cli(["inventory", "-i", str(path)], tmp_path)

    assert result.rc == 2, result.out + result.err
    assert "Traceback" not in result.err
    assert message in result.err
    located = {int(n) for n in re.findall(rf"{re.escape(str(path))}:(\d+):\d+: ", result.err)}
    assert line_of(path.read_text(), key, after or None) in located, result.err


def test_copy_refresh_needs_both_sites_on_one_host(tmp_path: Path) -> None:
    doc = with_contract(base())
    doc["hosts"]["crm2"] = {"address": "test.kunde.example"}
    doc["onecrm"]["test"]["host"] = "crm2"
    path = write_yaml(tmp_path / "inv.yml", doc)

    refused = run_cli(["inventory", "-i", str(path)], tmp_path)
    doc["onecrm"]["refresh"] = "gate"
    write_yaml(path, doc)
    accepted = run_cli(["inventory", "-i", str(path)], tmp_path)

    assert refused.rc == 2 and "cannot be refreshed by copying" in refused.err
    assert "set `refresh: gate`" in refused.err
    assert accepted.rc == 0, accepted.err


def write_playbook(folder: Path, tasks: list[dict[str, Any]]) -> Path:
    return write_yaml(folder / "pb.yml", [{"hosts": "onecrm_live", "tasks": tasks}])


def test_install_without_the_backup_step_does_not_plan(tmp_path: Path) -> None:
    write_playbook(
        tmp_path, [{"name": "Install straight away", "onecrm_update": {"site": "live", "step": "install"}}]
    )
    inventory = write_yaml(tmp_path / "inv.yml", base())

    result = run_cli(["plan", str(tmp_path / "pb.yml"), "-i", str(inventory)], tmp_path)

    assert result.rc == 2
    assert re.search(
        r"pb\.yml:\d+:\d+: destructive step 'Install straight away' on crm1 overwrites "
        r"files:crm1:/var/www/1crm",
        result.err,
    ), result.err
    assert "db:crm_live" in result.err


def test_live_update_before_the_test_system_does_not_plan_with_a_contract(tmp_path: Path) -> None:
    write_playbook(tmp_path, [
        {"name": "prepare", "onecrm_update": {"site": "live", "step": "prepare"}},
        {"name": "dump", "onecrm_backup": {"site": "live", "part": "database"}},
        {"name": "Install on live first", "onecrm_update": {"site": "live", "step": "install"}},
    ])  # fmt: skip
    inventory = write_yaml(tmp_path / "inv.yml", with_contract(base()))

    result = run_cli(["plan", str(tmp_path / "pb.yml"), "-i", str(inventory)], tmp_path)

    assert result.rc == 2
    assert "'Install on live first'): the test system's update verified" in result.err
    assert "a gate where someone signs the tests must come before it" in result.err
    assert "destructive step" not in result.err  # its own backups are there: only the procedure is missing
