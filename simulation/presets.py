"""The first state of a simulated host: an `initial` dict checked, presets found by name.

`initial` may describe a host explicitly (files, services, registry, iis, com, disks, programs,
products, ports, http, faults, plugins) or start from a preset, `{"preset": "sagecrm", ...}`;
explicit keys given next to a preset are laid over what it built. A preset is a module that
builds explicit sections: `preset: NAME` is `simulation.NAME.preset` (a dotted name is the
module itself), with `OPTIONS` (the keys it takes next to `preset:`; `roles` is always one) and
`build(host_name, options) -> sections`. The generic simulation knows no product.
A mistake in `initial` is a UserError with a plain message (it comes from an inventory).
"""

from __future__ import annotations

import base64
import copy
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.core.errors import UserError, closest, key_location
from simulation.acl import normalize_acls
from simulation.errors import SimError
from simulation.paths import WinPath, parse_path
from simulation.registry import coerce, infer_type, parse_key
from simulation.windows import windows_section

GIB = 1 << 30
SECTIONS = (
    "hostname", "user", "files", "directories", "services", "registry", "iis", "com", "disks",
    "programs", "products", "ports", "http", "faults", "plugins", "windows", "acls",
)  # fmt: skip
SERVICE_STATES = ("running", "stopped", "paused")
START_MODES = ("auto", "manual", "disabled")

#: the services IIS needs, added to any host whose `initial` has `iis`: name -> (display, start mode, needs)
IIS_SERVICES = {
    "WAS": ("Windows Process Activation Service", "manual", ()),
    "W3SVC": ("World Wide Web Publishing Service", "auto", ("WAS",)),
}


def drive_key(text: str) -> str:
    """`C`, `C:` or `C:\\` -> `C`; `\\\\server\\share` -> its lower-case form."""
    if not isinstance(text, str) or not text:
        raise UserError(f"simulated disk: a drive is a letter like C, not {text!r}")
    raw = text.replace("/", "\\")
    if raw.startswith("\\\\"):
        try:
            return parse_path(raw).drive
        except SimError as exc:
            raise UserError(f"simulated disk {text!r}: {exc.message}") from None
    letter = raw.rstrip("\\").rstrip(":")
    if len(letter) != 1 or not letter.isalpha():
        raise UserError(f"simulated disk: a drive is a letter like C, not {text!r}")
    return letter.upper()


def build_state(
    name: str, initial: dict[str, Any] | None
) -> tuple[dict[str, Any], list[tuple[WinPath, dict]]]:
    """(state without files, files to create) for a new host."""
    written = initial  # as loaded: it knows where each key is written (for the errors' file:line)
    initial = copy.deepcopy(initial) if initial is not None else {}
    if not isinstance(initial, dict):
        raise UserError(f"simulated host {name}: `initial` must be a mapping, not {type(initial).__name__}")
    preset = initial.get("preset")
    module = load_preset(name, preset) if preset is not None else None
    options = ("preset", "roles", *module.OPTIONS) if module is not None else ()
    for key in initial:
        if key in SECTIONS or key in options:
            continue
        owner = None if module is not None else _preset_taking(str(key))
        where = key_location(written, key)
        if owner is not None:
            raise UserError(f"simulated host {name}: {key!r} needs `preset: {owner}`", where)
        hint = closest(str(key), SECTIONS + options)
        raise UserError(
            f"simulated host {name}: unknown key {key!r} in `initial`",
            where,
            hint=f"did you mean {hint!r}?" if hint else f"known: {', '.join(SECTIONS + options)}",
        )
    base = module.build(name, {k: initial[k] for k in options[1:] if k in initial}) if module else {}
    merged = _overlay(base, {k: v for k, v in initial.items() if k in SECTIONS})
    try:
        return _normalize(name, merged)
    except SimError as exc:
        raise UserError(f"simulated host {name}: {exc.message}") from None


def load_preset(host: str, preset: Any) -> ModuleType:
    """The module of a preset name (see the module docstring); UserError naming the known ones."""
    if not isinstance(preset, str) or not preset:
        raise UserError(f"simulated host {host}: `preset` must be a name, not {preset!r}")
    module_name = preset if "." in preset else f"simulation.{preset}.preset"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        known = ", ".join(repr(n) for n in known_presets()) or "none"
        raise UserError(
            f"simulated host {host}: unknown preset {preset!r}", hint=f"known presets: {known}"
        ) from None
    if not callable(getattr(module, "build", None)) or not isinstance(
        getattr(module, "OPTIONS", None), tuple
    ):
        raise UserError(
            f"simulated host {host}: {module_name} is not a preset (it needs OPTIONS and build())"
        )
    return module


def known_presets() -> list[str]:
    """The preset names of this package: its sub-packages that hold a `preset` module."""
    found = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.ispkg and importlib.util.find_spec(f"simulation.{info.name}.preset") is not None:
            found.append(info.name)
    return sorted(found)


def _preset_taking(key: str) -> str | None:
    """The known preset that takes `key` as an option (for "needs `preset: X`")."""
    for name in known_presets():
        if key in ("roles", *importlib.import_module(f"simulation.{name}.preset").OPTIONS):
            return name
    return None


def _overlay(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Explicit sections laid over the preset: mappings merge key by key, lists add up."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            for sub, item in value.items():
                if isinstance(item, dict) and isinstance(out[key].get(sub), dict):
                    out[key][sub] = {**out[key][sub], **item}
                else:
                    out[key][sub] = item
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SimError("invalid", f"`{what}` must be a mapping, not {type(value).__name__}")
    return value


def _normalize(name: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[WinPath, dict]]]:
    state: dict[str, Any] = {
        "hostname": str(raw.get("hostname") or name.split(".")[0].upper()),
        "user": str(raw.get("user") or "Administrator"),
        "clock": 0,
        "log": [],
        "attrs": {},
    }
    disks = _mapping(raw.get("disks"), "disks") or {"C": {"total": 100 * GIB, "free": 60 * GIB}}
    state["disks"] = {}
    for drive, spec in disks.items():
        spec = _mapping(spec, f"disks.{drive}")
        total = spec.get("total", 100 * GIB)
        free = spec.get("free", total)
        if not isinstance(total, int) or not isinstance(free, int) or total < 0 or not 0 <= free <= total:
            raise SimError("invalid", f"disks.{drive}: total and free are byte counts with free <= total")
        state["disks"][drive_key(drive)] = {"total": total, "free": free}
        if spec.get("access") == "denied":  # a share this host's WinRM session may not open (second hop)
            state["disks"][drive_key(drive)]["access"] = "denied"
    files = _files(raw, state["disks"])
    state["services"] = _services(_mapping(raw.get("services"), "services"))
    state["registry"] = _registry(_mapping(raw.get("registry"), "registry"))
    state["iis"] = _iis(raw.get("iis"), state["services"])
    if state["iis"] is None:
        del state["iis"]
    com = _mapping(raw.get("com"), "com")
    state["com"] = {
        "servers": {k: list(v) for k, v in _mapping(com.get("servers"), "com.servers").items()},
        "classes": {k: str(parse_path(v)) for k, v in _mapping(com.get("classes"), "com.classes").items()},
    }
    machines = _mapping(com.get("machines"), "com.machines")  # a DLL's PE machine: x86 | x64
    for name, machine in machines.items():
        if machine not in ("x86", "x64"):
            raise SimError("invalid", f"com.machines.{name}: x86 or x64, not {machine!r}")
    if machines:
        state["com"]["machines"] = dict(machines)
    state["programs"] = {
        k: dict(_mapping(v, f"programs.{k}")) for k, v in _mapping(raw.get("programs"), "programs").items()
    }
    state["products"] = {
        k: dict(_mapping(v, f"products.{k}")) for k, v in _mapping(raw.get("products"), "products").items()
    }
    state["ports"] = {str(int(k)): v for k, v in _mapping(raw.get("ports"), "ports").items()}
    state["http"] = {k: dict(_mapping(v, f"http.{k}")) for k, v in _mapping(raw.get("http"), "http").items()}
    state["windows"] = windows_section(raw.get("windows"))
    acls = normalize_acls(raw.get("acls"))
    if acls:
        state["acls"] = acls
    faults = raw.get("faults") or []
    plugins = raw.get("plugins") or []
    if not isinstance(faults, list) or not isinstance(plugins, list):
        raise SimError("invalid", "`faults` and `plugins` must be lists")
    state["faults"] = faults
    state["plugins"] = list(dict.fromkeys(str(p) for p in plugins))
    return state, files


def _files(raw: dict[str, Any], disks: dict[str, Any]) -> list[tuple[WinPath, dict]]:
    out: list[tuple[WinPath, dict]] = []
    for text in raw.get("directories") or []:
        out.append((_on_disk(text, disks), {"directory": True}))
    for text, spec in _mapping(raw.get("files"), "files").items():
        path = _on_disk(text, disks)
        if isinstance(spec, str):
            spec = {"content": spec}
        spec = dict(_mapping(spec, f"files.{text}"))
        entry = {k: spec[k] for k in ("mode", "owner", "group") if k in spec}
        if spec.get("directory"):
            entry["directory"] = True
        elif "content_b64" in spec:
            entry["data"] = base64.b64decode(spec["content_b64"])
        else:
            entry["data"] = str(spec.get("content", "")).encode("utf-8")
        out.append((path, entry))
    return out


def _on_disk(text: str, disks: dict[str, Any]) -> WinPath:
    path = parse_path(text)
    if path.drive not in disks:
        raise SimError("invalid", f"{text} is on {path.root}, which is not among the disks {sorted(disks)}")
    return path


def _services(raw: dict[str, Any]) -> dict[str, Any]:
    services = {}
    for name, spec in raw.items():
        spec = _mapping(spec, f"services.{name}")
        state = spec.get("state", "running")
        mode = spec.get("start_mode", "auto")
        if state not in SERVICE_STATES or mode not in START_MODES:
            raise SimError(
                "invalid",
                f"services.{name}: state is one of {', '.join(SERVICE_STATES)}, "
                f"start_mode one of {', '.join(START_MODES)}",
            )
        record = {
            "display_name": str(spec.get("display_name", name)),
            "state": state,
            "start_mode": mode,
            "path": str(spec.get("path", f"C:\\Windows\\System32\\{name}.exe")),
        }
        if spec.get("depends_on"):
            record["depends_on"] = [str(d) for d in spec["depends_on"]]
        if spec.get("account"):  # the account it runs as (Win32_Service.StartName)
            record["account"] = str(spec["account"])
        if spec.get("hangs") in ("stop", "start"):  # never leaves StopPending / StartPending
            record["hangs"] = spec["hangs"]
        services[str(name)] = record
    return services


def _registry(raw: dict[str, Any]) -> dict[str, Any]:
    registry: dict[str, Any] = {}
    for key, values in raw.items():
        parts = parse_key(key).split("\\")
        for index in range(2, len(parts) + 1):
            ancestor = "\\".join(parts[:index])
            if ancestor.casefold() not in {k.casefold() for k in registry}:
                registry[ancestor] = {}
        stored = next(k for k in registry if k.casefold() == "\\".join(parts).casefold())
        for name, value in _mapping(values, f"registry.{key}").items():
            if isinstance(value, dict):
                type_name = str(value.get("type") or infer_type(value.get("data"))).upper()
                registry[stored][name] = {"type": type_name, "data": coerce(value.get("data"), type_name)}
            else:
                type_name = infer_type(value)
                registry[stored][name] = {"type": type_name, "data": coerce(value, type_name)}
    return registry


def _iis(raw: Any, services: dict[str, Any]) -> dict[str, Any] | None:
    if raw is None:
        return None
    raw = _mapping(raw, "iis")
    states = ("started", "stopped")
    iis = {
        "sites": {k: v for k, v in _mapping(raw.get("sites"), "iis.sites").items()},
        "pools": {k: v for k, v in _mapping(raw.get("pools"), "iis.pools").items()},
        "apps": {},
    }
    # each pool's enable32BitAppOnWin64 (IIS's default: false,
    # https://learn.microsoft.com/en-us/previous-versions/iis/settings-schema/aa347554(v=vs.90))
    wide = _mapping(raw.get("pools_32bit"), "iis.pools_32bit")
    for name, value in wide.items():
        if name not in iis["pools"] or not isinstance(value, bool):
            raise SimError(
                "invalid", f"iis.pools_32bit.{name}: a listed pool and true or false, not {value!r}"
            )
    if wide:
        iis["pools_32bit"] = dict(wide)
    if raw.get("certificate"):  # the name the HTTPS binding's certificate is issued to
        iis["certificate"] = str(raw["certificate"])
    for table in ("sites", "pools"):
        for name, state in iis[table].items():
            if state not in states:
                raise SimError("invalid", f"iis.{table}.{name}: state is started or stopped, not {state!r}")
    for key, app in _mapping(raw.get("apps"), "iis.apps").items():
        app = _mapping(app, f"iis.apps.{key}")
        site, _, name = key.partition("/")
        if site not in iis["sites"] or app.get("pool") not in iis["pools"]:
            raise SimError(
                "invalid", f"iis.apps.{key}: its site and pool must be listed under sites and pools"
            )
        entry = {"physical_path": str(parse_path(app.get("physical_path"))), "pool": app["pool"]}
        if app.get("isapi"):
            entry["isapi"] = str(parse_path(app["isapi"]))
        if app.get("rewrite"):  # URL Rewrite/ARR rules of the application: first path segment -> service
            rules = _mapping(app["rewrite"], f"iis.apps.{key}.rewrite")
            entry["rewrite"] = {str(k): str(v) for k, v in rules.items()}
        iis["apps"][f"{site}/{name.strip('/')}"] = entry
    lower = {k.casefold() for k in services}
    for name, (display, mode, depends_on) in IIS_SERVICES.items():
        if name.casefold() not in lower:
            services[name] = {
                "display_name": display,
                "state": "running",
                "start_mode": mode,
                "path": "C:\\Windows\\system32\\svchost.exe -k iissvcs",
            }
            if depends_on:
                services[name]["depends_on"] = list(depends_on)
    return iis


def settle_disks(disks: dict[str, Any], used: dict[str, int]) -> None:
    """Turn each drive's asked `free` into `other_used`, the bytes not taken by simulated files."""
    for drive, disk in disks.items():
        free = disk.pop("free", disk["total"])
        disk["other_used"] = max(disk["total"] - free - used.get(drive, 0), 0)
