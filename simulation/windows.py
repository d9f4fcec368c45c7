"""Services, IIS, COM registration, disks, ports and HTTP of the simulated Windows host.

IIS is tied to its services as on Windows: `iis.state().service` is the state of W3SVC, an
`iisreset /stop` stops W3SVC and WAS, and starting W3SVC starts WAS first (`depends_on`). The
sim's HTTP answers come from its own IIS model: an application whose pool is stopped answers
503, a stopped W3SVC refuses the connection, and Sage CRM's `eware.dll` page shows the first
line of the DLL file, so a verify step sees which version is really served.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from modules.windows.win_reboot import PENDING_KEYS, PENDING_RENAMES, SESSION_MANAGER
from simulation.core import HostState, arg_bool, arg_choice, arg_str, find_key, op
from simulation.errors import SimError
from simulation.paths import parse_path
from simulation.registry import delete_key, find_reg_key

SERVICE_STATES = ("running", "stopped", "restarted")
#: The Windows a simulated host runs (`initial: {windows: {...}}`), as `host.facts` reports it. The
#: default is a Windows Server 2019 Standard: 64-bit, Windows PowerShell 5.1.17763, .NET Framework
#: 4.7.2 (Release 461814, Microsoft's value for every Windows but the April 2018 Update).
WINDOWS_DEFAULTS: dict[str, Any] = {
    "architecture": "x64",
    "caption": "Microsoft Windows Server 2019 Standard",
    "version": "10.0.17763",
    "powershell": "5.1.17763.1",
    "dotnet_release": 461814,
    #: LongPathsEnabled with a long-path-aware host process: paths of 260+ characters open
    #: (simulation/paths.py check_length); off, as for Windows PowerShell 5.1 on a real server
    "long_paths": False,
}
ARCHITECTURES = ("x64", "x86")
START_MODES = ("auto", "manual", "disabled")
_LOCAL = ("localhost", "127.0.0.1", "::1", "[::1]")


def windows_section(raw: Any) -> dict[str, Any]:
    """The `windows` section of a host's `initial`, checked, with the defaults filled in."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SimError("invalid", f"`windows` must be a mapping, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(WINDOWS_DEFAULTS))
    if unknown:
        raise SimError("invalid", f"`windows` takes {', '.join(WINDOWS_DEFAULTS)}, not {', '.join(unknown)}")
    section = {**WINDOWS_DEFAULTS, **raw}
    if section["architecture"] not in ARCHITECTURES:
        raise SimError("invalid", f"windows.architecture must be x64 or x86, not {section['architecture']!r}")
    if not isinstance(section["dotnet_release"], int) or isinstance(section["dotnet_release"], bool):
        raise SimError("invalid", "windows.dotnet_release must be a whole number (the NDP\\v4\\Full Release)")
    if not isinstance(section["long_paths"], bool):
        raise SimError("invalid", "windows.long_paths must be true or false")
    for key in ("caption", "version", "powershell"):
        section[key] = str(section[key])
    return section


# --- services ----------------------------------------------------------------------------------
def find_service(state: dict[str, Any], name: str) -> str | None:
    return find_key(state.get("services", {}), name) if isinstance(name, str) else None


def _service(host: HostState, name: str) -> tuple[str, dict[str, Any]]:
    found = find_service(host.state, name)
    if found is None:
        raise SimError("not_found", f"Cannot find any service with service name '{name}'.")
    return found, host.state["services"][found]


def install_service(host: HostState, name: str, path: str, start_mode: str, display_name: str | None) -> bool:
    """Add a stopped service; False when one of that name is already installed."""
    if find_service(host.state, name) is not None:
        return False
    host.state.setdefault("services", {})[name] = {
        "display_name": display_name or name,
        "state": "stopped",
        "start_mode": start_mode,
        "path": path,
    }
    host.changed(f"service {name} installed ({path})")
    return True


def uninstall_service(host: HostState, name: str) -> bool:
    """Stop and remove a service; False when it is not installed."""
    found = find_service(host.state, name)
    if found is None:
        return False
    _stop(host, found)
    del host.state["services"][found]
    host.changed(f"service {found} uninstalled")
    return True


def _start(host: HostState, name: str) -> None:
    record = host.state["services"][name]
    if record["state"] == "running":
        return
    if record["start_mode"] == "disabled":
        raise SimError(
            "failed",
            f"Service '{name}' cannot be started: the service is disabled (start mode disabled).",
        )
    if record.get("hangs") == "start":
        raise SimError("timeout", _hung(name, "Running", "StartPending", None))
    for dependency in record.get("depends_on", []):
        found = find_service(host.state, dependency)
        if found is None:
            raise SimError(
                "failed", f"Service '{name}' cannot be started: dependency {dependency} is missing."
            )
        _start(host, found)
    record["state"] = "running"
    host.changed(f"service {name} started")


def _stop(
    host: HostState, name: str, stopped: list[str] | None = None, timeout: float | None = None
) -> list[str]:
    """Stop a service after the services that depend on it (theirs first); the names stopped, in order.

    A service whose record says `hangs: stop` never leaves StopPending: with a timeout the call
    fails as ServiceController.WaitForStatus does, kind `timeout`, naming the state it is in.
    """
    stopped = [] if stopped is None else stopped
    for other, record in host.state.get("services", {}).items():
        deps = [d.casefold() for d in record.get("depends_on", [])]
        if name.casefold() in deps and record["state"] != "stopped":
            _stop(host, other, stopped, timeout)
    record = host.state["services"][name]
    if record["state"] != "stopped":
        if record.get("hangs") == "stop":
            raise SimError("timeout", _hung(name, "Stopped", "StopPending", timeout))
        record["state"] = "stopped"
        host.changed(f"service {name} stopped")
        stopped.append(name)
    return stopped


def _hung(name: str, wanted: str, state: str, timeout: float | None) -> str:
    waited = "" if timeout is None else f" ({timeout:g} s)"
    return f"Service '{name}' did not reach {wanted} before the step's deadline{waited} (it is {state})."


def restart(host: HostState) -> None:
    """What `shutdown /r` does: services back to their start modes, pending-restart markers gone.

    Automatic services run again (with what they depend on: "during system boot, the SCM starts
    all auto-start services and the services on which they depend", Microsoft's "Automatically
    Starting Services"), the others are stopped; the markers are those `win_reboot
    only_if_pending` reads (Session Manager carries out PendingFileRenameOperations at boot). The host then goes away for the next call
    (`restarting`: SimHost.call drops that call's connection), as a real host's WinRM stops while
    it restarts, so a caller waits for it as it would for a real one.
    """
    services: dict[str, Any] = host.state.get("services", {})
    for record in services.values():
        record["state"] = "stopped"
    for name, record in services.items():
        if record["start_mode"] == "auto":
            _boot(services, name)
    registry = host.state.get("registry", {})
    for key in PENDING_KEYS:
        if find_reg_key(registry, key) is not None:
            delete_key(host, key)
    manager = find_reg_key(registry, SESSION_MANAGER)
    renames = find_key(registry[manager], PENDING_RENAMES) if manager is not None else None
    if manager is not None and renames is not None:
        del registry[manager][renames]
    host.state["boots"] = int(host.state.get("boots", 0)) + 1
    host.state["restarting"] = True
    host.changed("restart (shutdown /r; simulation)")


def _boot(services: dict[str, Any], name: str) -> None:
    """Start a service at boot: what it depends on first; disabled ones and missing ones stay out."""
    record = services[name]
    if record["state"] == "running" or record["start_mode"] == "disabled":
        return
    for dependency in record.get("depends_on", []):
        found = find_key(services, dependency)
        if found is not None:
            _boot(services, found)
    record["state"] = "running"


@op("service.get")
def service_get(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    found = find_service(host.state, arg_str(args, "name"))
    if found is None:
        return {"exists": False, "state": "unknown", "start_mode": "unknown"}
    record = host.state["services"][found]
    return {
        "exists": True,
        "state": record["state"],
        "start_mode": record["start_mode"],
        "path": record["path"],
        "account": record.get("account", "LocalSystem"),
    }


@op("service.set")
def service_set(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    wanted = arg_choice(args, "state", SERVICE_STATES) if args.get("state") is not None else None
    mode = arg_choice(args, "start_mode", START_MODES) if args.get("start_mode") is not None else None
    timeout = args.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise SimError("invalid", f"timeout must be a number of seconds > 0, not {timeout!r}")
    name, record = _service(host, arg_str(args, "name"))
    before = {"state": record["state"], "start_mode": record["start_mode"]}
    if mode is not None and record["start_mode"] != mode:
        record["start_mode"] = mode
        host.changed(f"service {name} start mode {mode}")
    stopped: list[str] = []
    if wanted in ("stopped", "restarted"):
        _stop(host, name, stopped, timeout)
    if wanted in ("running", "restarted"):
        _start(host, name)
    dependents = [s for s in stopped if s != name]
    if wanted == "restarted":
        for dependent in reversed(dependents):  # what depends on the service starts after it
            _start(host, dependent)
        host.changed(f"service {name} restarted")
    after = {"state": record["state"], "start_mode": record["start_mode"]}
    return {
        "changed": after != before or wanted == "restarted",
        "before": before,
        "after": after,
        "dependents_stopped": dependents,
    }


# --- IIS -------------------------------------------------------------------------------------------
def _iis(host: HostState) -> dict[str, Any]:
    if "iis" not in host.state or find_service(host.state, "W3SVC") is None:
        raise SimError("not_found", f"IIS (W3SVC) is not installed on {host.name} (simulation)")
    return host.state["iis"]


def iis_service_state(host: HostState) -> str:
    found = find_service(host.state, "W3SVC")
    return "running" if found and host.state["services"][found]["state"] == "running" else "stopped"


def iis_reset(host: HostState, action: str) -> dict[str, Any]:
    """What `iisreset /stop|/start|/restart` does: stop W3SVC and WAS, then start both."""
    _iis(host)
    before = iis_service_state(host)
    if action in ("stop", "restart"):
        for name in ("W3SVC", "WAS"):
            found = find_service(host.state, name)
            if found:
                _stop(host, found)
    if action in ("start", "restart"):
        for name in ("WAS", "W3SVC"):
            found = find_service(host.state, name)
            if found:
                _start(host, found)
    if action == "restart":
        host.changed("iisreset")
    return {"changed": action == "restart" or iis_service_state(host) != before, "before": before}


def _app_key(iis: dict[str, Any], site: Any, app: Any) -> str:
    if not isinstance(site, str) or not site or not isinstance(app, str):
        raise SimError("invalid", f"site and app must be strings, not {site!r} / {app!r}")
    key = f"{site}/{app.strip('/')}"
    found = find_key(iis.get("apps", {}), key)
    if found is None:
        raise SimError("not_found", f"IIS application '{key}' does not exist")
    return found


@op("iis.state")
def iis_state(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    iis = _iis(host)
    return {
        "service": iis_service_state(host),
        "sites": dict(iis.get("sites", {})),
        "pools": dict(iis.get("pools", {})),
        "apps": {
            k: {"physical_path": v["physical_path"], "pool": v["pool"]}
            for k, v in iis.get("apps", {}).items()
        },
    }


@op("iis.set_state")
def iis_set_state(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    kind = arg_choice(args, "kind", ("site", "pool"))
    state = arg_choice(args, "state", ("started", "stopped"))
    table = _iis(host)["sites" if kind == "site" else "pools"]
    name = find_key(table, arg_str(args, "name"))
    if name is None:
        raise SimError("not_found", f"IIS {kind} '{args['name']}' does not exist")
    before = table[name]
    if before != state:
        table[name] = state
        host.changed(f"iis {kind} {name} {state}")
    return {"changed": before != state, "before": before, "workers_exited": []}  # no w3wp.exe is simulated


@op("iis.recycle")
def iis_recycle(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    pools = _iis(host)["pools"]
    name = find_key(pools, arg_str(args, "pool"))
    if name is None:
        raise SimError("not_found", f"IIS application pool '{args['pool']}' does not exist")
    if pools[name] != "started":
        raise SimError("failed", f"application pool '{name}' is stopped and cannot be recycled")
    host.changed(f"iis pool {name} recycled")
    return {"changed": True}


@op("iis.get_path")
def iis_get_path(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    iis = _iis(host)
    key = _app_key(iis, args.get("site"), args.get("app"))
    return {"physical_path": iis["apps"][key]["physical_path"]}


@op("iis.set_path")
def iis_set_path(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    iis = _iis(host)
    key = _app_key(iis, args.get("site"), args.get("app"))
    new = str(parse_path(args.get("path")))
    before = iis["apps"][key]["physical_path"]
    if before.casefold() != new.casefold():
        iis["apps"][key]["physical_path"] = new
        host.changed(f"iis app {key} path {new}")
    return {"changed": before.casefold() != new.casefold(), "before": before}


@op("iis.reset")
def iis_reset_op(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    return iis_reset(host, arg_choice(args, "action", ("stop", "start", "restart")))


# --- COM registration ----------------------------------------------------------------------------
def regsvr32(host: HostState, path: str, unregister: bool) -> tuple[int, bool, str]:
    """What `regsvr32 /s [/u] path` does -> (exit code, changed, message)."""
    try:
        target = parse_path(path)
    except SimError:
        return 3, False, f'LoadLibrary("{path}") failed - The specified module could not be found.'
    real = host.fs.locate(target) if target.drive in host.state.get("disks", {}) else None
    if real is None or not real.is_file():
        return 3, False, f'LoadLibrary("{path}") failed - The specified module could not be found.'
    shown = str(host.fs.display(target))
    com = host.state.setdefault("com", {"servers": {}, "classes": {}})
    server = find_key(com.get("servers", {}), target.name)
    if server is None:
        entry = "DllUnregisterServer" if unregister else "DllRegisterServer"
        return 4, False, f'The module "{shown}" was loaded but the entry-point {entry} was not found.'
    classes = com.setdefault("classes", {})
    changed = False
    for name in com["servers"][server]:
        existing = find_key(classes, name)
        if unregister and existing is not None:
            del classes[existing]
            changed = True
        elif not unregister and (existing is None or classes[existing] != shown):
            if existing is not None:
                del classes[existing]
            classes[name] = shown
            changed = True
    if changed:
        host.changed(f"regsvr32 {'/u ' if unregister else ''}{shown}")
    verb = "DllUnregisterServer" if unregister else "DllRegisterServer"
    return 0, changed, f"{verb} in {shown} succeeded."


@op("dll.register")
def dll_register(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    unregister = arg_bool(args, "unregister", False)
    rc, changed, message = regsvr32(host, arg_str(args, "path"), unregister)
    if rc:
        raise SimError("not_found" if rc == 3 else "failed", f"regsvr32 exited with {rc}: {message}")
    shown = str(host.fs.display(parse_path(args["path"])))
    return {"changed": changed, "rc": rc, "registered_path": None if unregister else shown}


@op("dll.registered")
def dll_registered(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    classes = host.state.get("com", {}).get("classes", {})
    found = find_key(classes, arg_str(args, "clsid_name"))
    return {"registered": found is not None, "path": classes[found] if found else None}


# --- host, disks, network -----------------------------------------------------------------------
@op("host.facts")
def host_facts(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    windows = {**WINDOWS_DEFAULTS, **host.state.get("windows", {})}
    return {
        "os": "windows",
        "hostname": host.state.get("hostname", host.name.upper()),
        "user": host.state.get("user", "Administrator"),
        "simulated": True,
        "os_name": windows["caption"],
        "os_version": windows["version"],
        "architecture": windows["architecture"],
        "powershell": windows["powershell"],
        "dotnet_release": windows["dotnet_release"],
    }


@op("disk.free")
def disk_free(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path = parse_path(args.get("path"))
    host.require_drive(path)
    return host.disk_usage(path.drive)


def _local_names(host: HostState) -> set[str]:
    return {*_LOCAL, host.name.casefold(), str(host.state.get("hostname", "")).casefold()}


def _port_open(state: dict[str, Any], port: int) -> bool:
    holder = state.get("ports", {}).get(str(port))
    if holder is True:
        return True
    found = find_service(state, holder) if isinstance(holder, str) else None
    return bool(found) and state["services"][found]["state"] == "running"


def _other_host_state(host: HostState, address: str) -> dict[str, Any] | None:
    """Another simulated host of the same state folder, read without its lock (saves are atomic)."""
    for candidate in sorted(host.state_file.parent.glob("*.json")):
        if candidate == host.state_file:
            continue
        try:
            state = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        names = {candidate.stem.casefold(), str(state.get("hostname", "")).casefold()}
        if address.casefold() in names:
            return state
    return None


@op("net.port")
def net_port(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    port = args.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise SimError("invalid", f"port must be a number from 1 to 65535, not {port!r}")
    address = str(args.get("address") or "localhost")
    if address.casefold() in _local_names(host):
        return {"open": _port_open(host.state, port)}
    other = _other_host_state(host, address)
    return {"open": other is not None and _port_open(other, port)}


@op("http.get")
def http_get(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    url = arg_str(args, "url")
    limit = args.get("max_bytes")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise SimError("invalid", f"max_bytes must be a whole number >= 0, not {limit!r}")
    canned = host.state.get("http", {}).get(url)
    if canned is not None:
        status, headers, body = (
            int(canned.get("status", 200)),
            dict(canned.get("headers", {})),
            canned.get("body", ""),
        )
    else:
        status, headers, body = _serve(host, url, args.get("validate_certs", True) is not False)
    data = body.encode("utf-8")
    if limit is not None:
        data = data[:limit]
    return {"status": status, "headers": headers, "body": data.decode("utf-8", "replace"), "elapsed": 0.0}


def _serve(host: HostState, url: str, validate: bool = True) -> tuple[int, dict[str, str], str]:
    """Answer a URL from the simulated IIS (the sim reaches only itself and its canned URLs)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SimError("invalid", f"not an http(s) URL: {url!r}")
    iis = host.state.get("iis")
    certificate = str((iis or {}).get("certificate") or "")
    if parts.hostname.casefold() not in _local_names(host) | {certificate.casefold()} - {""}:
        raise SimError("failed", f"The remote name could not be resolved: '{parts.hostname}' (simulation)")
    if (
        parts.scheme == "https"
        and validate
        and certificate
        and parts.hostname.casefold() != certificate.casefold()
    ):
        # .NET's WebException when the certificate's name is not the one asked for
        # (https://learn.microsoft.com/en-us/dotnet/api/system.net.security.sslpolicyerrors: RemoteCertificateNameMismatch)
        raise SimError(
            "failed",
            "The underlying connection was closed: Could not establish trust relationship for the SSL/TLS "
            f"secure channel. (simulation: {parts.hostname} is not the name on the certificate, "
            f"{certificate})",
        )
    site = _site_for(iis)
    if iis is None or iis_service_state(host) != "running" or site is None:
        raise SimError("failed", f"Unable to connect to the remote server ({parts.hostname}; simulation)")
    path = unquote(parts.path or "/").strip("/")
    app, rest = _app_for(iis, site, path)
    if app is None:
        return (
            404,
            {"Content-Type": "text/html"},
            "<html><body>404 - File or directory not found.</body></html>",
        )
    if iis["pools"].get(app["pool"]) != "started":
        return 503, {"Content-Type": "text/html"}, "<html><body>Service Unavailable</body></html>"
    return _rewritten(host, app, rest) or _static_or_isapi(host, app, rest)


#: What IIS with ARR answers when the server a rule forwards to does not answer (the detailed
#: error "502.3 - Bad Gateway"; the text IIS shows: "502 - Web server received an invalid
#: response while acting as a gateway or proxy server.")
BAD_GATEWAY = "<html><body>502 - Web server received an invalid response while acting as a gateway or proxy server.</body></html>"


def _rewritten(host: HostState, app: dict[str, Any], rest: str) -> tuple[int, dict[str, str], str] | None:
    """A request an application's URL Rewrite rule forwards (ARR) to a local service, or None.

    Sage CRM 7.2+ sets its rules on the SData application: `/sdata/<install>j/...` goes to
    Tomcat on localhost:10009 (https://community.sagecrm.com/partner_community/b/hints_tips_and_tricks/
    archive/2013/04/10/sage-crm-v7-2-changes-to-tomcat-and-the-local-http-rewriter.aspx). A request
    no rule matches falls through to the application's files (IIS answers 404).
    """
    first = rest.split("/")[0].casefold()
    for prefix, service in (app.get("rewrite") or {}).items():
        if first != prefix.casefold():
            continue
        found = find_service(host.state, service)
        if found is None or host.state["services"][found]["state"] != "running":
            return 502, {"Content-Type": "text/html"}, BAD_GATEWAY
        feed = f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:sdata="http://schemas.sage.com/sdata/2008/1"><title>{rest}</title></feed>'
        return 200, {"Content-Type": "application/atom+xml"}, feed
    return None


def set_rewrite_rules(host: HostState, app: str, rules: dict[str, str]) -> dict[str, str]:
    """Replace an application's rewrite rules (not a primitive: what an installer does to IIS).

    Chapter 13 of the upgrade guide: a Sage CRM 7.2 installed after 7.3 "remplacera les
    paramètres SData dans IIS, et supprimera les règles du réécrivain" of the 7.3 install.
    Returns the rules before.
    """
    iis = _iis(host)
    if app not in iis["apps"]:
        raise SimError("not_found", f"no IIS application {app!r} (simulation)")
    before = dict(iis["apps"][app].get("rewrite") or {})
    iis["apps"][app]["rewrite"] = {str(k): str(v) for k, v in rules.items()}
    return before


def _site_for(iis: dict[str, Any] | None) -> str | None:
    for name, state in (iis or {}).get("sites", {}).items():
        if state == "started":
            return name
    return None


def _app_for(iis: dict[str, Any], site: str, path: str) -> tuple[dict[str, Any] | None, str]:
    best, rest = None, path
    for key, app in iis.get("apps", {}).items():
        app_site, _, app_path = key.partition("/")
        if app_site.casefold() != site.casefold():
            continue
        prefix = app_path.strip("/").casefold()
        if path.casefold() == prefix or path.casefold().startswith(prefix + "/") or not prefix:
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, app)
                rest = path[len(prefix) :].strip("/")
    return (best[1], rest) if best else (None, path)


def _static_or_isapi(host: HostState, app: dict[str, Any], rest: str) -> tuple[int, dict[str, str], str]:
    html = {"Content-Type": "text/html"}
    root = parse_path(app["physical_path"])
    if root.drive not in host.state.get("disks", {}) or not host.fs.locate(root).is_dir():
        return (
            500,
            html,
            "<html><body>500 - The physical path of the application does not exist.</body></html>",
        )
    dll = app.get("isapi")
    if dll and (not rest or rest.split("/")[0].casefold() == Path(dll.replace("\\", "/")).name.casefold()):
        real = host.fs.locate(parse_path(dll))
        if not real.is_file():
            return 500, html, "<html><body>500 - The ISAPI extension could not be loaded.</body></html>"
        first = real.read_bytes()[:200].decode("utf-8", "replace").splitlines()
        banner = first[0] if first else ""
        return (
            200,
            html,
            f"<html><head><title>Login</title></head><body><!-- simulation -->{banner}</body></html>",
        )
    real = host.fs.locate(root.child(*[p for p in rest.split("/") if p]))
    if real.is_dir():
        for default in ("default.htm", "default.html", "index.htm", "index.html"):
            if (real / default).is_file():
                real = real / default
                break
    if not real.is_file():
        return 404, html, "<html><body>404 - File or directory not found.</body></html>"
    return 200, html, real.read_bytes().decode("utf-8", "replace")
