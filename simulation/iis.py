"""IIS of the simulated host, and the HTTP it serves.

IIS is tied to its services as on Windows: `iis.state().service` is the state of W3SVC, an
`iisreset /stop` stops W3SVC and WAS, and starting W3SVC starts WAS first (`depends_on`). The
sim's HTTP answers come from its own IIS model: an application whose pool is stopped answers
503, a stopped W3SVC refuses the connection, and Sage CRM's `eware.dll` page shows the first
line of the DLL file, so a verify step sees which version is really served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from simulation.core import HostState, arg_choice, arg_str, find_key, op
from simulation.dlls import dll_machine, os_architecture
from simulation.errors import SimError
from simulation.paths import parse_path
from simulation.services import find_service, start_service, stop_service
from simulation.windows import local_names


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
                stop_service(host, found)
    if action in ("start", "restart"):
        for name in ("WAS", "W3SVC"):
            found = find_service(host.state, name)
            if found:
                start_service(host, found)
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
        "pools_32bit": {name: pool_is_32bit(iis, name) for name in iis.get("pools", {})},
    }


def pool_is_32bit(iis: dict[str, Any], pool: str) -> bool:
    """A pool's enable32BitAppOnWin64 (IIS's default: false)."""
    return bool((iis.get("pools_32bit") or {}).get(pool, False))


#: What IIS answers when the pool's w3wp.exe cannot load the application's ISAPI DLL because their
#: bitness differs (ERROR_BAD_EXE_FORMAT, 0x800700c1): "HTTP Error 500.0 - Internal Server Error"
#: with "%1 is not a valid Win32 application" (Microsoft KB 895976,
#: https://support.microsoft.com/en-us/help/895976).
BAD_IMAGE = (
    "<html><body>HTTP Error 500.0 - Internal Server Error. Module: IsapiModule. Handler: {dll}. "
    "Error Code: 0x800700c1. %1 is not a valid Win32 application.</body></html>"
)


def _worker_bitness(host: HostState, iis: dict[str, Any], pool: str) -> str:
    """x86 when the pool's w3wp.exe is a 32-bit process (32-bit Windows, or enable32BitAppOnWin64)."""
    return "x86" if os_architecture(host) == "x86" or pool_is_32bit(iis, pool) else "x64"


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
    if parts.hostname.casefold() not in local_names(host) | {certificate.casefold()} - {""}:
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
        if dll_machine(host, dll) != _worker_bitness(host, host.state["iis"], app["pool"]):
            return 500, html, BAD_IMAGE.format(dll=dll)
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
