"""Fault injection for the simulated host: rules that delay, fail or drop matching calls.

A rule is `{"op": "service.set", "match": {"name": "W3SVC"}, "mode": "once", "count": 1,
"kind": "failed", "error": "text", "latency": 0.5}` or `{"disk_full": "C"}`:
- `op` is a glob over primitive names (`iis.*`); `match` a subset of the call's arguments:
  strings are case-insensitive globs; for a list argument (`argv`) a string is matched against
  the whole command line (the items joined by spaces: `"*setup.exe /s*"`) and a list item by
  item from the start, extra items of the call allowed (`["*setup.exe", "/s"]`); a mapping
  (`env`) is a subset of the argument's keys, matched the same way; other values by equality;
- `mode`: `once` fails the first `count` matching calls (default 1), `always` every one,
  `after` lets `count` matching calls pass and fails every later one;
- `kind`: an error kind of the spec, or `connection` (the connection drops); a rule with only
  `latency` delays matching calls and fails none;
- `disk_full`: the drive reports 0 bytes free and every write to it fails with `no_space`.
Rules and their `hits` counters are persisted with the host, so a later process sees them.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from engine.connect.remote.spec import ERROR_KINDS, PRIMITIVES
from engine.core.errors import UserError, closest

MODES = ("once", "always", "after")
KINDS = frozenset(ERROR_KINDS | {"connection"})
_KEYS = ("op", "match", "mode", "count", "kind", "error", "latency", "disk_full", "id", "hits")


def normalize(rule: Any, disks: dict[str, Any]) -> dict[str, Any]:
    """A checked copy of a rule; UserError with a plain message when it is malformed."""
    if not isinstance(rule, dict):
        raise UserError(f"simulated fault must be a mapping, not {rule!r}")
    for key in rule:
        if key not in _KEYS:
            hint = closest(str(key), _KEYS)
            raise UserError(
                f"simulated fault: unknown key {key!r}", hint=f"did you mean {hint!r}?" if hint else None
            )
    if "disk_full" in rule:
        drive = str(rule["disk_full"]).rstrip(":\\").upper()
        if len(drive) != 1 and drive.lower() not in disks:
            raise UserError(f"simulated fault: disk_full names a drive letter (C), not {rule['disk_full']!r}")
        return {"disk_full": drive if len(drive) == 1 else drive.lower(), "hits": 0}
    op = rule.get("op")
    if not isinstance(op, str) or not op:
        raise UserError(f"simulated fault needs `op` (a primitive name or glob): {rule!r}")
    mode = rule.get("mode", "once")
    if mode not in MODES:
        raise UserError(f"simulated fault on {op}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    count = rule.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise UserError(f"simulated fault on {op}: count must be a whole number >= 0, not {count!r}")
    latency = rule.get("latency", 0) or 0
    if not isinstance(latency, int | float) or isinstance(latency, bool) or latency < 0:
        raise UserError(f"simulated fault on {op}: latency must be seconds >= 0, not {latency!r}")
    kind = rule.get("kind", None if latency and "kind" not in rule else "failed")
    if kind is not None and kind not in KINDS:
        hint = closest(str(kind), KINDS)
        raise UserError(
            f"simulated fault on {op}: unknown kind {kind!r}",
            hint=f"did you mean {hint!r}?" if hint else None,
        )
    match = rule.get("match", {})
    if not isinstance(match, dict):
        raise UserError(f"simulated fault on {op}: match must be a mapping of argument values")
    spec = PRIMITIVES.get(op)
    for name in match:
        if spec is not None and name not in spec.arguments:
            hint = closest(str(name), sorted(spec.arguments))
            raise UserError(
                f"simulated fault on {op}: {op} has no argument {name!r}, so the rule would never match",
                hint=f"did you mean {hint!r}?"
                if hint
                else f"its arguments: {', '.join(sorted(spec.arguments))}",
            )
    return {
        "op": op,
        "match": dict(match),
        "mode": mode,
        "count": count,
        "kind": kind,
        "error": str(rule.get("error") or ""),
        "latency": float(latency),
        "hits": int(rule.get("hits", 0)),
    }


def fire(rules: list[dict[str, Any]], op: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules that act on this call, counting the call against every rule it matches."""
    fired = []
    for rule in rules:
        if "op" not in rule or not fnmatchcase(op, rule["op"]) or not _matches(rule["match"], args):
            continue
        seen = rule["hits"]
        rule["hits"] = seen + 1
        mode, count = rule["mode"], rule["count"]
        if mode == "always" or (mode == "once" and seen < count) or (mode == "after" and seen >= count):
            fired.append(rule)
    return fired


def disk_full(rules: list[dict[str, Any]], drive: str) -> bool:
    """True while a `disk_full` rule holds the drive."""
    return any(rule.get("disk_full") == drive for rule in rules)


def _matches(wanted: dict[str, Any], args: dict[str, Any]) -> bool:
    return all(name in args and _value_matches(expected, args[name]) for name, expected in wanted.items())


def _value_matches(expected: Any, actual: Any) -> bool:
    """One argument against the rule's value (see the module docstring)."""
    if isinstance(expected, str):
        if isinstance(actual, list) and all(isinstance(item, str) for item in actual):
            actual = " ".join(actual)
        return isinstance(actual, str) and fnmatchcase(actual.casefold(), expected.casefold())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) >= len(expected)
            and all(_value_matches(e, a) for e, a in zip(expected, actual, strict=False))
        )
    if isinstance(expected, dict):
        return isinstance(actual, dict) and _matches(expected, actual)
    return bool(actual == expected)
