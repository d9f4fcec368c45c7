"""docs/modules.md must document every module and every argument, exactly as generated.

When this fails after you added or changed a module: run `python docs/gen_modules.py` and commit
the result.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from engine.api.registry import ModuleRegistry

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "modules.md"


def generator():
    spec = importlib.util.spec_from_file_location("gen_modules", ROOT / "docs" / "gen_modules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC.exists(), "docs/modules.md is missing: run `python docs/gen_modules.py`"
    return DOC.read_text(encoding="utf-8")


def sections(text: str) -> dict[str, str]:
    found = re.split(r"^## `([^`]+)`$", text, flags=re.M)
    return dict(zip(found[1::2], found[2::2], strict=True))


def test_every_module_and_argument_is_documented(doc):
    documented = sections(doc)
    registry = ModuleRegistry()
    missing = [name for name in registry.names() if name not in documented]
    assert not missing, f"docs/modules.md misses module(s) {missing}: run `python docs/gen_modules.py`"
    for name in registry.names():
        for arg in registry.get(name).schema.get("properties", {}):
            assert f"| `{arg}` |" in documented[name], f"docs/modules.md: {name} misses argument {arg!r}"


def test_doc_is_what_the_generator_writes(doc):
    assert doc == generator().render(), "docs/modules.md is stale: run `python docs/gen_modules.py`"


def test_generator_spells_schema_types():
    gen = generator()
    assert gen.type_text({"enum": ["zip", "tar.gz"]}) == '`"zip"` | `"tar.gz"`'
    assert gen.type_text({"type": "array", "items": {"type": "string"}}) == "list of string"
    assert gen.type_text(
        {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    ) == ("integer or list of integer")
    assert (
        gen.type_text({"type": "array", "items": {"type": ["string", "boolean"]}})
        == "list of (string or boolean)"
    )
    assert gen.cell("a | b\n c") == "a \\| b c"
