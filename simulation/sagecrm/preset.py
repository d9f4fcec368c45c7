"""The `sagecrm` preset of the simulated host: a Sage CRM server as its installer leaves it.

`initial: {preset: sagecrm, version: "7.2", install_name: CRM, roles: [...], db_server, database,
sage_dir, architecture, registry_view}` builds the program files, services, registry keys, IIS
applications, COM classes and disks of one server, by role (see docs/simulation.md for the table).

A host whose only role is `db` is a dedicated SQL Server (chapter 6): plain Windows with SQL
Server, no Sage CRM at all (`sql_server_host`).

As real servers are: 64-bit Windows (`architecture: x64`, every Windows Server from 2008 R2 on)
running the 32-bit Sage CRM, whose eWare keys are in the 32-bit registry view, physically
HKLM\\SOFTWARE\\WOW6432Node\\eWare (`registry_view: "32"`, the default). `registry_view: "64"` puts
them in the 64-bit view instead (HKLM\\SOFTWARE\\eWare: a 64-bit layout, or keys imported with the
64-bit reg.exe), and `architecture: x86` models a 32-bit Windows, where both views are one.

The host it builds loads `simulation.sagecrm.plugin` whenever it is opened (the `plugins` of its
state), which plugs in the simulated installer and the simulated CRM database.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from simulation.presets import GIB

#: what the preset takes next to `preset: sagecrm`, besides `roles` (which every preset takes; through
#: a SimConnection it defaults to the inventory host's roles)
OPTIONS = (
    "install_name", "version", "patch", "db_server", "database", "sage_dir", "architecture", "registry_view",
    "installed",
)  # fmt: skip
#: the plug-in every host of this preset loads when it opens
PLUGIN = "simulation.sagecrm.plugin"
#: Sage CRM roles -> what they put on a server (unknown roles, e.g. `dtls`, add nothing).
ROLE_ALIASES = {
    "web": "web", "app": "web", "webserver": "web", "tomcat": "web",
    "email": "email", "email_manager": "email", "mail": "email",
    "escalation": "escalation", "indexer": "indexer", "indexing": "indexer", "search": "indexer",
    "integration": "integration", "quickfind": "quickfind",
    "db": "db", "database": "db", "db_server": "db", "dbserver": "db", "sql": "db",
}  # fmt: skip
DEFAULT_ROLES = ("web", "email", "escalation", "indexer")
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


def _roles(options: dict[str, Any]) -> list[str]:
    roles = options.get("roles", DEFAULT_ROLES)
    if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
        raise UserError(f"preset sagecrm: roles must be a list of names, not {roles!r}")
    return sorted({ROLE_ALIASES[r.casefold()] for r in roles if r.casefold() in ROLE_ALIASES})


def _blob(text: str, size: int) -> str:
    """Deterministic file content of about `size` bytes starting with `text`'s first line."""
    line = text if text.endswith("\n") else text + "\n"
    return line + ("." * 63 + "\n") * max((size - len(line)) // 64, 0)


def build(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """A Sage CRM server as the installer leaves it, as explicit `initial` sections.

    Names follow the Sage CRM installation guide (install folder, services, registry keys).
    """
    install_name = str(options.get("install_name", "CRM"))
    version = str(options.get("version", "7.2"))
    database = str(options.get("database", install_name))
    db_server = str(options.get("db_server", "DBSERVER"))
    architecture = str(options.get("architecture", "x64"))
    view = str(options.get("registry_view", "32"))
    if architecture not in ("x64", "x86") or view not in ("32", "64"):
        raise UserError("preset sagecrm: architecture is x64 or x86 and registry_view is '32' or '64'")
    programs_dir = "C:\\Program Files (x86)" if architecture == "x64" else "C:\\Program Files"
    sage = str(options.get("sage_dir", f"{programs_dir}\\Sage\\CRM")).rstrip("\\")
    eware = (
        "HKLM\\SOFTWARE\\WOW6432Node\\eWare"
        if architecture == "x64" and view == "32"
        else "HKLM\\SOFTWARE\\eWare"
    )
    install = f"{sage}\\{install_name}"
    roles = _roles(options)
    if roles == ["db"]:
        return sql_server_host(architecture)
    if options.get("installed") is False:
        return fresh_web_server(architecture)
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
            f"{eware}\\Config\\/{install_name}": {
                "Version": version,
                "DefaultDatabase": database,
                "DefaultDatabaseServer": db_server,
                "RootPath": install + "\\",
                "InstallName": install_name,
                # the installed patch, as the simulation models it (modules/sagecrm/product/patches.py)
                **({"Patch": str(options["patch"])} if options.get("patch") else {}),
            },
            f"{eware}\\Mappings": {f"/{install_name}": install_name},
        },
        # eware.dll is a 32-bit COM/ISAPI DLL, whatever the Windows (PE machine x86)
        "com": {
            "servers": {"eware.dll": ["eWare.eWare", "eWare.eWareSelfService"]},
            "classes": {},
            "machines": {"eware.dll": "x86"},
        },
        "disks": {"C": {"total": 120 * GIB, "free": 40 * GIB}},
        "windows": {"architecture": architecture},
        "ports": {},
        "plugins": [PLUGIN],
    }
    if "web" in roles:
        _web_role(state, sage, install, install_name)
    if "db" in roles:
        _sql_server(state)
    return state


def _sql_server(state: dict[str, Any]) -> None:
    """SQL Server's default instance (MSSQLSERVER, port 1433) and a data disk D:."""
    state["services"]["MSSQLSERVER"] = {
        "display_name": "SQL Server (MSSQLSERVER)",
        "path": "C:\\Program Files\\Microsoft SQL Server\\MSSQL12.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe",
    }
    state["ports"]["1433"] = "MSSQLSERVER"
    state["disks"]["D"] = {"total": 500 * GIB, "free": 200 * GIB}


def sql_server_host(architecture: str) -> dict[str, Any]:
    """A dedicated database server (roles: [db] only): plain Windows with SQL Server.

    Chapter 6 puts the database "sur un serveur de base de données dédié distinct": no Sage
    CRM program files, no eWare registry keys, no IIS, no COM classes. It still loads the
    Sage CRM plug-in, so opening it is enough to build the simulated CRM database.
    """
    state = _plain_windows(architecture)
    state["products"] = {"Microsoft SQL Server 2014": {"version": "12.0"}}
    _sql_server(state)
    return state


def fresh_web_server(architecture: str) -> dict[str, Any]:
    """A new web server for the estate (`installed: false`): Windows with IIS, no Sage CRM yet.

    What chapter 6 adds a server to: the prerequisites in place (IIS with its default site), the
    installer not run (no program files, no eWare keys, no CRM pool, no Tomcat). The simulated
    installer's fresh install (`simulation.sagecrm.fresh_install`) makes it a CRM web server.
    """
    state = _plain_windows(architecture)
    state["iis"] = {
        "sites": {"Default Web Site": "started"},
        "pools": {"DefaultAppPool": "started"},
        "apps": {},
    }
    state["ports"]["80"] = "W3SVC"
    return state


def _plain_windows(architecture: str) -> dict[str, Any]:
    """Windows and nothing of Sage CRM; it still loads the Sage CRM plug-in (installer, database)."""
    return {
        "files": {},
        "directories": [],
        "services": {},
        "programs": {},
        "products": {},
        "registry": {},
        "disks": {"C": {"total": 120 * GIB, "free": 60 * GIB}},
        "windows": {"architecture": architecture},
        "ports": {},
        "plugins": [PLUGIN],
    }


def _web_role(state: dict[str, Any], sage: str, install: str, install_name: str) -> None:
    state["services"]["CRMTomcat7"] = {
        "display_name": "Sage CRM Tomcat 7",
        "path": f"{install}\\tomcat\\bin\\tomcat7.exe",
    }
    state["iis"] = {
        "sites": {"Default Web Site": "started"},
        "pools": {"DefaultAppPool": "started", "CRM App Pool": "started", "CRMRewriter App Pool": "started"},
        # the installer turns "Enable 32-Bit Applications" on for the pool that loads the 32-bit
        # eware.dll; the others keep IIS's default (false)
        "pools_32bit": {"DefaultAppPool": False, "CRM App Pool": True, "CRMRewriter App Pool": False},
        "apps": {
            f"Default Web Site/{install_name}": {
                "physical_path": f"{install}\\WWWRoot",
                "pool": "CRM App Pool",
                "isapi": f"{install}\\eware.dll",
            },
            "Default Web Site/sdata": {
                "physical_path": f"{sage}\\Services\\IISUtils\\CRMRewriter",
                "pool": "CRMRewriter App Pool",
                # /sdata/<install>j/... forwarded to this install's Tomcat (chapter 13)
                "rewrite": {f"{install_name}j": "CRMTomcat7"},
            },
        },
    }
    dll = f"{install}\\eware.dll"
    state["com"]["classes"] = {"eWare.eWare": dll, "eWare.eWareSelfService": dll}
    state["ports"].update({"80": "W3SVC", "10009": "CRMTomcat7"})
