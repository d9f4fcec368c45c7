"""Registry key spellings and regedit's `.reg` format, read on the controller.

Why here: the Windows modules compare keys in resource strings and parse a `.reg` file before
importing it (to know what it would change); the PowerShell primitives and the simulated host
read keys by the same rules. One parser, in the modules, that the simulation imports too
(the simulation may import modules; no module imports the simulation).

Accepted spellings of a key: `HKLM\\...`, `HKLM:\\...`, `Registry::HKEY_LOCAL_MACHINE\\...`,
`HKEY_LOCAL_MACHINE\\...`; `/` is an ordinary character in key names (Sage CRM's `Config\\/CRM`).
A `.reg` file is "Windows Registry Editor Version 5.00" (or REGEDIT4) followed by `[KEY]`
sections, `[-KEY]` deletions and `"name"=value` lines in regedit's encodings (`dword:`,
`hex(b):`, `hex(2):`, `hex(7):`, `hex:`, `hex(0):`), hex lines continued with `\\`.
Mistakes are ValueError with a plain message; callers turn it into their own failure.
"""

from __future__ import annotations

import re
from typing import Any

#: short root -> long root, as regedit writes keys
ROOTS = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
HEADER = "Windows Registry Editor Version 5.00"
_HEX_TYPES = {"0": "REG_NONE", "2": "REG_EXPAND_SZ", "7": "REG_MULTI_SZ", "b": "REG_QWORD"}


def parse_key(text: object) -> str:
    """The canonical spelling of a key (`HKEY_LOCAL_MACHINE\\...`); ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"registry key must be a non-empty string, not {text!r}")
    if "\0" in text:
        raise ValueError(f"registry key contains NUL, which Windows would cut short: {text!r}")
    raw = text.strip()
    if raw.lower().startswith("registry::"):
        raw = raw[len("registry::") :]
    head, _, rest = raw.partition("\\")
    head = head.rstrip(":").upper()
    root = ROOTS.get(head, head)
    if root not in ROOTS.values():
        raise ValueError(f"registry key must start with one of {', '.join(ROOTS)}: {text!r}")
    parts = [p for p in rest.split("\\") if p]
    return "\\".join([root, *parts])


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) with `\\`-continued hex lines joined."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip() if pending else raw.rstrip()
        if pending:
            line = pending[1] + line
            number = pending[0]
        if line.endswith("\\") and re.search(r"=\s*hex(\([0-9a-fA-F]+\))?:", line):
            pending = (number, line[:-1])
            continue
        pending = None
        lines.append((number, line))
    if pending:
        lines.append(pending)
    return lines


def _read_string(text: str, start: int) -> tuple[str, int]:
    """A quoted string starting at text[start] == '"' -> (value, index after the closing quote)."""
    out, index = [], start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise ValueError("unterminated string")


def _decode_data(raw: str) -> dict[str, Any] | None:
    """The {type, data} of a value's right-hand side; None for `-` (delete)."""
    if raw == "-":
        return None
    if raw.startswith('"'):
        text, end = _read_string(raw, 0)
        if raw[end:].strip():
            raise ValueError(f"unexpected text after string: {raw[end:]!r}")
        return {"type": "REG_SZ", "data": text}
    if raw.lower().startswith("dword:"):
        return {"type": "REG_DWORD", "data": int(raw[6:], 16)}
    match = re.match(r"^hex(?:\(([0-9a-fA-F]+)\))?:(.*)$", raw, re.S)
    if not match:
        raise ValueError(f"unknown value format {raw[:40]!r}")
    code = (match.group(1) or "3").lower()
    body = bytes(int(b, 16) for b in re.split(r"[,\s]+", match.group(2).strip()) if b)
    if code == "3":
        return {"type": "REG_BINARY", "data": list(body)}
    kind = _HEX_TYPES.get(code)
    if kind is None:
        raise ValueError(f"unsupported value type hex({code})")
    if kind == "REG_QWORD":
        return {"type": kind, "data": int.from_bytes(body.ljust(8, b"\0")[:8], "little")}
    if kind == "REG_NONE":
        return {"type": kind, "data": list(body)}
    text = body.decode("utf-16-le")
    if kind == "REG_EXPAND_SZ":
        return {"type": kind, "data": text.split("\0")[0]}
    items = text.split("\0")
    while items and items[-1] == "":
        items.pop()
    return {"type": kind, "data": items}


def parse_reg(text: str) -> list[tuple[str, str, Any]]:
    """The edits a .reg file asks: ('key', key, None), ('delkey', key, None), ('value', key, (name, data)).

    Keys come out in their long form; `data` is `{type, data}`, or None for `"name"=-` (delete).
    ValueError names the line of the first thing that cannot be read.
    """
    lines = _logical_lines(text.lstrip("\ufeff"))
    if not lines or lines[0][1].strip() not in (HEADER, "REGEDIT4"):
        raise ValueError(f"not a .reg file: the first line must be {HEADER!r}")
    edits: list[tuple[str, str, Any]] = []
    key: str | None = None
    for number, line in lines[1:]:
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        try:
            if stripped.startswith("[-") and stripped.endswith("]"):
                edits.append(("delkey", parse_key(stripped[2:-1]), None))
                key = None
            elif stripped.startswith("[") and stripped.endswith("]"):
                key = parse_key(stripped[1:-1])
                edits.append(("key", key, None))
            elif key is None:
                raise ValueError("value outside of a [key] section")
            elif stripped.startswith("@="):
                edits.append(("value", key, ("", _decode_data(stripped[2:].strip()))))
            elif stripped.startswith('"'):
                name, end = _read_string(stripped, 0)
                rest = stripped[end:].lstrip()
                if not rest.startswith("="):
                    raise ValueError("expected '=' after the value name")
                edits.append(("value", key, (name, _decode_data(rest[1:].strip()))))
            else:
                raise ValueError(f"cannot read {stripped[:40]!r}")
        except ValueError as exc:
            raise ValueError(f"line {number} of the .reg file: {exc}") from None
    return edits
