"""The 1CRM estate: the inventory's `onecrm:` section read into one object.

Why one object: the estate rules, the 1CRM modules and the planner (through the modules'
`protects()`/`destroys()`) must derive the same facts from the same text: which host holds a
site's files, which database target holds its data, and the resource strings that tie a backup
to the step it protects (`files:<host>:<install_path>`, `db:<target>`). A playbook meant for every
1CRM estate names only the site (`live` or `test`); everything else comes from here.

The section's shape is `SECTION_SCHEMA`, which the engine checks when the inventory loads (each
mistake at the inventory's file:line:col); the cross-checks (hosts, roles, database targets, time
zone, flavour) live in `rules.py`.
See docs/onecrm.md for the reference.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.api import sections as sections
from engine.core.errors import Location, Problem
from engine.core.model import Inventory

SITES = ("live", "test")
#: the role the live application host carries: the 1CRM playbooks run their plays on it
LIVE_ROLE = "onecrm_live"
DEFAULT_MAINTENANCE_FILE = "maintenance.html"
DEFAULT_VERSION_FILE = "sugar_version.php"
DEFAULT_KEEP = ("include/config/local_config.php",)
#: SugarCRM-derived: the database records its version in config(category, name, value)
DEFAULT_VERSION_DB = {
    "table": "config",
    "column": "value",
    "where": {"category": "info", "name": "sugar_version"},
}
DEFAULT_TAKEN_AFTER = "23:00"
SCHEDULER_MATCH = "scheduler.php"

_STR = {"type": "string", "minLength": 1}
_ABS = {"type": "string", "pattern": "^/", "description": "An absolute path on the host."}
_REL = {
    "type": "string",
    "minLength": 1,
    "pattern": "^[^/]",
    "description": "A path below the install folder.",
}
_HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_ARGV = {"type": "array", "items": {"type": "string"}, "minItems": 1}

SITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["host", "install_path", "database", "url", "backup_dir"],
    "properties": {
        "host": {**_STR, "description": "The inventory host that holds the site's files (the web server)."},
        "install_path": _ABS,
        "database": {**_STR, "description": "A target of the inventory's `databases:` (mariadb or mysql)."},
        "url": {"type": "string", "pattern": "^https?://"},
        "expect_text": {**_STR, "description": "Text the site's answer must contain."},
        "validate_certs": {"type": "boolean"},
        "web_user": {**_STR, "description": "Owner of the files cutover writes (the PHP user)."},
        "web_group": _STR,
        "backup_dir": {**_ABS, "description": "Where cutover writes its own backups on the site's host."},
        "scheduler": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "description": "Where the `php scheduler.php` cron entry is: a user's crontab or a cron file.",
            "properties": {"crontab_user": _STR, "cron_file": _ABS},
        },
        "nightly": {
            "type": "object",
            "additionalProperties": False,
            "required": ["files", "database"],
            "properties": {
                "files": {
                    **_ABS,
                    "description": "Glob of the nightly file archives (zip or tar.gz) on the host.",
                },
                "database": {
                    **_ABS,
                    "description": "Glob of the nightly dumps (.sql or .sql.gz) on the DB host.",
                },
                "taken_after": {
                    **_HHMM,
                    "description": "Yesterday's time (estate zone) the backup must be newer than.",
                },
                "verify": {"enum": ["default", "restore"]},
            },
        },
        "latest_start": {
            **_HHMM,
            "description": "Latest start of this site's update on the day of the run (estate zone); "
            "live without a contract: 15:00 unless set.",
        },
        "keep": {
            "type": "array",
            "items": _REL,
            "description": "Files of this site kept when it is refreshed from another site.",
        },
    },
}

SECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["service_contract", "live", "package"],
    "properties": {
        "timezone": {**_STR, "description": "The site's time zone; must be the inventory's `timezone:`."},
        "service_contract": {"type": "boolean"},
        "live": SITE_SCHEMA,
        "test": SITE_SCHEMA,
        "package": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": {
                    **_ABS,
                    "pattern": "^/.*[.][zZ][iI][pP]$",
                    "description": "The update ZIP on the site's host (downloaded there from url).",
                },
                "url": {"type": "string", "pattern": "^https?://"},
                "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                "version": {"type": ["string", "number"]},
                "strip": {"type": "integer", "minimum": 0},
            },
        },
        "update": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "command": {**_ARGV, "description": "Run in the install folder after extraction (argv)."},
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "refresh": {
            "description": "How the test system gets the live state: copy (cutover), gate (the provider), command.",
            "oneOf": [
                {"enum": ["copy", "gate"]},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["command"],
                    "properties": {"command": _ARGV, "timeout": {"type": "number", "exclusiveMinimum": 0}},
                },
            ],
        },
        "maintenance": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"file": _REL, "message": {"type": "string"}},
        },
        "version": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "file": _REL,
                "table": _STR,
                "column": _STR,
                "where": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            },
        },
        "db_timezone": {**_STR, "description": "Zone of the dates 1CRM stores (UTC)."},
        "hosting": {
            "enum": ["own", "cloud"],
            "description": "cloud: last night's backups are the provider's, not reachable; the morning "
            "check is the gate onecrm-nightly-confirmed (ask the provider).",
        },
    },
}


@dataclass(frozen=True)
class Site:
    """One 1CRM installation (live or test): its host, files, database and URL."""

    name: str
    host: str
    install_path: str
    database: str
    url: str
    backup_dir: str
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def files_resource(self) -> str:
        """What a backup of the install folder protects and an update or restore destroys."""
        return f"files:{self.host}:{self.install_path}"

    @property
    def database_resource(self) -> str:
        return f"db:{self.database}"

    def path(self, relative: str) -> str:
        return posixpath.join(self.install_path, relative)

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def keep(self) -> tuple[str, ...]:
        given = self.raw.get("keep")
        return DEFAULT_KEEP if given is None else tuple(str(k) for k in given)


@dataclass(frozen=True)
class Estate:
    """The `onecrm:` section of one inventory (raw values; vault values still sealed)."""

    inventory: Inventory
    section: Mapping[str, Any]
    sites: Mapping[str, Site]

    @property
    def service_contract(self) -> bool:
        return bool(self.section.get("service_contract"))

    @property
    def cloud(self) -> bool:
        """The provider hosts the system: its nightly backups are confirmed by asking, not read."""
        return self.section.get("hosting") == "cloud"

    def site(self, name: str) -> Site | None:
        return self.sites.get(name)

    def setting(self, *path: str, default: Any = None) -> Any:
        return sections.setting(self.section, *path, default=default)

    def db_host(self, site: Site) -> str:
        """Where the site's dumps are written and loaded: its target's `host`, else the site's host."""
        target = self.inventory.databases.get(site.database) or {}
        return str(target.get("host") or site.host)

    def location(self, *path: str) -> Location | None:
        """file:line:col of a key of the section (the section itself for an empty path)."""
        return sections.location(self.section, self.inventory.location, *path)

    def value_location(self, *path: str) -> Location | None:
        """file:line:col of a value of the section (where a wrong value is written)."""
        return sections.location(self.section, self.inventory.location, *path, value=True)


def parse(inventory: Inventory) -> tuple[Estate | None, list[Problem]]:
    """The estate of an inventory with a `onecrm:` section (which the engine checked against
    SECTION_SCHEMA when the inventory loaded), and the problems found reading it (none today)."""
    raw = inventory.products.get("onecrm")
    if not isinstance(raw, Mapping):
        return None, []
    return Estate(inventory, raw, sites_of(raw)), []


def sites_of(values: Mapping[str, Any]) -> dict[str, Site]:
    """The sites of a (shape-checked) section; also used on a section rendered at run time."""
    sites = {}
    for name in SITES:
        raw = values.get(name)
        if isinstance(raw, Mapping):
            sites[name] = Site(
                name=name,
                host=str(raw["host"]),
                install_path=posixpath.normpath(str(raw["install_path"])),
                database=str(raw["database"]),
                url=str(raw["url"]),
                backup_dir=posixpath.normpath(str(raw["backup_dir"])),
                raw=raw,
            )
    return sites


# --- one estate per loaded inventory ------------------------------------------------------------
#: A module's `protects()`/`destroys()` see only their arguments and the host; the 1CRM modules name
#: the site and find its folder and database through the estate of the host's inventory, so the
#: planner sees the exact resources while the playbooks stay the same for every estate.
LOADED: sections.LoadedEstates[Estate] = sections.LoadedEstates(parse)
remember = LOADED.remember
estate_of = LOADED.of
estate_for_host = LOADED.for_host
