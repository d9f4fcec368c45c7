"""`--diff` as a person reads one: a unified diff (difflib) of the text before and after, per host and task.

Each changed thing gets a header (`diff: <task> on <host>`), then `--- before: <path>` /
`+++ after: <path>` and the hunks. A value that is not text (a registry key's values, an IIS
setting) is shown as YAML, keys sorted, so two states compare line by line instead of as Python
reprs. Secrets are masked before the diff is computed (a masked value still shows as changed when
it changed) and in every line after. On a terminal, removed lines are red, added ones green and
hunk headers cyan; elsewhere the lines are plain.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

import yaml

STYLES = {"-": "red", "+": "green", "@": "cyan"}


def as_text(value: Any) -> str:
    """Text as is; anything else as block YAML (JSON types first, so odd objects show as text)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    plain = json.loads(json.dumps(value, default=str))
    return yaml.safe_dump(plain, sort_keys=True, default_flow_style=False, allow_unicode=True)


def diff_lines(diff: Any, host: str | None, task: str, mask: Callable[[str], str]) -> list[tuple[str, str]]:
    """(line, style) pairs for a step's diff (one dict or a list of them); [] when there is none."""
    items = [d for d in (diff if isinstance(diff, list) else [diff]) if isinstance(d, dict)]
    if not items:
        return []
    out: list[tuple[str, str]] = [(mask(f"diff: {task} on {host or '-'}"), "bold")]
    for item in items:
        path = item.get("path") or item.get("dest") or item.get("name")
        label = f": {path}" if path else ""
        before = mask(as_text(item.get("before"))).splitlines()
        after = mask(as_text(item.get("after"))).splitlines()
        hunks = list(difflib.unified_diff(before, after, f"before{label}", f"after{label}", lineterm=""))
        if not hunks:
            out.append((mask(f"  (no change in the text{label})"), "dim"))
            continue
        for line in hunks:
            style = "bold" if line.startswith(("---", "+++")) else STYLES.get(line[:1], "")
            out.append((mask(line), style))
    return out
