"""The `sagecrm` preset of the simulated host: a Sage CRM server as its installer leaves it.

`initial: {preset: sagecrm, version: "7.2", install_name: CRM, roles: [...], db_server, database,
sage_dir}` builds the program files, services, registry keys, IIS applications, COM classes and
disks of one server, by role (see docs/simulation.md for the table). The host it builds loads
`simulation.sagecrm.plugin` whenever it is opened (the `plugins` of its state), which plugs in
the simulated installer and the simulated CRM database.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from simulation.presets import GIB

#: what the preset takes next to `preset: sagecrm`, besides `roles` (which every preset takes; through
#: a SimConnection it defaults to the inventory host's roles)
OPTIONS = ("install_name", "version", "db_server", "database", "sage_dir")
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
        "plugins": [PLUGIN],
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
