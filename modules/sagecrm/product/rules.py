"""Sage CRM estate rules, checked when an inventory with a `sagecrm:` section loads.

The guide's facts about a cluster (DOMAIN.md part 1) become errors at the inventory's
file:line instead of surprises during the upgrade night: exactly one database server (a host
with the role `db` only is a dedicated SQL Server, with no Sage CRM install); web
servers with IIS and Tomcat; one DTLS server that is a web server; each service on exactly one
server; one replication engine, on the first server of its group; enough database connections
for every web server's DLL and Tomcat pool; a test estate that mirrors its live estate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.api.hosts import host_kind
from engine.api.inventories import load_inventory
from engine.core.errors import Location, Problem, UserError, closest, key_location
from engine.core.model import Inventory
from modules.sagecrm.product.estate import ROLES, SERVICE_ROLES, Estate, parse, remember, version_tuple

#: nested `mirror_of` loads (a live estate must not itself be checked against its own test estate)
_LOADING: list[str] = []


def check_sagecrm(inventory: Inventory) -> list[Problem]:
    """Every broken rule of the estate, each at its file:line."""
    estate, problems = parse(inventory)
    if estate is None:
        return problems
    rules = (
        _roles_known,
        _singletons,
        _database,
        _web,
        _dtls,
        _services,
        _replication,
        _connections,
        _versions,
    )
    for rule in (*rules, _dedicated_database, _new_servers):
        problems.extend(rule(estate))
    if estate.setting("mirror_of") is not None:
        problems.extend(_mirror(estate))
        problems.extend(_multi_server_names(estate))
    if not problems:
        remember(estate)
    return problems


def _host_loc(estate: Estate, host: str) -> Location | None:
    found = estate.inventory.hosts.get(host)
    return found.location if found is not None else estate.location()


def _roles_known(estate: Estate) -> list[Problem]:
    """A role that is almost a Sage CRM role is a typo that would silently drop a service."""
    problems = []
    for host in estate.inventory.hosts.values():
        for role in host.roles:
            if role in ROLES:
                continue
            guess = closest(role, ROLES)
            if guess:
                problems.append(
                    Problem(
                        f"host {host.name}: unknown Sage CRM role {role!r}",
                        host.location,
                        hint=f"did you mean {guess!r}? roles: {', '.join(ROLES)}",
                    )
                )
    return problems


_TWICE = "{extra} is a second {what} (the first is {first}); there is exactly one"


def _one_of(
    estate: Estate,
    role: str,
    what: str,
    required: str | None = None,
    hint: str | None = None,
    twice: str = _TWICE,
) -> list[Problem]:
    """At most one host with `role` (each extra one is an error at its line); `required`: the
    message when there must be one and there is none."""
    hosts = estate.hosts_with(role)
    problems = [
        Problem("sagecrm: " + twice.format(extra=extra, what=what, first=hosts[0]), _host_loc(estate, extra))
        for extra in hosts[1:]
    ]
    if required and not hosts:
        problems.append(Problem(f"sagecrm: {required}", estate.location(), hint=hint))
    return problems


#: roles held by one host: what it is, the message when it is missing, a hint, required always|multi-server
SINGLE_ROLES = {
    "db": (
        "database server",
        "no host has the role `db`: an estate has exactly one database server",
        "add `roles: [db]` to the SQL Server host",
        "always",
    ),
    "dtls": (
        "DTLS server",
        "a multi-server estate needs one DTLS server (role `dtls` on a web server)",
        "the server that runs deferred table-level scripts",
        "multi",
    ),
    "replication": (
        "replication engine",
        "a multi-server estate has exactly one replication engine (role "
        "`replication`), on the first server of its group",
        None,
        "multi",
    ),
}


def _singletons(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    for role, (what, missing, hint, when) in SINGLE_ROLES.items():
        required = missing if when == "always" or _multi(estate) else None
        problems += _one_of(estate, role, what, required, hint)
    return problems


def _database(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    dbs = estate.hosts_with("db")
    target = estate.inventory.databases.get(estate.database)
    if target is None:
        known = ", ".join(estate.inventory.databases) or "none"
        problems.append(
            Problem(
                f"sagecrm.database names {estate.database!r}, which is not under `databases:` "
                f"(known: {known})",
                estate.location("database"),
            )
        )
    elif dbs and target.get("host") not in (None, dbs[0]):
        problems.append(
            Problem(
                f"databases.{estate.database}.host is {target.get('host')!r} but the database "
                f"server of the estate is {dbs[0]}",
                estate.location("database"),
            )
        )
    return problems


def _web(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    if not estate.web_servers:
        problems.append(
            Problem("sagecrm: no host has the role `web` (IIS + EWARE.DLL + Tomcat)", estate.location())
        )
    for role in (*SERVICE_ROLES, "dtls", "replication"):
        for host in estate.hosts_with(role):
            if not {"web", "db"} & set(estate.roles[host]):
                problems.append(
                    Problem(
                        f"host {host} has the role {role!r} but is not a Sage CRM server (role web or db)",
                        _host_loc(estate, host),
                    )
                )
    if estate.web_servers and (not estate.iis_app.partition("/")[2] or not estate.services.get("tomcat")):
        problems.append(
            Problem(
                "sagecrm: web servers need an IIS application and a Tomcat service "
                "(sagecrm.iis.app, sagecrm.services.tomcat)",
                estate.location(),
            )
        )
    return problems


def _dedicated_database(estate: Estate) -> list[Problem]:
    """A dedicated SQL Server (role `db` only: chapter 6's "serveur de base de données dédié
    distinct") leaves the database upgrade to the first CRM server's installer, which then needs
    the database server's answers (response file `db`)."""
    dedicated = estate.dedicated_db_server
    if dedicated is None or not estate.crm_servers:
        return []
    files = estate.setting("installer", "response_files", default=None)
    if files and files.get("others") and not files.get("db"):
        first = estate.crm_servers[0]
        return [
            Problem(
                f"sagecrm.installer.response_files has no `db` file: {dedicated} is a dedicated database "
                f"server (role `db` only, no Sage CRM install), so the installer on {first}, the first "
                "CRM server, upgrades the database and needs the database server's answers",
                estate.location("installer", "response_files"),
                hint="give response_files.db (Database=Yes) for the first CRM server",
            )
        ]
    return []


#: what a new server may not carry, and why (chapter 6: installed once, on the servers that have them)
_ONCE = {
    "db": "the Sage CRM database is installed once, with the first server: a new server never installs it",
    "replication": "one replication engine only, on the first server of its group (« une seule instance Moteur "
    "de duplication doit être installée sur le premier serveur d'un groupe »): a new server never gets a second one",
    "dtls": "the DTLS server is an existing server (sagecrm.multi_server.dtls_name names it)",
}


def _new_servers(estate: Estate) -> list[Problem]:
    """A new server (add-server.yml) is a web server; what is installed once stays where it is; the
    document library is a UNC share every web server reaches (chapter 6's "Remarque")."""
    problems: list[Problem] = []
    for host in estate.new_servers:
        for role in estate.roles[host]:
            if role in _ONCE:
                problems.append(
                    Problem(
                        f"new server {host} has the role {role!r}: {_ONCE[role]}", _host_loc(estate, host)
                    )
                )
        if "web" not in estate.roles[host]:
            problems.append(
                Problem(
                    f"new server {host} must be a web server (role web): add-server.yml installs web servers",
                    _host_loc(estate, host),
                )
            )
    library = str(estate.setting("library", default="") or "")
    if estate.new_servers and not library.startswith("\\\\"):
        problems.append(
            Problem(
                f"sagecrm.library is {library or 'not set'}: a multi-server estate needs the document library on "
                "a shared UNC path (\\\\server\\share) reachable from every web server (« un chemin d'accès "
                "réseau UNC partagé avec des droits d'accès appropriés à la bibliothèque est requis »)",
                estate.location("library"),
            )
        )
    return problems


def _multi(estate: Estate) -> bool:
    return len(estate.web_servers) > 1


def _dtls(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    for host in estate.hosts_with("dtls"):
        if "web" not in estate.roles[host]:
            problems.append(
                Problem(
                    f"sagecrm: the DTLS server {host} must be one of the web servers", _host_loc(estate, host)
                )
            )
    return problems


def _services(estate: Estate) -> list[Problem]:
    problems = []
    for role in SERVICE_ROLES:
        twice = "the {what} is on {first} and again on {extra}; each service runs on exactly one server"
        problems += _one_of(estate, role, f"{role} service ({estate.services[role]})", twice=twice)
    return problems


def _replication(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    hosts = estate.hosts_with("replication")
    if not hosts:
        return problems
    group_name = estate.setting("replication", "group")
    if group_name is not None:
        group = estate.inventory.groups.get(str(group_name))
        if group is None:
            return problems + [
                Problem(
                    f"sagecrm.replication.group: no group {group_name!r} in the inventory",
                    estate.location("replication", "group"),
                )
            ]
        members = [h for h in group.hosts if h in estate.crm_servers]
    else:
        members = list(estate.crm_servers)
    if members and members[0] != hosts[0]:
        dedicated = estate.dedicated_db_server
        aside = (
            f"; the dedicated database server {dedicated} has no Sage CRM install and does not count"
            if dedicated
            else ""
        )
        problems.append(
            Problem(
                f"sagecrm: the replication engine is on {hosts[0]} but must be on the first "
                f"server of its group ({members[0]}){aside}",
                _host_loc(estate, hosts[0]),
            )
        )
    return problems


def _connections(estate: Estate) -> list[Problem]:
    target = estate.inventory.databases.get(estate.database) or {}
    limit = target.get("max_connections")
    if limit is None:
        return []
    where = key_location(target, "max_connections", estate.location("database"))
    try:
        allowed = int(limit)
    except (TypeError, ValueError):
        return [
            Problem(
                f"databases.{estate.database}.max_connections must be a number, not {limit!r}",
                where,
            )
        ]
    sizes = {key: estate.setting("connections", key, default=10) for key in ("dll", "tomcat_pool")}
    wrong = [key for key, size in sizes.items() if not isinstance(size, int) or isinstance(size, bool)]
    if wrong:
        return [
            Problem(f"sagecrm.connections.{key} must be a whole number, not {sizes[key]!r}",
                    estate.location("connections", key))
            for key in wrong
        ]
    dll, pool = sizes["dll"], sizes["tomcat_pool"]
    needed = len(estate.web_servers) * (dll + pool)
    if allowed >= needed:
        return []
    return [
        Problem(
            f"databases.{estate.database}.max_connections is {allowed} but {len(estate.web_servers)} web "
            f"server(s) need {needed} ({dll} DLL + {pool} Tomcat pool connections each)",
            where,
            hint="raise the server's limit, or set sagecrm.connections if the pools are smaller",
        )
    ]


def _versions(estate: Estate) -> list[Problem]:
    current, target = version_tuple(estate.current_version), version_tuple(estate.target_version)
    if target <= current:
        return [
            Problem(
                f"sagecrm.target_version {estate.target_version} is not above current_version "
                f"{estate.current_version}",
                estate.location("target_version"),
            )
        ]
    return []


# --- a test estate mirrors its live estate ----------------------------------------------------
def _multi_server_names(estate: Estate) -> list[Problem]:
    """A test estate with several web servers points the restored settings at itself: by name only.

    The names are not public (modules/sagecrm/product/estate.py); written under a guessed name,
    the restored production rows would stay and the test servers would balance onto production.
    """
    if estate.setting("multi_server") is None and len(estate.web_servers) < 2:
        return []
    return [
        Problem(
            f"{name} is not set: a test estate's restored multi-server settings must be rewritten "
            "under their real custom_sysparams names (read them on the live system; docs/sagecrm.md)",
            estate.location("multi_server") or estate.location("mirror_of"),
        )
        for name in estate.missing_parameters()
    ]


def _mirror(estate: Estate) -> list[Problem]:
    where = estate.location("mirror_of")
    live_path = Path(estate.inventory.path).parent / str(estate.setting("mirror_of"))
    key = str(live_path.resolve())
    if key in _LOADING:
        return [Problem(f"sagecrm.mirror_of: {live_path} is (through mirror_of) this estate itself", where)]
    _LOADING.append(key)
    try:
        live = load_inventory(live_path)
    except UserError as err:
        return [
            Problem(
                f"sagecrm.mirror_of: the live estate {live_path} does not load: {err.problems[0].message}",
                where,
            )
        ]
    finally:
        _LOADING.remove(key)
    live_estate, _ = parse(live)
    if live_estate is None:
        return [Problem(f"sagecrm.mirror_of: {live_path} has no `sagecrm:` section", where)]
    return compare_mirror(estate, live_estate, where)


def mirror_pairs(test: Estate, live: Estate) -> list[tuple[str, str]]:
    """(test host, live host) pairs: `sagecrm.mirror_hosts` (test -> live), else by position."""
    given: Mapping[str, Any] = test.setting("mirror_hosts", default={}) or {}
    if given:
        return [(t, str(given[t])) for t in test.servers if t in given]
    return list(zip(test.servers, live.servers, strict=False))


def compare_mirror(test: Estate, live: Estate, where: Location | None) -> list[Problem]:
    problems: list[Problem] = []
    if len(test.servers) != len(live.servers):
        problems.append(
            Problem(
                f"sagecrm.mirror_of: the test estate has {len(test.servers)} server(s), the live "
                f"estate {len(live.servers)}; a test environment mirrors production",
                where,
            )
        )
        return problems
    pairs = mirror_pairs(test, live)
    for t, lv in pairs:
        if lv not in live.servers:
            problems.append(
                Problem(f"sagecrm.mirror_hosts: {lv!r} is not a server of the live estate", where)
            )
            continue
        ours = sorted(r for r in test.roles[t] if r in ROLES)
        theirs = sorted(r for r in live.roles[lv] if r in ROLES)
        if ours != theirs:
            problems.append(
                Problem(
                    f"test server {t} has roles {ours} but its live server {lv} has {theirs}",
                    _host_loc(test, t),
                )
            )
    missing = [t for t in test.servers if t not in {p[0] for p in pairs}]
    if missing:
        problems.append(Problem(f"sagecrm.mirror_hosts: no live server for {', '.join(missing)}", where))
    live_addresses = {
        live.inventory.hosts[h].address
        for h in live.servers
        if not host_kind(live.inventory.hosts[h]).simulated
    }
    for t in test.servers:
        host = test.inventory.hosts[t]
        if not host_kind(host).simulated and host.address in live_addresses:
            problems.append(
                Problem(
                    f"test server {t} is a live server ({host.address}): never test on the live servers",
                    host.location,
                )
            )
    if test.install_name != live.install_name:
        problems.append(
            Problem(
                f"sagecrm.install_name {test.install_name!r} differs from the live estate's "
                f"{live.install_name!r}",
                test.location("install_name"),
            )
        )
    return problems
