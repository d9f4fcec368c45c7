"""The registry of the simulated host and the `registry.*` primitives.

Keys are stored flat, `{"HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM": {name: {type, data}}}`,
looked up without case and kept with the case they were created with. `/` is an ordinary
character in key names (Sage CRM's install key is `Config\\/CRM`). Accepted spellings of a key:
`HKLM\\...`, `HKLM:\\...`, `Registry::HKEY_LOCAL_MACHINE\\...`, `HKEY_LOCAL_MACHINE\\...`.

Exports are real `.reg` files (UTF-16 LE with BOM, "Windows Registry Editor Version 5.00",
regedit's value encodings), so a file exported by the sim imports on Windows and back.
Importing merges, as on Windows: values the file does not name are kept, `"name"=-` deletes a
value and `[-KEY]` deletes a key with its subkeys.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any

from simulation.core import HostState, arg_str, find_key, op
from simulation.errors import SimError
from simulation.files import require_parent, target, write_file

ROOTS = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
TYPES = ("REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ", "REG_BINARY", "REG_NONE")
HEADER = "Windows Registry Editor Version 5.00"
_HEX_TYPES = {"0": "REG_NONE", "2": "REG_EXPAND_SZ", "7": "REG_MULTI_SZ", "b": "REG_QWORD"}


# --- keys and values ---------------------------------------------------------------------------
def parse_key(text: object) -> str:
    """The canonical spelling of a key (`HKEY_LOCAL_MACHINE\\...`); SimError(invalid) otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise SimError("invalid", f"registry key must be a non-empty string, not {text!r}")
    if "\0" in text:
        raise SimError("invalid", f"registry key contains NUL, which Windows would cut short: {text!r}")
    raw = text.strip()
    if raw.lower().startswith("registry::"):
        raw = raw[len("registry::") :]
    head, _, rest = raw.partition("\\")
    head = head.rstrip(":").upper()
    root = ROOTS.get(head, head)
    if root not in ROOTS.values():
        raise SimError("invalid", f"registry key must start with one of {', '.join(ROOTS)}: {text!r}")
    parts = [p for p in rest.split("\\") if p]
    return "\\".join([root, *parts])


def find_reg_key(registry: dict[str, Any], key: str) -> str | None:
    return find_key(registry, parse_key(key))


def subkeys(registry: dict[str, Any], key: str) -> list[str]:
    """Names of the direct subkeys of a stored key."""
    prefix = key.casefold() + "\\"
    names = {k[len(prefix) :].split("\\")[0] for k in registry if k.casefold().startswith(prefix)}
    return sorted(names, key=str.casefold)


def ensure_key(host: HostState, key: str) -> str:
    """The stored spelling of `key`, creating it and its missing parents."""
    registry = host.state.setdefault("registry", {})
    parts = parse_key(key).split("\\")
    found = parts[0]
    for part in parts[1:]:
        wanted = found + "\\" + part
        existing = find_key(registry, wanted)
        if existing is None:
            registry[wanted] = {}
            host.changed(f"registry create {wanted}")
            existing = wanted
        found = existing
    return found


def coerce(data: Any, type_name: str) -> Any:
    """Check that `data` fits the value type, as `New-ItemProperty -PropertyType` would."""
    if type_name not in TYPES:
        raise SimError("invalid", f"registry type must be one of {', '.join(TYPES)}, not {type_name!r}")
    if type_name in ("REG_SZ", "REG_EXPAND_SZ") and isinstance(data, str):
        return data
    if type_name in ("REG_DWORD", "REG_QWORD") and isinstance(data, int) and not isinstance(data, bool):
        limit = 1 << (32 if type_name == "REG_DWORD" else 64)
        if -(limit >> 1) <= data < limit:
            return data % limit
    if type_name == "REG_MULTI_SZ" and isinstance(data, list) and all(isinstance(s, str) for s in data):
        return list(data)
    if type_name in ("REG_BINARY", "REG_NONE") and isinstance(data, list):
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in data):
            return list(data)
    raise SimError("invalid", f"data {data!r} does not fit registry type {type_name}")


def infer_type(data: Any) -> str:
    if isinstance(data, int) and not isinstance(data, bool):
        return "REG_DWORD" if 0 <= data < (1 << 32) else "REG_QWORD"
    if isinstance(data, list):
        return "REG_MULTI_SZ" if all(isinstance(s, str) for s in data) else "REG_BINARY"
    return "REG_SZ"


def get_value(state: dict[str, Any], key: str, name: str) -> dict[str, Any] | None:
    registry = state.get("registry", {})
    found = find_reg_key(registry, key)
    if found is None:
        return None
    value_name = find_key(registry[found], name)
    return dict(registry[found][value_name]) if value_name is not None else None


def set_value(host: HostState, key: str, name: str, data: Any, type_name: str | None) -> dict[str, Any] | None:
    """Set a value (creating the key); returns the value before, or None."""
    type_name = (type_name or infer_type(data)).upper()
    data = coerce(data, type_name)
    stored = ensure_key(host, key)
    values = host.state["registry"][stored]
    value_name = find_key(values, name)
    before = dict(values[value_name]) if value_name is not None else None
    new = {"type": type_name, "data": data}
    if before != new:
        values[value_name if value_name is not None else name] = new
        host.changed(f"registry set {stored}\\{name or '(Default)'}")
    return before


def delete_key(host: HostState, key: str) -> bool:
    registry = host.state.get("registry", {})
    prefix = parse_key(key).casefold()
    doomed = [k for k in registry if k.casefold() == prefix or k.casefold().startswith(prefix + "\\")]
    for k in doomed:
        del registry[k]
    if doomed:
        host.changed(f"registry delete {key}")
    return bool(doomed)


# --- .reg format ---------------------------------------------------------------------------------
def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hex(prefix: str, data: bytes) -> str:
    """regedit's hex list, wrapped at 80 columns with `\\` continuations."""
    items = [f"{b:02x}" for b in data]
    lines, line = [], prefix
    for index, item in enumerate(items):
        piece = item + ("," if index < len(items) - 1 else "")
        if len(line) + len(piece) > 77 and index:
            lines.append(line + "\\")
            line = "  "
        line += piece
    lines.append(line)
    return "\r\n".join(lines)


def _encode_value(name: str, value: dict[str, Any]) -> str:
    head = "@=" if name == "" else _quote(name) + "="
    kind, data = value["type"], value["data"]
    if kind == "REG_SZ":
        return head + _quote(data)
    if kind == "REG_DWORD":
        return head + f"dword:{data:08x}"
    if kind == "REG_QWORD":
        return _hex(head + "hex(b):", struct.pack("<Q", data))
    if kind == "REG_EXPAND_SZ":
        return _hex(head + "hex(2):", (data + "\0").encode("utf-16-le"))
    if kind == "REG_MULTI_SZ":
        return _hex(head + "hex(7):", ("".join(s + "\0" for s in data) + "\0").encode("utf-16-le"))
    return _hex(head + ("hex:" if kind == "REG_BINARY" else "hex(0):"), bytes(data))


def export_text(registry: dict[str, Any], key: str) -> str:
    """The .reg text of a key and all its subkeys (keys sorted as regedit does)."""
    prefix = key.casefold()
    keys = sorted(
        (k for k in registry if k.casefold() == prefix or k.casefold().startswith(prefix + "\\")),
        key=lambda k: [p.casefold() for p in k.split("\\")],
    )
    out = [HEADER, ""]
    for k in keys:
        out.append(f"[{k}]")
        out.extend(_encode_value(name, value) for name, value in registry[k].items())
        out.append("")
    return "\r\n".join(out) + "\r\n"


def decode_reg(data: bytes) -> str:
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    return data.decode("utf-8")


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
    """The edits a .reg file asks: ('key', key, None), ('delkey', key, None), ('value', key, (name, data))."""
    lines = _logical_lines(text.lstrip("\ufeff"))
    if not lines or lines[0][1].strip() not in (HEADER, "REGEDIT4"):
        raise SimError("invalid", f"not a .reg file: the first line must be {HEADER!r}")
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
        except (ValueError, SimError) as exc:
            message = exc.message if isinstance(exc, SimError) else str(exc)
            raise SimError("invalid", f"line {number} of the .reg file: {message}") from None
    return edits


# --- primitives ----------------------------------------------------------------------------------
@op("registry.get")
def registry_get(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    registry = host.state.get("registry", {})
    found = find_reg_key(registry, args.get("key"))
    if found is None and parse_key(args.get("key")) in ROOTS.values():
        found = parse_key(args.get("key"))
    if found is None:
        return {"exists": False, "values": {}, "subkeys": []}
    values = registry.get(found, {})
    name = args.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise SimError("invalid", f"name must be a string ('' is the default value), not {name!r}")
        value_name = find_key(values, name)
        values = {value_name: values[value_name]} if value_name is not None else {}
    return {"exists": True, "values": values, "subkeys": subkeys(registry, found)}


@op("registry.set")
def registry_set(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name")
    if not isinstance(name, str) or "\0" in name:
        raise SimError(
            "invalid", f"name must be a string without NUL ('' is the default value), not {name!r}"
        )
    type_name = args.get("type")
    if type_name is not None and not isinstance(type_name, str):
        raise SimError("invalid", f"type must be one of {', '.join(TYPES)}")
    ticked = host.mutated
    before = set_value(host, args.get("key"), name, args.get("data"), type_name)
    return {"changed": host.mutated and not ticked, "before": before}


@op("registry.export")
def registry_export(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    registry = host.state.get("registry", {})
    key = arg_str(args, "key")
    found = find_reg_key(registry, key)
    if found is None:
        raise SimError("not_found", f"The system was unable to find the specified registry key: {key}")
    dest, real = target(host, args, "dest")
    if real.is_dir():
        raise SimError("exists", f"a folder exists at {dest}")
    require_parent(host, dest)
    data = b"\xff\xfe" + export_text(registry, found).encode("utf-16-le")
    write_file(host, dest, data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@op("registry.import")
def registry_import(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path, real = target(host, args, "path")
    if not real.is_file():
        raise SimError("not_found", f"Cannot find path '{path}' because it does not exist.")
    data = real.read_bytes()
    try:
        text = decode_reg(data)
    except UnicodeDecodeError:
        raise SimError("invalid", f"{path} is not a .reg file (bad text encoding)") from None
    edits = parse_reg(text)
    ticked = host.mutated
    if args.get("replace"):
        top = next((key for action, key, _payload in edits if action == "key"), None)
        if top is not None and find_reg_key(host.state.get("registry", {}), top) is not None:
            delete_key(host, top)
    for action, key, payload in edits:
        if action == "delkey":
            delete_key(host, key)
        elif action == "key":
            ensure_key(host, key)
        else:
            name, value = payload
            stored = ensure_key(host, key)
            values = host.state["registry"][stored]
            if value is None:
                existing = find_key(values, name)
                if existing is not None:
                    del values[existing]
                    host.changed(f"registry delete {stored}\\{name}")
            else:
                set_value(host, stored, name, value["data"], value["type"])
    return {"changed": host.mutated and not ticked, "sha256": hashlib.sha256(data).hexdigest()}
