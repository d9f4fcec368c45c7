"""JSON Schema validation (draft 2020-12) with errors located at file:line:col.

The schemas ship as files in `engine/schemas/` so editors can use them too (`cutover schema`).
Every error of a document is reported, each at the key or value it concerns, with a hint:
the closest valid key for an unknown one, the expected type for a wrong one.

A document found valid is remembered by a sha256 of its schema and content, in the state
directory (`remember_valid_in`, set by the CLI): inventories and playbooks rarely change between
runs, and the same document is then not validated again, which spares a run importing jsonschema
(~45 ms, a fifth of a small run's start-up). Only valid documents are remembered: an invalid one
is validated every time, so its errors are always reported in full.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from engine.core.errors import Location, Problem, closest
from engine.load.yaml_marks import LDict, LList

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing (null)",
}


def load_schema(name: str) -> dict[str, Any]:
    """A schema by name (`inventory`, `playbook`), as the engine checks documents with it.

    The inventory's is the shipped file plus one section per product plug-in: the engine names no
    product, each contributes its own (`Plugin.section_description`), in the order they are declared.
    """
    if name == "inventory":
        from engine.api.plugins import PLUGINS

        PLUGINS.auto_register()
        return _inventory_schema(PLUGINS.version)
    return shipped_schema(name)


@cache
def shipped_schema(name: str) -> dict[str, Any]:
    """A schema file of `engine/schemas/` as it is."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


@cache
def _inventory_schema(plugins_version: int) -> dict[str, Any]:
    """The shipped inventory schema with the products' sections (rebuilt when the plug-ins change)."""
    from engine.api.plugins import PLUGINS

    schema = json.loads(json.dumps(shipped_schema("inventory")))
    products = PLUGINS.products()
    for product in products:  # checked in depth when the inventory loads (engine/load/products.py)
        schema["properties"][product.name] = {"type": "object", "description": product.section_description}
    if products:
        names = " or ".join(p.name for p in products)
        schema["description"] = f"{schema['description'].rstrip('.')} ({names})."
    return schema


@cache
def _validator_class() -> type:
    """Draft 2020-12 with `!vault` values accepted wherever a string is."""
    from jsonschema import Draft202012Validator, validators

    from engine.load.vault.keyring import EncryptedValue

    def is_string(checker: Any, instance: Any) -> bool:
        return isinstance(instance, str | EncryptedValue)

    checker = Draft202012Validator.TYPE_CHECKER.redefine("string", is_string)

    def unless_encrypted(keyword: str) -> Any:
        # A `!vault` value's text is unknown until a task decrypts it: string rules (length,
        # pattern, format) cannot be checked before, and must not crash on it.
        check = Draft202012Validator.VALIDATORS[keyword]

        def validate(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
            if isinstance(instance, EncryptedValue):
                return iter(())
            return check(validator, value, instance, schema)

        return validate

    string_rules = {k: unless_encrypted(k) for k in ("minLength", "maxLength", "pattern", "format")}
    return validators.extend(Draft202012Validator, string_rules, type_checker=checker)


@cache
def validator_for(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    return _validator_class()(schema)


#: id(schema) -> (schema, validator); the schema is kept so its id cannot be reused
_BY_ID: dict[int, tuple[Any, Any]] = {}


def _validator(schema: dict[str, Any]) -> Any:
    """The validator of a schema object; serialising it once per object, not once per document."""
    found = _BY_ID.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    validator = validator_for(json.dumps(schema, sort_keys=True))
    if len(_BY_ID) < 1000:
        _BY_ID[id(schema)] = (schema, validator)
    return validator


def validate(
    document: Any, schema: dict[str, Any], fallback: Location | None = None, skip: Any = None, root: str = ""
) -> list[Problem]:
    """Every schema problem of `document`, located. `skip(value)` drops errors on values it accepts
    (module arguments that are still templates are checked again after rendering); `root` names
    the document in messages (`play.serial must be ...`, `unknown key 'x' in play`)."""
    digest = _digest(document, schema, skip)
    if digest is not None and digest in _known_valid():
        return []
    validator = _validator(schema)
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(document), key=_error_order):
        if skip is not None and skip(error.instance):
            continue
        problems.extend(_describe(error, document, fallback, [root] if root else []))
    if not problems and digest is not None:
        _remember(digest)
    return sorted(_dedupe(problems), key=_by_place)


#: where valid documents' digests are kept (None: nowhere, every document is validated)
_VALID_FILE: Path | None = None
_valid: set[str] | None = None
#: id(schema) -> (schema, sha256 of its JSON); the schema is kept so its id cannot be reused
_SCHEMA_DIGESTS: dict[int, tuple[Any, str]] = {}
_VALID_FILE_NAME = "validated.sha256"
_VALID_FILE_LIMIT = 20_000  # digests (65 bytes each): past it, the file starts again empty


def remember_valid_in(state_dir: str | Path | None) -> None:
    """Remember valid documents in `state_dir` (the CLI's `--state-dir`), or nowhere (None)."""
    global _VALID_FILE, _valid
    _write_pending()  # what was found valid so far goes with the directory it was found for
    # absolute now: written later (at the next command or at exit), when the working directory
    # may be another estate's, a relative path would put these digests in its state directory
    _VALID_FILE = Path(state_dir).absolute() / _VALID_FILE_NAME if state_dir else None
    _valid = None


def _known_valid() -> set[str]:
    global _valid
    if _valid is None:
        _valid = set()
        if _VALID_FILE is not None:
            try:
                lines = _VALID_FILE.read_text().split()
            except (OSError, UnicodeDecodeError):
                lines = []
            _valid = set(lines) if len(lines) < _VALID_FILE_LIMIT else set()
    return _valid


def _remember(digest: str) -> None:
    """Kept in memory, and written when the process ends if the state directory exists by then
    (a run makes it; a command refused for bad input leaves nothing behind, not even this)."""
    global _pending
    _known_valid().add(digest)
    if _VALID_FILE is None:
        return
    if _pending is None:
        _pending = []
        atexit.register(_write_pending)
    _pending.append(digest)


_pending: list[str] | None = None


def _write_pending() -> None:
    """Best effort: a state directory that cannot be written only costs the next run a validation."""
    global _pending
    digests, _pending = _pending or [], None
    if _VALID_FILE is None or not digests or not _VALID_FILE.parent.is_dir():
        return
    try:
        mode = "a" if len(_known_valid()) < _VALID_FILE_LIMIT else "w"
        with _VALID_FILE.open(mode) as out:
            out.write("".join(d + "\n" for d in digests))
    except OSError:
        pass


class _Uncacheable(Exception):
    """A value whose canonical text would not say everything validation looks at."""


def _digest(document: Any, schema: dict[str, Any], skip: Any) -> str | None:
    """sha256 of what decides the validation's outcome: the schema, the document's values with
    their types, and the skip rule (a module-level function, by name). None when a value is not
    plain data (a `!vault` value, a date, a non-string key: validated every time)."""
    if _VALID_FILE is None:
        return None
    skip_name = (
        "" if skip is None else f"{getattr(skip, '__module__', '')}.{getattr(skip, '__qualname__', '<')}"
    )
    if "<" in skip_name:  # a lambda or a closure may decide differently next time
        return None
    parts: list[str] = []
    try:
        _canonical(document, parts)
    except (_Uncacheable, RecursionError):
        return None
    return hashlib.sha256("\0".join((_schema_digest(schema), skip_name, "".join(parts))).encode()).hexdigest()


def _schema_digest(schema: dict[str, Any]) -> str:
    found = _SCHEMA_DIGESTS.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
    if len(_SCHEMA_DIGESTS) < 1000:
        _SCHEMA_DIGESTS[id(schema)] = (schema, digest)
    return digest


def _canonical(value: Any, out: list[str]) -> None:
    """Append `value` as typed, unambiguous text (JSON's own rules would turn key 1 into "1")."""
    if value is None or isinstance(value, bool | int | float) and type(value) in (bool, int, float):
        out.append(f"{type(value).__name__[0]}{value!r};")
    elif isinstance(value, str) and type(value) is str:
        out.append(f"s{len(value)}:{value}")
    elif isinstance(value, dict):
        if not all(type(k) is str for k in value):
            raise _Uncacheable
        out.append(f"{{{len(value)}")
        for key in sorted(value):
            out.append(f"k{len(key)}:{key}")
            _canonical(value[key], out)
    elif isinstance(value, list):
        out.append(f"[{len(value)}")
        for item in value:
            _canonical(item, out)
    else:
        raise _Uncacheable


def _by_place(problem: Problem) -> tuple[str, int, int]:
    """File order, as the operator reads the file (jsonschema reports in schema order)."""
    loc = problem.location
    return (loc.file, loc.line, loc.col) if loc else ("", 0, 0)


def _error_order(error: Any) -> tuple:
    return tuple(str(p) for p in error.absolute_path)


def _resolve(document: Any, path: Iterable[Any]) -> tuple[Any, Any]:
    """(parent container, key) of the node at `path`."""
    parent, key = None, None
    node = document
    for part in path:
        parent, key = node, part
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return parent, key


def _where(
    document: Any, path: list[Any], fallback: Location | None, on_key: bool = False
) -> Location | None:
    parent, key = _resolve(document, path)
    if parent is None:
        return getattr(document, "loc", None) or fallback
    if isinstance(parent, LDict):
        return (parent.key_loc(key) if on_key else parent.value_loc(key)) or fallback
    if isinstance(parent, LList) and isinstance(key, int):
        return parent.item_loc(key) or fallback
    return getattr(parent, "loc", None) or fallback


def _path_text(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Any, document: Any, fallback: Location | None, root: list[str]) -> list[Problem]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        return _describe(best_match(error.context), document, fallback, root)
    path = list(error.absolute_path)
    named = root + path
    where_text = f" in {_path_text(named)}" if named else ""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        pattern_keys = error.schema.get("patternProperties", {})
        problems = []
        for key in error.instance:
            if key in allowed or any(re.match(p, str(key)) for p in pattern_keys):
                continue
            guess = closest(str(key), allowed)
            loc = error.instance.key_loc(key) if isinstance(error.instance, LDict) else None
            problems.append(
                Problem(
                    f"unknown key {key!r}{where_text}",
                    loc or _where(document, path, fallback),
                    hint=f"did you mean {guess!r}?" if guess else f"valid keys: {', '.join(sorted(allowed))}",
                )
            )
        return problems
    if error.validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [
            Problem(
                f"{_path_text(named) or 'document'} must be {wanted}, not {kind_of(error.instance)}",
                _where(document, path, fallback),
                hint=_type_hint(error.instance, names),
            )
        ]
    if error.validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        guess = closest(str(error.instance), [str(v) for v in error.validator_value])
        return [
            Problem(
                f"{_path_text(named)}: {error.instance!r} is not one of {options}",
                _where(document, path, fallback),
                hint=f"did you mean {guess!r}?" if guess else None,
            )
        ]
    if error.validator == "pattern" and "patternErrorMessage" in error.schema:
        return [
            Problem(
                f"{_path_text(named) or 'value'}: {error.instance!r} is not {error.schema['patternErrorMessage']}",
                _where(document, path, fallback),
            )
        ]
    if error.validator in _BOUNDS:
        return [
            Problem(
                f"{_path_text(named) or 'value'} must be {_BOUNDS[error.validator]} {error.validator_value}, "
                f"not {error.instance!r}",
                _where(document, path, fallback),
            )
        ]
    if error.validator == "required":
        missing = [
            k
            for k in error.validator_value
            if not isinstance(error.instance, dict) or k not in error.instance
        ]
        return [
            Problem(f"missing required key {k!r}{where_text}", _where(document, path, fallback))
            for k in missing
        ]
    return [Problem(f"{_path_text(named) or 'document'}: {error.message}", _where(document, path, fallback))]


_BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
}


def kind_of(value: Any) -> str:
    """How a value reads in a message: "a list", "the string 'x'", "empty (null)"."""
    import datetime

    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()} (YAML reads an unquoted date as a date)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the string {str(value)[:40]!r}"


def _type_hint(value: Any, expected: list[str]) -> str | None:
    import datetime

    if isinstance(value, datetime.date) and "string" in expected:
        return "quote it to keep it as text"
    if isinstance(value, bool | int | float) and expected == ["string"]:
        return "quote it to keep it as text"
    if value is None and "object" in expected:
        return "the key is present but empty: give it a mapping, or remove it"
    if isinstance(value, str) and "array" in expected:
        return f"write a list: [{value}]"
    if isinstance(value, dict) and "array" in expected:
        return "write a list: each item on its own line starting with '- '"
    return None


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen = set()
    out = []
    for p in problems:
        key = (p.message, str(p.location))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
