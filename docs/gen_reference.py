"""Keep the keyword tables of docs/playbooks.md and docs/inventory.md equal to the JSON Schemas.

Why: the schemas in `engine/schemas/` are what the engine (and the operators' editors) enforce;
a table typed by hand drifts from them the first time a keyword is added. The prose around the
tables (precedence, patterns, includes, examples) is written by hand in the .md files; only the
regions between `<!-- generated: NAME -->` and `<!-- end generated -->` are written here, from
the schema definition NAME. Every region a page must have is listed in `PAGES`, so a table
cannot silently disappear either. `tests/unit/test_schema_docs.py` fails when a page differs
from what this script writes.

Usage: `python docs/gen_reference.py` (rewrite the tables) or `--check` (exit 1 when stale).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.load.schema import load_schema  # noqa: E402

#: page -> (schema, region name -> JSON pointer of the definition inside that schema)
PAGES: dict[str, tuple[str, dict[str, str]]] = {
    "playbooks.md": (
        "playbook",
        {"play": "/$defs/play", "task": "/$defs/task", "loop_control": "/$defs/task/properties/loop_control"},
    ),
    "inventory.md": (
        "inventory",
        {
            "inventory": "",
            "defaults": "/properties/defaults",
            "host": "/$defs/host",
            "group": "/$defs/group",
            "database": "/$defs/database",
        },
    ),
}
REGION = re.compile(r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
_TEMPLATE_OK = "{{"


def pointer(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The sub-schema at a JSON pointer (`/$defs/task`)."""
    node: Any = schema
    for part in [p for p in path.split("/") if p]:
        node = node[part]
    return node


def spelling(prop: dict[str, Any]) -> str:
    """How a keyword's value is written: `string`, `number or template`, one of `a` `b`, list of string."""
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    kinds = prop.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    templated = "string" in kinds and _TEMPLATE_OK in prop.get("pattern", "").replace("\\", "")
    words = []
    for kind in kinds:
        if kind == "string" and templated:
            words.append("template")
        elif kind == "array":
            item = prop.get("items") or {}
            if "$ref" in item:
                words.append(f"list of {item['$ref'].rsplit('/', 1)[-1]}s")
            else:
                words.append(f"list of {spelling(item)}" if item.get("type") or item.get("enum") else "list")
        elif kind == "object":
            words.append("mapping")
        elif kind == "null":
            continue
        else:
            words.append({"integer": "whole number", "boolean": "true/false"}.get(kind, kind))
    if not words and "$ref" in prop:
        words.append(prop["$ref"].rsplit("/", 1)[-1])
    return " or ".join(words) or "any"


def limits(prop: dict[str, Any]) -> str:
    """Bounds and formats worth knowing before the validator says so."""
    out = []
    if "minimum" in prop:
        out.append(f"at least {prop['minimum']}")
    if "maximum" in prop:
        out.append(f"at most {prop['maximum']}")
    if "patternErrorMessage" in prop:
        out.append(prop["patternErrorMessage"])
    return "; ".join(out)


def table(definition: dict[str, Any]) -> str:
    """One row per keyword, in schema order; required keywords are marked."""
    required = set(definition.get("required", []))
    rows = ["| Keyword | Value | Description |", "|---|---|---|"]
    for name, prop in definition.get("properties", {}).items():
        mark = " (required)" if name in required else ""
        extra = limits(prop)
        description = prop.get("description", "").replace("|", "\\|") + (f" *({extra})*" if extra else "")
        rows.append(f"| `{name}`{mark} | {spelling(prop).replace('|', '/')} | {description} |")
    if definition.get("patternProperties"):
        for pattern, prop in definition["patternProperties"].items():
            rows.append(
                f"| *any other name* (`{pattern}`) | module arguments | {prop.get('description', '')} |"
            )
    elif isinstance(definition.get("additionalProperties"), dict):
        ref = definition["additionalProperties"].get("$ref", "")
        rows.append(f"| *any name* | {ref.rsplit('/', 1)[-1] or 'value'} | One entry per name. |")
    return "\n".join(rows) + "\n"


def render(page: str, text: str) -> str:
    """`text` with every generated region of `page` rewritten from its schema."""
    schema_name, regions = PAGES[page]
    schema = load_schema(schema_name)
    found = {m.group("name") for m in REGION.finditer(text)}
    missing = sorted(set(regions) - found)
    unknown = sorted(found - set(regions))
    if missing or unknown:
        raise SystemExit(f"docs/{page}: missing regions {missing}, unknown regions {unknown}")

    def fill(match: re.Match[str]) -> str:
        definition = pointer(schema, regions[match.group("name")])
        return match.group(1) + table(definition) + match.group(4)

    return REGION.sub(fill, text)


def main(argv: list[str]) -> int:
    stale = []
    for page in PAGES:
        path = ROOT / "docs" / page
        text = path.read_text(encoding="utf-8")
        new = render(page, text)
        if new != text:
            stale.append(page)
            if "--check" not in argv:
                path.write_text(new, encoding="utf-8")
    if stale and "--check" in argv:
        print(f"stale: {', '.join(stale)} (run python docs/gen_reference.py)", file=sys.stderr)
        return 1
    for page in stale:
        print(f"wrote docs/{page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
