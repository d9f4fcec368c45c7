"""The first state of a simulated host: an `initial` dict checked, and the `sagecrm` preset.

`initial` may describe a host explicitly (files, services, registry, iis, com, disks, programs,
products, ports, http, faults, plugins) or start from `{"preset": "sagecrm", ...}`, which builds
a realistic Sage CRM server; explicit keys given next to a preset are laid over what it built.
A mistake in `initial` is a UserError with a plain message (it comes from an inventory).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from engine.core.errors import UserError, closest
from simulation.errors import SimError
from simulation.paths import WinPath, parse_path
from simulation.registry import coerce, infer_type, parse_key

GIB = 1 << 30
SECTIONS = (
    "hostname", "user", "files", "directories", "services", "registry", "iis", "com", "disks",
    "programs", "products", "ports", "http", "faults", "plugins",
)  # fmt: skip
PRESET_OPTIONS = ("preset", "install_name", "version", "roles", "db_server", "database", "sage_dir")
SERVICE_STATES = ("running", "stopped", "paused")
START_MODES = ("auto", "manual", "disabled")

#: Sage CRM roles -> what they put on a server (unknown roles, e.g. `dtls`, add nothing).
ROLE_ALIASES = {
    "web": "web", "app": "web", "webserver": "web", "tomcat": "web",
    "email": "email", "email_manager": "email", "mail": "email",
    "escalation": "escalation", "indexer": "indexer", "indexing": "indexer", "search": "indexer",
    "integration": "integration", "quickfind": "quickfind",
    "db": "db", "database": "db", "db_server": "db", "dbserver": "db", "sql": "db",
}  # fmt: skip
DEFAULT_ROLES = ("web", "email", "escalation", "indexer")
#: the services IIS needs, added to any host whose `initial` has `iis`: name -> (display, start mode, needs)
IIS_SERVICES = {
    "WAS": ("Windows Process Activation Service", "manual", ()),
    "W3SVC": ("World Wide Web Publishing Service", "auto", ("WAS",)),
}
#: role -> (service name, display name, executable below the Sage CRM folder)
SAGE_SERVICES = {
    "email": ("eWareEmailManager", "Sage CRM E-mail Manager", "Services\\eWareEmailManager.exe"),
    "escalation": (
        "CRMEscalationService",
        "Sage CRM Escalation Service",
        "Services\\CRMEscalationService.exe",
    ),
    "indexer": ("CRMIndexerService", "Sage CRM Indexer Service", "Services\\CRMIndexerService.exe"),
    "integration": (
        "CRMIntegrationService",
        "Sage CRM Integration Service",
        "Services\\CRMIntegrationService.exe",
    ),
    "quickfind": (
        "SageCRMQuickFindService",
        "Sage CRM QuickFind Service",
        "Services\\SageCRMQuickFindService.exe",
    ),
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
    initial = copy.deepcopy(initial) if initial is not None else {}
    if not isinstance(initial, dict):
        raise UserError(f"simulated host {name}: `initial` must be a mapping, not {type(initial).__name__}")
    for key in initial:
        if key not in SECTIONS and key not in PRESET_OPTIONS:
            hint = closest(str(key), SECTIONS + PRESET_OPTIONS)
            raise UserError(
                f"simulated host {name}: unknown key {key!r} in `initial`",
                hint=f"did you mean {hint!r}?" if hint else None,
            )
    preset = initial.get("preset")
    if preset is None:
        for key in PRESET_OPTIONS:
            if key in initial:
                raise UserError(f"simulated host {name}: {key!r} needs `preset: sagecrm`")
        base: dict[str, Any] = {}
    elif preset == "sagecrm":
        base = sagecrm(name, {k: initial[k] for k in PRESET_OPTIONS if k in initial})
    else:
        raise UserError(
            f"simulated host {name}: unknown preset {preset!r}", hint="the known preset is 'sagecrm'"
        )
    merged = _overlay(base, {k: v for k, v in initial.items() if k in SECTIONS})
    try:
        return _normalize(name, merged)
    except SimError as exc:
        raise UserError(f"simulated host {name}: {exc.message}") from None


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
    state["programs"] = {
        k: dict(_mapping(v, f"programs.{k}")) for k, v in _mapping(raw.get("programs"), "programs").items()
    }
    state["products"] = {
        k: dict(_mapping(v, f"products.{k}")) for k, v in _mapping(raw.get("products"), "products").items()
    }
    state["ports"] = {str(int(k)): v for k, v in _mapping(raw.get("ports"), "ports").items()}
    state["http"] = {k: dict(_mapping(v, f"http.{k}")) for k, v in _mapping(raw.get("http"), "http").items()}
    faults = raw.get("faults") or []
    plugins = raw.get("plugins") or []
    if not isinstance(faults, list) or not isinstance(plugins, list):
        raise SimError("invalid", "`faults` and `plugins` must be lists")
    state["faults"] = faults
    state["plugins"] = [str(p) for p in plugins]
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


# --- the Sage CRM preset -------------------------------------------------------------------------------
def _roles(options: dict[str, Any]) -> list[str]:
    roles = options.get("roles", DEFAULT_ROLES)
    if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
        raise UserError(f"preset sagecrm: roles must be a list of names, not {roles!r}")
    return sorted({ROLE_ALIASES[r.casefold()] for r in roles if r.casefold() in ROLE_ALIASES})


def _blob(text: str, size: int) -> str:
    """Deterministic file content of about `size` bytes starting with `text`'s first line."""
    line = text if text.endswith("\n") else text + "\n"
    return line + ("." * 63 + "\n") * max((size - len(line)) // 64, 0)


def sagecrm(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """A Sage CRM server as the installer leaves it (see DOMAIN.md section 3 for the names)."""
    install_name = str(options.get("install_name", "CRM"))
    version = str(options.get("version", "7.2"))
    database = str(options.get("database", install_name))
    db_server = str(options.get("db_server", "DBSERVER"))
    sage = str(options.get("sage_dir", "C:\\Program Files (x86)\\Sage\\CRM")).rstrip("\\")
    install = f"{sage}\\{install_name}"
    roles = _roles(options)
    stamp = f"Sage CRM {version} (simulation; install {install_name})"
    files: dict[str, Any] = {
        f"{install}\\eware.dll": _blob(f"eware.dll {stamp}", 8192),
        f"{install}\\WWWRoot\\web.config": '<?xml version="1.0"?>\n<configuration />\n',
        f"{install}\\WWWRoot\\js\\crm.js": _blob(f"// {stamp}", 2048),
        f"{install}\\WWWRoot\\Themes\\default.css": _blob(f"/* {stamp} */", 1024),
        f"{install}\\WWWRoot\\CustomPages\\readme.txt": "Customer ASP pages live here.\n",
        f"{install}\\Setup\\install.log": f"{stamp} installed\n",
        f"{install}\\tomcat\\conf\\server.xml": '<Server port="10008"><Connector port="10009"/></Server>\n',
        f"{install}\\tomcat\\bin\\tomcat7.exe": _blob(f"tomcat7.exe {stamp}", 2048),
        f"{sage}\\Services\\IISUtils\\CRMRewriter\\web.config": "<configuration><rewrite /></configuration>\n",
    }
    programs: dict[str, Any] = {}
    for service, display, exe in SAGE_SERVICES.values():
        files[f"{sage}\\{exe}"] = _blob(f"{exe.rsplit(chr(92), 1)[-1]} {stamp}", 4096)
        programs[exe.rsplit("\\", 1)[-1]] = {
            "service": service,
            "display_name": display,
            "start_mode": "auto",
        }
    services: dict[str, Any] = {}
    for role in roles:
        if role in SAGE_SERVICES:
            service, display, exe = SAGE_SERVICES[role]
            services[service] = {"display_name": display, "path": f"{sage}\\{exe}"}
    state: dict[str, Any] = {
        "files": files,
        "directories": [f"{install}\\Library", f"{install}\\Reports", f"{install}\\Setup"],
        "services": services,
        "programs": programs,
        "products": {"Sage CRM": {"version": version}},
        "registry": {
            f"HKLM\\SOFTWARE\\eWare\\Config\\/{install_name}": {
                "Version": version,
                "DefaultDatabase": database,
                "DefaultDatabaseServer": db_server,
                "RootPath": install + "\\",
                "InstallName": install_name,
            },
            "HKLM\\SOFTWARE\\eWare\\Mappings": {f"/{install_name}": install_name},
        },
        "com": {"servers": {"eware.dll": ["eWare.eWare", "eWare.eWareSelfService"]}, "classes": {}},
        "disks": {"C": {"total": 120 * GIB, "free": 40 * GIB}},
        "ports": {},
    }
    if "web" in roles:
        _web_role(state, sage, install, install_name)
    if "db" in roles:
        services["MSSQLSERVER"] = {
            "display_name": "SQL Server (MSSQLSERVER)",
            "path": "C:\\Program Files\\Microsoft SQL Server\\MSSQL12.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe",
        }
        state["ports"]["1433"] = "MSSQLSERVER"
        state["disks"]["D"] = {"total": 500 * GIB, "free": 200 * GIB}
    return state


def _web_role(state: dict[str, Any], sage: str, install: str, install_name: str) -> None:
    state["services"]["CRMTomcat7"] = {
        "display_name": "Sage CRM Tomcat 7",
        "path": f"{install}\\tomcat\\bin\\tomcat7.exe",
    }
    state["iis"] = {
        "sites": {"Default Web Site": "started"},
        "pools": {"DefaultAppPool": "started", "CRM App Pool": "started", "CRMRewriter App Pool": "started"},
        "apps": {
            f"Default Web Site/{install_name}": {
                "physical_path": f"{install}\\WWWRoot",
                "pool": "CRM App Pool",
                "isapi": f"{install}\\eware.dll",
            },
            "Default Web Site/sdata": {
                "physical_path": f"{sage}\\Services\\IISUtils\\CRMRewriter",
                "pool": "CRMRewriter App Pool",
            },
        },
    }
    dll = f"{install}\\eware.dll"
    state["com"]["classes"] = {"eWare.eWare": dll, "eWare.eWareSelfService": dll}
    state["ports"].update({"80": "W3SVC", "10009": "CRMTomcat7"})
