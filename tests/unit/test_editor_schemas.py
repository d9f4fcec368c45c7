"""The schemas editors use: generated from the modules' own declarations, and valid for every file we ship.

- The committed editor schemas are exactly what `engine.schemas.generate` produces now, so a
  module's argument change cannot leave the editor's completion behind.
- For every module, the editor's argument schema has the module's own arguments, required ones
  and types (one source of truth), and accepts and refuses what the module itself does.
- Every playbook, task file, inventory and example in the repository validates with the
  published schemas (yaml-language-server reads `!vault` as a string: `customTags: ["!vault scalar"]`).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.api.registry import ModuleRegistry
from engine.schemas.generate import SCHEMA_DIR, editor_schemas, render

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ModuleRegistry()
EDITOR = editor_schemas(REGISTRY)


def _schema(name: str) -> dict:
    """The schema as `cutover schema` publishes it (the inventory's completed with each product's section)."""
    from engine.load.schema import load_schema

    return load_schema(name)


class _VaultAsText(yaml.SafeLoader):
    """What yaml-language-server does with `customTags: ["!vault scalar"]`: the value is a string."""


_VaultAsText.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))


def _load(path: Path):
    return yaml.load(path.read_text(), Loader=_VaultAsText)  # noqa: S506 - a SafeLoader subclass


def test_the_committed_editor_schemas_are_the_generated_ones():
    for name, schema in EDITOR.items():
        assert (SCHEMA_DIR / name).read_text() == render(schema), f"regenerate: python -m engine.schemas.generate ({name})"


def test_every_published_schema_has_an_id_and_is_a_valid_schema():
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        assert schema["$id"].startswith("urn:cutover:schema:"), path.name
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", REGISTRY.names())
def test_editor_arguments_are_the_modules_own(name):
    module = REGISTRY.get(name)
    definition = EDITOR["editor-playbook.schema.json"]["$defs"][f"module.{name}"]
    args = definition["anyOf"][0]
    assert set(args.get("properties", {})) == set(module.schema.get("properties", {}))
    assert args.get("required") == module.schema.get("required")
    assert (args.get("additionalProperties") is False) == (module.schema.get("additionalProperties") is False)
    for key, prop in module.schema.get("properties", {}).items():
        assert args["properties"][key]["anyOf"][0].get("type") == prop.get("type"), key
    task = {"$ref": "#/$defs/task", "$defs": EDITOR["editor-playbook.schema.json"]["$defs"]}
    editor = jsonschema.Draft202012Validator(task)
    if module.schema.get("additionalProperties") is False:
        wrong = {name: {"no_such_argument_xyz": 1}}
        assert not editor.is_valid(wrong)
        assert not jsonschema.Draft202012Validator(module.schema).is_valid(wrong[name])


def _files(kind: str) -> list[Path]:
    patterns = {
        "playbook": ["playbooks/*/*.yml"],
        "tasks": ["playbooks/*/tasks/*.yml"],
        "inventory": ["inventories/*.yml", "examples/**/inventory*.yml"],
    }[kind]
    return sorted(p for pattern in patterns for p in ROOT.glob(pattern))


@pytest.mark.parametrize(("kind", "schema"), [("playbook", "editor-playbook"), ("tasks", "editor-tasks"),
                                               ("inventory", "inventory")])
def test_every_file_we_ship_validates_with_the_published_schema(kind, schema):
    files = _files(kind)
    assert files, kind
    loaded = EDITOR.get(f"{schema}.schema.json") or _schema(schema)
    validator = jsonschema.Draft202012Validator(loaded)
    for path in files:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_load(path))]
        assert not errors, f"{path.relative_to(ROOT)}: {errors[:3]}"


def test_every_task_of_every_shipped_playbook_has_arguments_its_module_accepts():
    """The loader's check (module.schema) and the editor's agree on the real playbooks (templates too)."""
    editor = jsonschema.Draft202012Validator({"$ref": "#/$defs/task",
                                              "$defs": EDITOR["editor-playbook.schema.json"]["$defs"]})
    seen = 0
    for path in _files("playbook") + _files("tasks"):
        doc = _load(path)
        tasks = [t for play in doc for t in play.get("tasks", []) + play.get("handlers", [])] \
            if path.parent.name != "tasks" else doc
        stack = list(tasks)
        while stack:
            task = stack.pop()
            stack.extend(task.get("block", []) + task.get("rescue", []) + task.get("always", []))
            for name in set(task) & set(REGISTRY.names()):
                args = task[name]
                assert editor.is_valid({name: args}), (path, name, args)
                if isinstance(args, dict) and not any("{{" in json.dumps(v) for v in args.values()):
                    assert jsonschema.Draft202012Validator(REGISTRY.get(name).schema).is_valid(args), (path, name)
                seen += 1
    assert seen > 50


def test_ansible_and_vars_schemas_accept_the_ansible_forms():
    inventory = jsonschema.Draft202012Validator(_schema("ansible-inventory"))
    assert inventory.is_valid({"all": {"hosts": {"web1": {"ansible_host": "10.0.0.1"}, "web2": None},
                                       "children": {"db": {"hosts": {"db1": None}, "vars": {"x": 1}}}}})
    assert not inventory.is_valid({"all": {"host": {}}})
    assert not inventory.is_valid({"all": {"hosts": ["web1"]}})
    variables = jsonschema.Draft202012Validator(_schema("vars"))
    assert variables.is_valid({"http_port": 8080, "db_password": "$ANSIBLE_VAULT;1.1;AES256\n00"})
    assert not variables.is_valid({"2bad": 1}) and not variables.is_valid(["a"])
