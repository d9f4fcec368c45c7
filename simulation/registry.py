"""The registry of the simulated host and the `registry.*` primitives.

Keys are stored flat, `{"HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare\\Config\\/CRM": {name: {type, data}}}`,
looked up without case and kept with the case they were created with. `/` is an ordinary
character in key names (Sage CRM's install key is `Config\\/CRM`). Key spellings and the .reg
parser are the Windows modules' (`modules.windows._regfile`), so the controller and the
simulated host read a key and a file alike.

Exports are real `.reg` files (UTF-16 LE with BOM, "Windows Registry Editor Version 5.00",
regedit's value encodings), so a file exported by the sim imports on Windows and back.
Importing merges, as on Windows: values the file does not name are kept, `"name"=-` deletes a
value and `[-KEY]` deletes a key with its subkeys.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from modules.windows import _regfile as regfile
from simulation.core import HostState, arg_str, find_key, op
from simulation.errors import SimError
from simulation.files import require_parent, target, write_file

TYPES = ("REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ", "REG_BINARY", "REG_NONE")


# --- keys and values ---------------------------------------------------------------------------
def parse_key(text: object) -> str:
    """The canonical spelling of a key (`HKEY_LOCAL_MACHINE\\...`); SimError(invalid) otherwise."""
    try:
        return regfile.parse_key(text)
    except ValueError as exc:
        raise SimError("invalid", str(exc)) from None


def parse_reg(text: str) -> list[tuple[str, str, Any]]:
    """The edits a .reg file asks (see modules.windows._regfile); SimError(invalid) otherwise."""
    try:
        return regfile.parse_reg(text)
    except ValueError as exc:
        raise SimError("invalid", str(exc)) from None


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


def set_value(
    host: HostState, key: str, name: str, data: Any, type_name: str | None
) -> dict[str, Any] | None:
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
    out = [regfile.HEADER, ""]
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


# --- primitives ----------------------------------------------------------------------------------
@op("registry.get")
def registry_get(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    registry = host.state.get("registry", {})
    found = find_reg_key(registry, args.get("key"))
    if found is None and parse_key(args.get("key")) in regfile.ROOTS.values():
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
