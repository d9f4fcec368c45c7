"""The filters and tests templates may use besides Jinja2's own (Ansible's names, a few of cutover's)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from engine.core.errors import UserError


def _regex_replace(value: Any, pattern: str, replacement: str = "", ignorecase: bool = False) -> str:
    return re.sub(pattern, replacement, str(value), flags=re.I if ignorecase else 0)


def _regex_search(value: Any, pattern: str, ignorecase: bool = False) -> str | None:
    found = re.search(pattern, str(value), flags=re.I if ignorecase else 0)
    return found.group(0) if found else None


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y")
    return bool(value)


def _version_key(value: Any) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-_]", str(value)) if p)


def _version_test(value: Any, other: Any, op: str = "==") -> bool:
    a, b = _version_key(value), _version_key(other)
    ops = {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
        "eq": a == b,
        "ne": a != b,
        "lt": a < b,
        "le": a <= b,
        "gt": a > b,
        "ge": a >= b,
    }
    if op not in ops:
        raise ValueError(f"unknown version comparison {op!r}")
    return ops[op]


def _mandatory(value: Any, msg: str | None = None) -> Any:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        raise UserError(msg or "a mandatory variable is not defined")
    return value


def _combine(*dicts: Mapping[str, Any], recursive: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            if recursive and isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
                out[k] = _combine(out[k], v, recursive=True)
            else:
                out[k] = v
    return out


def _hash(value: Any, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, str(value).encode()).hexdigest()


FILTERS: dict[str, Callable[..., Any]] = {
    "to_json": lambda v, **kw: json.dumps(v, default=str, **kw),
    "to_nice_json": lambda v: json.dumps(v, default=str, indent=2, sort_keys=True),
    "from_json": lambda v: json.loads(v),
    "bool": _to_bool,
    "basename": lambda v: os.path.basename(str(v).replace("\\", "/")),
    "dirname": lambda v: os.path.dirname(str(v).replace("\\", "/")),
    "win_basename": lambda v: str(v).replace("/", "\\").rsplit("\\", 1)[-1],
    "win_dirname": lambda v: str(v).replace("/", "\\").rsplit("\\", 1)[0],
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "regex_findall": lambda v, p: re.findall(p, str(v)),
    "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
    "b64decode": lambda v: base64.b64decode(str(v)).decode(),
    "mandatory": _mandatory,
    "combine": _combine,
    "dict2items": lambda d: [{"key": k, "value": v} for k, v in d.items()],
    "items2dict": lambda items: {i["key"]: i["value"] for i in items},
    "hash": _hash,
    "version_key": _version_key,
}
TESTS: dict[str, Callable[..., Any]] = {
    "version": _version_test,
    "match": lambda v, p: re.match(p, str(v)) is not None,
    "search": lambda v, p: re.search(p, str(v)) is not None,
    "truthy": lambda v: _to_bool(v),
    "falsy": lambda v: not _to_bool(v),
}
