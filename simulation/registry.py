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

Registry views, as 64-bit Windows has them: keys are stored as they are physically, and every
primitive works in the view its call asks for (`view`: '64', the default, or '32'). On a host
whose `windows.architecture` is `x64` (every Windows Server from 2008 R2 on), the 32-bit view of
HKLM\\SOFTWARE is HKLM\\SOFTWARE\\WOW6432Node, where 32-bit programs such as Sage CRM keep their
keys ("Registry Redirector" and "Registry Keys Affected by WOW64",
learn.microsoft.com/windows/win32/winprog64/registry-redirector and .../shared-registry-keys;
the shared subkeys of HKLM\\SOFTWARE and the redirection of HKCU\\Software\\Classes are not
modelled). On an `x86` host both views are the one registry ("If you request a 64-bit view on a
32-bit operating system, the returned keys will be in the 32-bit view", RegistryView). A `.reg`
file names keys as its view shows them (`reg export /reg:32` writes
`HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare`, not `...\\WOW6432Node\\eWare`), so importing it in the other
view writes elsewhere, as `reg import` without `/reg:32` does on Windows.
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
VIEWS = ("32", "64")
#: The node under which a 64-bit Windows keeps the 32-bit view of a redirected key.
WOW_NODE = "WOW6432Node"
#: Keys whose 32-bit view is `<key>\\WOW6432Node` on 64-bit Windows (the simulation's subset).
REDIRECTED = ("HKEY_LOCAL_MACHINE\\SOFTWARE",)


# --- views ---------------------------------------------------------------------------------------
def arg_view(args: dict[str, Any]) -> str:
    """The `view` argument: '64' when absent, '32' or '64' (as text or a number) otherwise."""
    value = args.get("view")
    if value is None:
        return "64"
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text not in VIEWS:
        raise SimError("invalid", f"view must be '32' or '64', not {value!r}")
    return text


def redirects(state: dict[str, Any]) -> bool:
    """Whether the host's 32-bit view differs from its 64-bit one (64-bit Windows)."""
    return str(state.get("windows", {}).get("architecture", "x64")) == "x64"


def physical_key(state: dict[str, Any], key: Any, view: str) -> str:
    """Where a key named in `view` is stored: `HKLM\\SOFTWARE\\x` in the 32-bit view of a 64-bit
    host is `HKLM\\SOFTWARE\\WOW6432Node\\x`."""
    canonical = parse_key(key)
    if view != "32" or not redirects(state):
        return canonical
    folded = canonical.casefold()
    for root in REDIRECTED:
        base = root.casefold()
        if folded != base and not folded.startswith(base + "\\"):
            continue
        rest = canonical[len(root) :]
        if rest.casefold().startswith("\\" + WOW_NODE.casefold()):
            return canonical  # already the physical name
        return root + "\\" + WOW_NODE + rest
    return canonical


def shown_key(state: dict[str, Any], physical: str, view: str) -> str:
    """How a stored key is named in `view` (the inverse of `physical_key`)."""
    if view != "32" or not redirects(state):
        return physical
    for root in REDIRECTED:
        node = (root + "\\" + WOW_NODE).casefold()
        folded = physical.casefold()
        if folded == node or folded.startswith(node + "\\"):
            return root + physical[len(node) :]
    return physical


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


def export_text(registry: dict[str, Any], key: str, shown: Any = None) -> str:
    """The .reg text of a key and all its subkeys (keys sorted as regedit does); `shown(key)`
    names each stored key as the export's view shows it."""
    prefix = key.casefold()
    keys = sorted(
        (k for k in registry if k.casefold() == prefix or k.casefold().startswith(prefix + "\\")),
        key=lambda k: [p.casefold() for p in k.split("\\")],
    )
    out = [regfile.HEADER, ""]
    for k in keys:
        out.append(f"[{shown(k) if shown else k}]")
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
    view = arg_view(args)
    registry = host.state.get("registry", {})
    stored = physical_key(host.state, args.get("key"), view)
    found = find_key(registry, stored)
    if found is None and stored in regfile.ROOTS.values():
        found = stored
    if found is None:
        return {"exists": False, "values": {}, "subkeys": [], "view": view}
    values = registry.get(found, {})
    name = args.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise SimError("invalid", f"name must be a string ('' is the default value), not {name!r}")
        value_name = find_key(values, name)
        values = {value_name: values[value_name]} if value_name is not None else {}
    return {"exists": True, "values": values, "subkeys": subkeys(registry, found), "view": view}


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
    stored = physical_key(host.state, args.get("key"), arg_view(args))
    ticked = host.mutated
    before = set_value(host, stored, name, args.get("data"), type_name)
    return {"changed": host.mutated and not ticked, "before": before}


@op("registry.export")
def registry_export(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    view = arg_view(args)
    registry = host.state.get("registry", {})
    key = arg_str(args, "key")
    found = find_key(registry, physical_key(host.state, key, view))
    if found is None:
        raise SimError("not_found", f"The system was unable to find the specified registry key: {key}")
    dest, real = target(host, args, "dest")
    if real.is_dir():
        raise SimError("exists", f"a folder exists at {dest}")
    require_parent(host, dest)
    text = export_text(registry, found, lambda stored: shown_key(host.state, stored, view))
    data = b"\xff\xfe" + text.encode("utf-16-le")
    write_file(host, dest, data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "view": view}


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
    view = arg_view(args)
    edits = [(action, physical_key(host.state, key, view), payload) for action, key, payload in parse_reg(text)]
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
    return {"changed": host.mutated and not ticked, "sha256": hashlib.sha256(data).hexdigest(), "view": view}
