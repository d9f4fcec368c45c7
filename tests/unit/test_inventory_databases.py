"""Database targets are checked when the inventory loads, at their file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import UserError
from engine.load.inventory import load_inventory


def _load(tmp_path: Path, text: str) -> UserError:
    path = tmp_path / "inv.yml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_inventory(path)
    return caught.value


def test_database_host_must_be_in_the_inventory(tmp_path: Path) -> None:
    err = _load(tmp_path, "hosts:\n  db1: {connection: local}\ndatabases:\n  crm:\n"
                          "    dialect: sqlite\n    path: crm.db\n    host: db2\n")
    assert err.render().startswith(f"{tmp_path / 'inv.yml'}:7:11: database target 'crm': host 'db2' is not in")
    assert "did you mean 'db1'?" in err.render()


def test_server_dialect_needs_a_server(tmp_path: Path) -> None:
    err = _load(tmp_path, "hosts:\n  a: {connection: local}\ndatabases:\n  crm:\n    dialect: mariadb\n")
    assert err.render().startswith(f"{tmp_path / 'inv.yml'}:4:3: database target 'crm' (mariadb) needs server")


def test_vault_and_template_values_are_left_for_run_time(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("vars: {db_server: sql1}\nhosts:\n  a: {connection: local}\ndatabases:\n  crm:\n"
                    "    dialect: mssql\n    server: '{{ db_server }}'\n    port: '{{ db_port | default(1433) }}'\n")
    inventory = load_inventory(path)
    assert inventory.databases["crm"]["server"] == "{{ db_server }}"
