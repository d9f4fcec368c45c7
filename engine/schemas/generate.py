"""The editor schemas, generated from the engine's playbook schema and each module's own argument schema.

`editor-playbook.schema.json` and `editor-tasks.schema.json` are what an editor (through
yaml-language-server) uses for playbooks and task files: the engine's play and task keywords,
plus one property per module whose value is that module's argument schema, so the editor
completes and checks module arguments. The module schemas are the modules' own `schema`
declarations (the one source of truth the loader checks arguments against); here each value may
also be a template (`"{{ var }}"`), because the loader checks templated values only once rendered.

Regenerate with `python -m engine.schemas.generate` (tests/unit/test_editor_schemas.py fails when
the committed files differ from what this produces).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent
#: a value the loader renders before checking it
TEMPLATE = {"type": "string", "pattern": "\\{\\{|\\{%", "description": "A template, rendered before the check."}
_NESTED = ("properties", "patternProperties", "$defs")


def tolerant(schema: Any) -> Any:
    """`schema` where every argument value may also be a template."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "$schema"}
    for key in _NESTED:
        if isinstance(out.get(key), dict):
            out[key] = {name: _value(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _value(out[key])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(out.get(key), list):
            out[key] = [tolerant(sub) for sub in out[key]]
    return out


def _value(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    inner = tolerant(schema)
    wrapper: dict[str, Any] = {"anyOf": [inner, TEMPLATE]}
    for key in ("description", "default"):
        if key in inner:
            wrapper[key] = inner[key]
    return wrapper


def module_def(module: Any) -> dict[str, Any]:
    """What may follow `module_name:` in a task: its arguments (a string too when it takes a free form)."""
    args = tolerant(module.schema)
    choices = [args]
    if module.free_form:
        choices.append({"type": "string", "description": f"free form: the `{module.free_form}` argument"})
    if not args.get("required"):
        choices.append({"type": "null"})
    out: dict[str, Any] = {"anyOf": choices}
    if "description" in module.schema:
        out["description"] = module.schema["description"]
    return out


def editor_schemas(registry: Any = None) -> dict[str, dict[str, Any]]:
    """file name -> schema, for the built-in modules (or those of `registry`)."""
    from engine.api.registry import ModuleRegistry

    registry = registry or ModuleRegistry()
    engine = json.loads((SCHEMA_DIR / "playbook.schema.json").read_text())
    defs = copy.deepcopy(engine["$defs"])
    modules = {f"module.{name}": module_def(registry.get(name)) for name in registry.names()}
    defs["task"]["properties"].update({name: {"$ref": f"#/$defs/module.{name}"} for name in registry.names()})
    defs.update(modules)
    playbook = {**{k: v for k, v in engine.items() if k != "$defs"},
                "$id": "urn:cutover:schema:editor-playbook",
                "title": "cutover playbook (for editors: module arguments included)",
                "$defs": defs}
    tasks = {"$schema": engine["$schema"], "$id": "urn:cutover:schema:editor-tasks",
             "title": "cutover task file (include_tasks/import_tasks; for editors)",
             "description": "A list of tasks.", "type": "array", "items": {"$ref": "#/$defs/task"}, "$defs": defs}
    return {"editor-playbook.schema.json": playbook, "editor-tasks.schema.json": tasks}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    for name, schema in editor_schemas().items():
        (SCHEMA_DIR / name).write_text(render(schema), encoding="utf-8")
        print(SCHEMA_DIR / name)


if __name__ == "__main__":
    main()
