"""1CRM estate rules, checked when an inventory with a `onecrm:` section loads.

What the vendor's procedure takes for granted becomes an error at the inventory's file:line
instead of a surprise on update morning: the sites name real hosts and MariaDB/MySQL targets;
the live web server carries the role the playbooks run on; a service contract comes with a test
system that is not the live one (not its folder, not its database) and that cutover can refresh
the way the estate says; an estate without one names last night's backups, which the procedure
checks first; the site's time zone is the one the engine keeps its time windows in.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.errors import Problem, closest
from engine.core.model import Inventory
from modules.onecrm.product.estate import LIVE_ROLE, Estate, Site, parse, remember

#: site keys the planner reads before the run: they must be written out, not computed
LITERAL_KEYS = ("host", "install_path", "database", "backup_dir")
DIALECTS = ("mariadb", "mysql")


def check_onecrm(inventory: Inventory) -> list[Problem]:
    """Every broken rule of the estate, each at its file:line."""
    estate, problems = parse(inventory)
    if estate is None:
        return problems
    for rule in (_timezone, _sites, _live_role, _flavour, _package):
        problems.extend(rule(estate))
    if not problems:
        remember(estate)
    return problems


def _is_literal(value: Any) -> bool:
    return isinstance(value, str) and "{{" not in value and "{%" not in value


def _timezone(estate: Estate) -> list[Problem]:
    """The site's zone must be the estate's: time windows (15:00, 16:00) are kept in the latter."""
    if "timezone" not in estate.section:
        return []
    name = str(estate.section["timezone"])
    where = estate.value_location("timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [
            Problem(f"onecrm: unknown time zone {name!r}", where, hint="an IANA name such as Europe/Berlin")
        ]
    if name == estate.inventory.timezone:
        return []
    source = estate.inventory.source
    which = "the inventory's" if isinstance(source, Mapping) and "timezone" in source else "the default"
    return [
        Problem(
            f"onecrm: the site's time zone {name} differs from {which} timezone {estate.inventory.timezone}",
            where,
            hint=f"deadlines and backup cut-offs use the top-level `timezone:`; set `timezone: {name}` "
            "at the top of the inventory",
        )
    ]


def _sites(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    hosts = estate.inventory.hosts
    databases = estate.inventory.databases
    for site in estate.sites.values():
        for key in LITERAL_KEYS:
            if not _is_literal(site.raw.get(key)):
                problems.append(
                    Problem(
                        f"onecrm.{site.name}.{key} must be written out, not a template or a vault value",
                        estate.value_location(site.name, key),
                        hint="the planner checks before the run which backup protects which folder and database",
                    )
                )
        if site.host not in hosts:
            problems.append(_unknown(estate, site, "host", list(hosts), "add it under hosts:"))
        target = databases.get(site.database)
        if target is None:
            problems.append(
                _unknown(estate, site, "database", list(databases), "add a mariadb target under databases:")
            )
        else:
            problems.extend(_target(estate, site, target))
        if _inside(site.backup_dir, site.install_path):
            problems.append(
                Problem(
                    f"onecrm.{site.name}.backup_dir {site.backup_dir} is inside the install folder",
                    estate.value_location(site.name, "backup_dir"),
                    hint="a backup inside the folder it protects is overwritten or removed by a restore",
                )
            )
        for i, keep in enumerate(site.raw.get("keep") or []):
            if ".." in str(keep).split("/"):
                problems.append(
                    Problem(
                        f"onecrm.{site.name}.keep[{i}]: {keep!r} leaves the install folder",
                        estate.value_location(site.name, "keep"),
                    )
                )
    return problems


def _unknown(estate: Estate, site: Site, key: str, known: list[str], otherwise: str) -> Problem:
    """A site names a host or database target the inventory does not have."""
    name = str(site.raw[key])
    guess = closest(name, known)
    where = "the inventory's hosts" if key == "host" else "databases:"
    return Problem(
        f"onecrm.{site.name}.{key}: no {'host' if key == 'host' else 'target'} {name!r} in {where}",
        estate.value_location(site.name, key),
        hint=f"did you mean {guess!r}?" if guess else otherwise,
    )


def _target(estate: Estate, site: Site, target: Mapping[str, Any]) -> list[Problem]:
    problems = []
    where = estate.value_location(site.name, "database")
    if target.get("dialect") not in DIALECTS:
        problems.append(
            Problem(
                f"onecrm.{site.name}.database: target {site.database!r} is {target.get('dialect')}, "
                "1CRM runs on mariadb or mysql",
                where,
            )
        )
    db_host = target.get("host")
    if db_host is not None and db_host not in estate.inventory.hosts:
        problems.append(
            Problem(
                f"database target {site.database!r} names host {db_host!r}, which the inventory does not have",
                where,
                hint="its dumps are written and read there: add the host or remove `host:`",
            )
        )
    return problems


def _live_role(estate: Estate) -> list[Problem]:
    """The playbooks' plays run on the host with the live role: it must be exactly the live host."""
    live = estate.site("live")
    if live is None:
        return []
    carriers = [h for h in estate.inventory.hosts.values() if LIVE_ROLE in h.roles]
    problems = []
    if live.host in estate.inventory.hosts and live.host not in [h.name for h in carriers]:
        problems.append(
            Problem(
                f"host {live.host!r} (onecrm.live.host) needs the role {LIVE_ROLE!r}",
                estate.inventory.hosts[live.host].location,
                hint=f"add `roles: [{LIVE_ROLE}]` to it: the 1CRM playbooks run on `hosts: {LIVE_ROLE}`",
            )
        )
    for host in carriers:
        if host.name != live.host:
            problems.append(
                Problem(
                    f"host {host.name!r} has the role {LIVE_ROLE!r} but onecrm.live.host is {live.host!r}",
                    host.location,
                    hint="exactly one host, the live web server, carries it",
                )
            )
    return problems


def _flavour(estate: Estate) -> list[Problem]:
    """With a service contract: a separate test system; without one: last night's backups."""
    live, test = estate.site("live"), estate.site("test")
    if live is None:
        return []
    if not estate.service_contract:
        problems = []
        if test is not None:
            problems.append(
                Problem(
                    "onecrm.test is only used with service_contract: true",
                    estate.location("test"),
                    hint="remove test:, or set service_contract: true to update the test system first",
                )
            )
        if "nightly" not in live.raw and not estate.cloud:
            problems.append(
                Problem(
                    "onecrm.live.nightly is required without a service contract",
                    estate.location("live"),
                    hint="the procedure starts by checking last night's backup: give the globs of its "
                    "file archives and database dumps (nightly: {files: ..., database: ...}); "
                    "a cloud customer whose backups only the provider reaches sets hosting: cloud",
                )
            )
        return problems
    if test is None:
        return [
            Problem(
                "onecrm.test is required with service_contract: true",
                estate.location("service_contract"),
                hint="the update goes to the paired test system first",
            )
        ]
    return _separate(estate, live, test) + _refresh(estate, live, test)


def _separate(estate: Estate, live: Site, test: Site) -> list[Problem]:
    problems = []
    if test.host == live.host and (
        _inside(test.install_path, live.install_path) or _inside(live.install_path, test.install_path)
    ):
        problems.append(
            Problem(
                f"onecrm.test.install_path {test.install_path} overlaps the live install {live.install_path}",
                estate.value_location("test", "install_path"),
                hint="refreshing or updating the test system would change live files",
            )
        )
    if test.database == live.database or _same_database(estate, live.database, test.database):
        problems.append(
            Problem(
                f"onecrm.test.database {test.database!r} is the live database",
                estate.value_location("test", "database"),
                hint="refreshing the test system replaces its database: give it its own",
            )
        )
    return problems


def _same_database(estate: Estate, a: str, b: str) -> bool:
    ta, tb = estate.inventory.databases.get(a), estate.inventory.databases.get(b)
    if not ta or not tb:
        return False
    keys = ("server", "port", "socket", "dsn", "database")
    return all(str(ta.get(k)) == str(tb.get(k)) for k in keys)


def _refresh(estate: Estate, live: Site, test: Site) -> list[Problem]:
    """Copying needs live's backups where the test system is restored (same hosts)."""
    if estate.setting("refresh", default="copy") != "copy":
        return []
    reasons = []
    if test.host != live.host:
        reasons.append(f"the sites are on different hosts ({live.host}, {test.host})")
    if estate.db_host(test) != estate.db_host(live):
        reasons.append(
            f"their databases are dumped on different hosts ({estate.db_host(live)}, {estate.db_host(test)})"
        )
    if not reasons:
        return []
    return [
        Problem(
            "onecrm: the test system cannot be refreshed by copying: " + "; ".join(reasons),
            estate.location("refresh") if "refresh" in estate.section else estate.location("test"),
            hint="set `refresh: gate` (the provider refreshes it; cutover then checks the versions match) "
            "or `refresh: {command: [...]}`",
        )
    ]


def _package(estate: Estate) -> list[Problem]:
    package = estate.setting("package", default={})
    if package.get("url") and not package.get("sha256"):
        return [
            Problem(
                "onecrm.package: a package downloaded from url needs its sha256",
                estate.location("package", "url"),
                hint="the vendor's checksum proves the download is the package you meant",
            )
        ]
    return []


def _inside(child: str, parent: str) -> bool:
    child, parent = posixpath.normpath(child), posixpath.normpath(parent)
    return child == parent or child.startswith(parent.rstrip("/") + "/")
