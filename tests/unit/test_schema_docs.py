"""The JSON Schemas, the reference pages generated from them, and the examples on those pages.

When `test_reference_pages_match_the_schemas` fails after a schema change: run
`python docs/gen_reference.py` and commit the pages it rewrote.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.cli import main
from engine.load.schema import SCHEMA_DIR, load_schema

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def generator():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["playbooks.md", "inventory.md"])
def test_reference_pages_match_the_schemas(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert generator().render(page, text) == text, f"docs/{page} is stale: run `python docs/gen_reference.py`"


def test_the_generator_refuses_a_page_that_lost_a_table():
    text = (DOCS / "playbooks.md").read_text(encoding="utf-8").replace("<!-- generated: task -->", "")
    with pytest.raises(SystemExit, match=r"missing regions \['task'\]"):
        generator().render("playbooks.md", text)


def test_every_task_keyword_is_in_the_playbook_reference():
    text = (DOCS / "playbooks.md").read_text(encoding="utf-8")
    for keyword in load_schema("playbook")["$defs"]["task"]["properties"]:
        assert f"| `{keyword}` |" in text


@pytest.mark.parametrize("name", ["playbook", "inventory"])
def test_schemas_are_valid_and_every_keyword_is_described(name):
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node: dict, where: str) -> None:
        for key, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{name}: {where}.{key} has no description"
            walk(prop, f"{where}.{key}")
        for key, sub in node.get("$defs", {}).items():
            walk(sub, f"$defs.{key}")

    walk(schema, name)


def test_cutover_schema_writes_the_shipped_files(tmp_path, capsys):
    """The inventory's with every product's section, as the engine checks inventories with it."""
    assert main(["schema", "-o", str(tmp_path)]) == 0
    for shipped in SCHEMA_DIR.glob("*.schema.json"):
        name = shipped.name.removesuffix(".schema.json")
        assert json.loads((tmp_path / shipped.name).read_text()) == load_schema(name)
    assert set(load_schema("inventory")["properties"]) >= {"hosts", "sagecrm", "onecrm"}
    assert "yaml-language-server: $schema=" in capsys.readouterr().out
    assert main(["schema", "--name", "playbook"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "cutover playbook"


def _examples(page: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.S)


def test_the_examples_of_the_reference_pages_are_valid(tmp_path, monkeypatch, capsys):
    (playbook,) = _examples("playbooks.md")
    inventory, ansible = _examples("inventory.md")
    (tmp_path / "site.yml").write_text(playbook)
    (tmp_path / "acme.yml").write_text(inventory)
    (tmp_path / "hosts.yml").write_text(ansible)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "site.yml", "-i", "acme.yml", "-e", "target_version=7.3"]) == 0, (
        capsys.readouterr()
    )
    assert main(["plan", "site.yml", "-i", "acme.yml", "-e", "target_version=7.3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"web1 +stop the web server", out) and re.search(r"web1 +say what failed \(rescue", out)
    assert not re.search(r"web-standby +stop the web server", out)
    assert main(["inventory", "-i", "hosts.yml"]) == 0
    out = capsys.readouterr().out
    assert "web2  [ssh deploy@10.0.0.12:2222]" in out and "app1  [winrm deploy@app1]" in out
