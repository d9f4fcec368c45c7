"""The Sage CRM estate: the inventory's `sagecrm:` section and host roles, read into one object.

Why one object: the estate rules, the plan policies, the CRM modules and the resource strings
the planner compares must all derive the same facts (which host is the database server, where
the program files are, which registry keys a backup must cover) from the same text, so they are
computed here once. The section's shape is `SECTION_SCHEMA`, which the engine checks when the
inventory loads (every mistake located at the inventory's file:line:col); the cross-host rules
live in `rules.py`.

See docs/sagecrm.md for the section's reference.
"""

from __future__ import annotations

import ntpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.api.hosts import host_kind
from engine.core.errors import Location, Problem
from engine.core.model import Host, Inventory

#: Roles a host may carry in a Sage CRM estate (host `roles:`).
SERVICE_ROLES = ("email_manager", "escalation", "indexing", "quickfind", "integration")
ROLES = ("db", "web", "dtls", *SERVICE_ROLES, "replication")
#: role -> Windows service name (DOMAIN.md section 3); overridable with `sagecrm.services`.
DEFAULT_SERVICES = {
    "email_manager": "eWareEmailManager",
    "escalation": "CRMEscalationService",
    "indexing": "CRMIndexerService",
    "quickfind": "SageCRMQuickFindService",
    "integration": "CRMIntegrationService",
    "tomcat": "CRMTomcat7",
}
#: role -> the executable (below `<program_files>\\Services`) that installs the service (/i, /u).
SERVICE_EXECUTABLES = {
    "email_manager": "eWareEmailManager.exe",
    "escalation": "CRMEscalationService.exe",
    "indexing": "CRMIndexerService.exe",
    "quickfind": "SageCRMQuickFindService.exe",
    "integration": "CRMIntegrationService.exe",
}
#: The multi-server settings whose custom_sysparams names the estate must give
#: (`sagecrm.multi_server.parameters`). Sage CRM's public material documents the settings
#: (Administration | System | System Behavior, load balancing "obtained from the custom_sysparams
#: table") but not the row names under which 7.3 stores them, so there is no default: a name
#: must be read on the client's own system (docs/sagecrm.md). A test estate (`mirror_of`) whose
#: restored database must be pointed away from production refuses to run without them.
MULTI_SERVER_SETTINGS = ("servers", "load_balancing", "dtls_server", "fqdns")
#: the inventory group of the servers add-server.yml installs
NEW_GROUP = "new_servers"
DEFAULT_PROGRAM_FILES = "C:\\Program Files (x86)\\Sage\\CRM"
CONFIG_ROOT = "HKLM\\SOFTWARE\\eWare\\Config"
MAPPINGS_KEY = "HKLM\\SOFTWARE\\eWare\\Mappings"

_STR = {"type": "string", "minLength": 1}
_VERSION = {"type": ["string", "number"], "pattern": "^[0-9]+(\\.[0-9]+)*$"}
_INT = {"type": "integer", "minimum": 1}
SECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["database", "current_version", "target_version"],
    "properties": {
        # letters of any script (a French estate's "CRM_Société"), digits, _ . -: a folder, a
        # registry key and an IIS application name, never a path or a space
        "install_name": {**_STR, "pattern": "^[\\w.-]+$"},
        "program_files": _STR,
        "database": _STR,
        "current_version": _VERSION,
        "target_version": _VERSION,
        "licence_key": _STR,
        "backup_root": _STR,
        # where verified backups are copied off the servers (modules/sagecrm/crm_backup.py)
        "backup_copy": {
            "type": "string",
            "pattern": r"^(?:\\\\[^\\]+\\[^\\]+|controller(?::.+)?$)",
            "description": "Where backups are copied off the servers: a UNC folder (\\\\nas\\share\\estate), "
            "`controller` (<state dir>/backup-copies/<estate>) or `controller:<folder>`.",
        },
        "installer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": _STR,
                "response_files": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"db": _STR, "others": _STR, "new": _STR},
                },
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "progress_log": _STR,
            },
        },
        "multi_server": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "load_balancing": {"type": "boolean"},
                "dtls_name": _STR,
                "https": {"type": "boolean"},
                "fqdns": {"type": "object", "additionalProperties": _STR},
                "parameters": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {k: _STR for k in MULTI_SERVER_SETTINGS},
                },
            },
        },
        "connections": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"dll": _INT, "tomcat_pool": _INT},
        },
        "iis": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"site": _STR, "app": _STR, "pool": _STR, "rewriter_pool": _STR},
        },
        "services": {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: _STR for k in DEFAULT_SERVICES},
        },
        "redirector": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"sdata_path": _STR, "dashboard_path": _STR},
        },
        "target_patch": _STR,
        "latest_patch": _STR,
        "customised_views": {"type": "array", "items": _STR, "uniqueItems": True},
        "library": _STR,
        "login": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"path": _STR, "user": _STR, "password": _STR, "contains": _STR},
        },
        "replication": {"type": "object", "additionalProperties": False, "properties": {"group": _STR}},
        "lock_hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 3},
        "registry_view": {"enum": ["auto", "32", "64"]},
        "mirror_of": _STR,
        "mirror_hosts": {"type": "object", "additionalProperties": _STR},
        "simulation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "create_database": {"type": "boolean"},
                "customised_views": {"type": "array", "items": _STR},
            },
        },
    },
}


@dataclass(frozen=True)
class Estate:
    """Everything derived from one inventory's Sage CRM section (raw values; secrets still sealed)."""

    inventory: Inventory
    install_name: str
    program_files: str
    database: str
    current_version: str
    target_version: str
    backup_root: str
    #: CRM servers (hosts with at least one Sage CRM role), in inventory order
    servers: tuple[str, ...]
    roles: Mapping[str, tuple[str, ...]]
    services: Mapping[str, str]
    section: Mapping[str, Any] = field(default_factory=dict)

    # --- where things are -------------------------------------------------------------------
    @property
    def install_path(self) -> str:
        return ntpath.join(self.program_files, self.install_name)

    @property
    def backup_path(self) -> str:
        """`<install>_backup`: where the guide's rollback finds the old program files."""
        return self.install_path + "_backup"

    @property
    def services_dir(self) -> str:
        return ntpath.join(self.program_files, "Services")

    @property
    def config_key(self) -> str:
        """`HKLM\\SOFTWARE\\eWare\\Config\\/<install>`: the install-name subkey starts with `/`."""
        return f"{CONFIG_ROOT}\\/{self.install_name}"

    @property
    def registry_keys(self) -> tuple[str, str]:
        return (self.config_key, MAPPINGS_KEY)

    @property
    def registry_view(self) -> str:
        """Where the eWare keys are on 64-bit Windows: `32` (WOW6432Node, a 32-bit Sage CRM), `64`,
        or `auto` (the default: found on each server, see modules.sagecrm._sagecrm.eware_view)."""
        return str(self.setting("registry_view", default="auto"))

    @property
    def log_path(self) -> str:
        return ntpath.join(self.install_path, "Setup", "UPGRADELOG.HTML")

    # --- who is what -----------------------------------------------------------------------
    def hosts_with(self, role: str) -> tuple[str, ...]:
        return tuple(h for h in self.servers if role in self.roles.get(h, ()))

    @property
    def db_server(self) -> str | None:
        found = self.hosts_with("db")
        return found[0] if found else None

    @property
    def web_servers(self) -> tuple[str, ...]:
        return self.hosts_with("web")

    # --- a dedicated database server (chapter 6: "la base de données sur un serveur de base de
    # données dédié distinct") ---------------------------------------------------------------
    @property
    def dedicated_db_server(self) -> str | None:
        """The database server when it holds no Sage CRM role but `db` (no install, registry, IIS).

        Such a host only runs SQL Server: the database backup, restore and SQL checks run
        against it, nothing CRM-local does, and the installer of the first CRM server upgrades
        the database (see `upgrade_server`).
        """
        db = self.db_server
        if db is None or set(self.roles.get(db, ())) & set(ROLES) != {"db"}:
            return None
        return db

    def holds_crm(self, host: str) -> bool:
        """`host` has a Sage CRM install (program files, eWare registry keys): not a dedicated SQL Server."""
        return host in self.servers and host != self.dedicated_db_server

    @property
    def crm_servers(self) -> tuple[str, ...]:
        """The servers with a Sage CRM install, in inventory order."""
        return tuple(h for h in self.servers if self.holds_crm(h))

    @property
    def upgrade_server(self) -> str | None:
        """The server whose installer upgrades the database: the database server when it is a CRM
        server, else the first CRM server (the guide's "serveur Web principal")."""
        if self.dedicated_db_server is None:
            return self.db_server
        return self.crm_servers[0] if self.crm_servers else None

    def upgrades_database(self, host: str) -> bool:
        return host == self.upgrade_server

    @property
    def upgrade_server_label(self) -> str:
        """How messages name the server whose installer upgrades the database."""
        if self.dedicated_db_server is None:
            return f"the database server {self.upgrade_server}"
        return (
            f"{self.upgrade_server}, the first CRM server (the database is on the dedicated SQL Server "
            f"{self.dedicated_db_server}, where no Sage CRM installer runs)"
        )

    # --- a server added to the estate (chapter 6; playbooks/sagecrm/add-server.yml) ----------
    @property
    def new_servers(self) -> tuple[str, ...]:
        """Servers the inventory marks as new (group `new_servers`, or host var `new_server: true`):
        Sage CRM is not installed there yet."""
        group = self.inventory.groups.get(NEW_GROUP)
        members = set(group.hosts) if group is not None else set()
        return tuple(
            h for h in self.servers if h in members or self.inventory.hosts[h].vars.get("new_server") is True
        )

    @property
    def dtls_server(self) -> str | None:
        found = self.hosts_with("dtls")
        return found[0] if found else None

    def services_on(self, host: str) -> dict[str, str]:
        """role -> Windows service name of the Sage CRM services installed on `host` (Tomcat on web)."""
        roles = self.roles.get(host, ())
        out = {r: self.services[r] for r in SERVICE_ROLES if r in roles}
        if "web" in roles:
            out["tomcat"] = self.services["tomcat"]
        return out

    def service_executable(self, role: str) -> str:
        return ntpath.join(self.services_dir, SERVICE_EXECUTABLES[role])

    # --- resources the planner compares (see engine.api.module.Artifact) --------------------
    def registry_resources(self, host: str) -> list[str]:
        """Spelled as `modules.windows._windows.registry_resource` spells them (short root name)."""
        return [f"registry:{host}:{key}" for key in self.registry_keys]

    def program_resources(self, host: str) -> list[str]:
        return [f"files:{host}:{self.install_path}", f"files:{host}:{self.services_dir}"]

    def host_resources(self, host: str) -> list[str]:
        """What a server's backup covers and its installer overwrites: registry keys, program files
        (none on a dedicated database server, which has neither)."""
        if not self.holds_crm(host):
            return []
        return self.registry_resources(host) + self.program_resources(host)

    def db_resources(self) -> list[str]:
        return [f"db:{self.database}", f"views:{self.database}"]

    def backup_resources(self) -> list[str]:
        """Everything the guide wants backed up before any installer runs anywhere."""
        out = self.db_resources()
        for host in self.servers:
            out.extend(self.host_resources(host))
        return out

    # --- settings with defaults ------------------------------------------------------------
    def setting(self, *path: str, default: Any = None) -> Any:
        node: Any = self.section
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node

    @property
    def iis_site(self) -> str:
        return str(self.setting("iis", "site", default="Default Web Site"))

    @property
    def iis_app(self) -> str:
        return f"{self.iis_site}/{self.setting('iis', 'app', default=self.install_name)}"

    @property
    def iis_pools(self) -> tuple[str, str]:
        return (
            str(self.setting("iis", "pool", default="CRM App Pool")),
            str(self.setting("iis", "rewriter_pool", default="CRMRewriter App Pool")),
        )

    @property
    def parameters(self) -> dict[str, str]:
        """The custom_sysparams name of each multi-server setting the inventory gives."""
        given = self.setting("multi_server", "parameters", default={}) or {}
        return {k: str(given[k]) for k in MULTI_SERVER_SETTINGS if given.get(k)}

    def missing_parameters(self) -> list[str]:
        """`sagecrm.multi_server.parameters.<setting>` entries not given (no name is assumed)."""
        return [
            f"sagecrm.multi_server.parameters.{k}" for k in MULTI_SERVER_SETTINGS if k not in self.parameters
        ]

    def multi_server_values(self, include_new: bool = True) -> dict[str, str]:
        """The custom_sysparams rows of the estate's multi-server settings, under the names given
        (without the new servers: the rows as they are before add-server.yml installs them).

        ValueError when a name is not given: writing a setting under a guessed name would leave
        the real row (naming the servers it was copied from) in place.
        """
        missing = self.missing_parameters()
        if missing:
            raise ValueError(
                f"{', '.join(missing)} not set: the custom_sysparams names of the multi-server "
                "settings must be read on this Sage CRM system (docs/sagecrm.md)"
            )
        names = self.parameters
        web = [h for h in self.web_servers if include_new or h not in self.new_servers]
        balancing = self.setting("multi_server", "load_balancing", default=True)
        return {
            names["servers"]: ";".join(web),
            names["load_balancing"]: "true" if balancing else "false",
            names["dtls_server"]: str(
                self.setting("multi_server", "dtls_name", default=self.dtls_server or "")
            ),
            names["fqdns"]: ";".join(self.fqdn(h) for h in web),
        }

    def fqdn(self, host: str) -> str:
        given = self.setting("multi_server", "fqdns", default={}) or {}
        if host in given:
            return str(given[host])
        found = self.inventory.hosts.get(host)
        return found.address if found is not None else host

    @property
    def customised_views(self) -> tuple[str, ...]:
        return tuple(str(v) for v in self.setting("customised_views", default=()) or ())

    @property
    def simulated(self) -> bool:
        """Every CRM server is a simulated host (the demo and the tests)."""
        hosts = [self.inventory.hosts[h] for h in self.servers]
        return bool(hosts) and all(host_kind(h).simulated for h in hosts)

    def location(self, *path: str) -> Location | None:
        """file:line:col of a key of the section (the section itself for an empty path)."""
        node: Any = self.section
        where = getattr(node, "loc", None) or self.inventory.location
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return where
            where = node.key_loc(key) if hasattr(node, "key_loc") else where
            node = node[key]
        return where


def parse(inventory: Inventory) -> tuple[Estate | None, list[Problem]]:
    """The estate of an inventory with a `sagecrm:` section (which the engine checked against
    SECTION_SCHEMA when the inventory loaded), and the problems found reading it (none today)."""
    section = inventory.products.get("sagecrm")
    if not isinstance(section, Mapping):
        return None, []
    servers = tuple(h.name for h in inventory.hosts.values() if set(h.roles) & set(ROLES))
    services = {**DEFAULT_SERVICES, **{k: str(v) for k, v in (section.get("services") or {}).items()}}
    install_name = str(section.get("install_name", "CRM"))
    program_files = str(section.get("program_files", DEFAULT_PROGRAM_FILES)).rstrip("\\")
    estate = Estate(
        inventory=inventory,
        install_name=install_name,
        program_files=program_files,
        database=str(section["database"]),
        current_version=str(section["current_version"]),
        target_version=str(section["target_version"]),
        backup_root=str(section.get("backup_root", "C:\\CutoverBackups")).rstrip("\\"),
        servers=servers,
        roles={h.name: tuple(h.roles) for h in inventory.hosts.values()},
        services=services,
        section=section,
    )
    return estate, []


# --- one estate per loaded inventory ------------------------------------------------------------
_BY_PATH: dict[str, Estate] = {}


def remember(estate: Estate) -> None:
    """Keep the estate of the inventory just loaded, for `estate_for_host` (planner hooks)."""
    _BY_PATH[estate.inventory.path] = estate


def estate_of(inventory: Inventory) -> Estate | None:
    """The (already checked) estate of an inventory, or None when it has no `sagecrm:` section."""
    known = _BY_PATH.get(inventory.path)
    if known is not None and known.inventory is inventory:
        return known
    estate, problems = parse(inventory)
    if estate is not None and not problems:
        remember(estate)
    return estate


def estate_for_host(host: Host) -> Estate | None:
    """The estate a host belongs to, from the inventory file it was read from.

    A module's `protects()`/`destroys()` receive only their arguments and the host; the Sage CRM
    modules derive paths, keys and the database from the estate, so that a playbook names them
    nowhere and the planner still sees the exact resources.
    """
    if host.location is None:
        return None
    estate = _BY_PATH.get(host.location.file)
    if estate is None or host.name not in estate.inventory.hosts:
        return None
    return estate


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in str(text).split(".") if p.isdigit())
