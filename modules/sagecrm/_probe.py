"""What `cutover probe` reports of a Sage CRM server, read-only, against what the inventory says.

Per server: the install (which registry view holds the eWare keys, the installs the server has,
Version, RootPath and the database it points at), the registered eware.dll, IIS (sites, the CRM
application's physical path and pool, the pools' states, the CRM pool's enable32BitAppOnWin64), the CRM services and Tomcat with their
state, start mode and account, the free space of the drives the backups and program files use;
on the database server, the database: reachable, version, edition (whether backups may be
compressed), max connections, the default backup directory and the account that writes backups,
whether that account may write the backup folder (from the folder's ACL: true, false or unknown),
and the CRM version in custom_sysparams. A finding is written wherever the host and the
inventory disagree (an install name that is not there, a service missing on the server the
inventory puts it on, a registry view the inventory names that does not hold the keys).

Everything goes through the probe's read-only Remote; the database is only queried (a simulated
estate's SQLite file is opened read-only and never created).
"""

from __future__ import annotations

import ntpath
import os
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from engine.api.probe import ProbeContext, finding
from engine.core.errors import Problem
from engine.core.model import Inventory
from engine.db import DbError, connect, mssql, target_from
from modules._common import call_many
from modules.sagecrm._app_pool import crm_pool, pool_problem
from modules.sagecrm.product.estate import CONFIG_ROOT, Estate, estate_of
from modules.sagecrm.product.patches import PATCH_VALUE, patch_report, patch_warning
from modules.windows._acl import write_access

VIEWS = ("64", "32")


def probe_host(ctx: ProbeContext) -> dict[str, Any]:
    est = estate_of(ctx.inventory)
    if est is None or ctx.host.name not in est.servers or ctx.remote is None:
        return {}
    name = ctx.host.name
    findings: list[dict[str, str]] = []
    out: dict[str, Any] = {"roles": list(est.roles.get(name, ()))}
    if est.holds_crm(name):  # a dedicated database server has no install, services or IIS of Sage CRM
        out["install"] = _install(ctx, est, findings)
        out["services"] = _services(ctx, est, findings)
        if "web" in est.roles.get(name, ()):
            out["iis"] = _iis(ctx, est, findings, out["install"].get("registry_view"))
    if est.upgrades_database(name):
        install = out.get("install") or {}
        out["patch_level"] = patch_report(est, install.get("Version"), install.get(PATCH_VALUE))
        warning = patch_warning(est)
        if warning is not None and est.setting("latest_patch"):  # undeclared: the preflight says so
            findings.append(finding("warning", warning))
    out["disks"] = _disks(ctx, est)
    out["winrm_quotas"] = winrm_quotas(ctx, findings)
    if est.db_server == name:
        out["database"] = _database(ctx, est, findings)
    out["findings"] = findings
    return out


def _install(ctx: ProbeContext, est: Estate, findings: list[dict[str, str]]) -> dict[str, Any]:
    """The eWare keys in both registry views, in one round trip."""
    calls = [("registry.get", {"key": CONFIG_ROOT, "view": v}) for v in VIEWS]
    calls += [("registry.get", {"key": est.config_key, "view": v}) for v in VIEWS]
    calls.append(("dll.registered", {"clsid_name": "eWare.eWare"}))
    answers = call_many(ctx.remote, calls)  # type: ignore[arg-type]
    installs: dict[str, list[str]] = {}
    for view, (value, _failed) in zip(VIEWS, answers[:2], strict=True):
        for sub in (value or {}).get("subkeys") or []:
            if sub.startswith("/"):
                installs.setdefault(sub[1:], []).append(view)
    holding = [v for v, (value, _f) in zip(VIEWS, answers[2:4], strict=True) if (value or {}).get("exists")]
    out: dict[str, Any] = {"name": est.install_name, "installs_found": installs, "registry_view": None}
    if not holding:
        others = ", ".join(sorted(installs)) or "none"
        findings.append(finding("error", f"no Sage CRM install {est.install_name!r} ({est.config_key}) in "
                                         f"either registry view; installs on this server: {others}"))  # fmt: skip
        return out
    view = "32" if "32" in holding else holding[0]
    out["registry_view"] = view
    values = (answers[2 + VIEWS.index(view)][0] or {}).get("values") or {}
    for key in ("Version", PATCH_VALUE, "RootPath", "DefaultDatabase", "DefaultDatabaseServer"):
        if key in values:
            out[key] = values[key].get("data")
    if est.registry_view in VIEWS and est.registry_view not in holding:
        findings.append(finding("error", f"the inventory says sagecrm.registry_view {est.registry_view}, but the "
                                         f"eWare keys are in the {view}-bit view"))  # fmt: skip
    version = str(out.get("Version") or "")
    if version not in (est.current_version, est.target_version):
        findings.append(finding("error", f"the registry says Sage CRM {version or '(no Version)'}, the inventory "
                                         f"says {est.current_version}"))  # fmt: skip
    root = str(out.get("RootPath") or "").rstrip("\\")
    if root and ntpath.normcase(root) != ntpath.normcase(est.install_path):
        findings.append(finding("warning", f"the install is at {root}, the inventory says {est.install_path} "
                                           "(sagecrm.program_files)"))  # fmt: skip
    dll, _failed = answers[4]
    if dll is not None:
        out["eware_dll"] = dll.get("path") if dll.get("registered") else None
    return out


def _services(ctx: ProbeContext, est: Estate, findings: list[dict[str, str]]) -> dict[str, Any]:
    """Every Sage CRM service (all roles, so a saved probe tells `validate` where each one is)."""
    wanted = est.services_on(ctx.host.name)
    every = dict(est.services)
    answers = call_many(ctx.remote, [("service.get", {"name": n}) for n in every.values()])  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for (role, service), (value, failed) in zip(every.items(), answers, strict=True):
        installed = failed is None and bool((value or {}).get("exists"))
        if installed:
            out[service] = {"role": role, **{k: value.get(k) for k in ("state", "start_mode", "account")}}
        elif role in wanted:
            out[service] = {"role": role, "installed": False}
            findings.append(finding("error", f"service {service} ({role}) is not installed here, where the "
                                             "inventory puts it"))  # fmt: skip
    return out


def _iis(ctx: ProbeContext, est: Estate, findings: list[dict[str, str]], view: str | None) -> dict[str, Any]:
    """Sites, the CRM application and its pools; the CRM pool's enable32BitAppOnWin64 against the
    install's bitness (a 32-bit Sage CRM in a 64-bit pool answers HTTP 500.0)."""
    [(state, failed)] = call_many(ctx.remote, [("iis.state", {})])  # type: ignore[arg-type]
    if failed is not None:
        findings.append(finding("error", f"IIS: {failed.get('error')}"))
        return {"error": failed.get("error")}
    apps = state.get("apps") or {}
    app = next((v for k, v in apps.items() if k.casefold() == est.iis_app.casefold()), None)
    if app is None:
        findings.append(finding("error", f"IIS has no application {est.iis_app}"))
    pools = {p: (state.get("pools") or {}).get(p) for p in est.iis_pools}
    pool = crm_pool(state, est)
    problem = pool_problem(pool, est, view)
    if problem is not None:
        findings.append(finding("error", problem))
    return {
        "service": state.get("service"),
        "sites": state.get("sites"),
        "application": {"name": est.iis_app, **(app or {})},
        "pools": pools,
        "crm_pool": pool,
    }


def _disks(ctx: ProbeContext, est: Estate) -> dict[str, Any]:
    roots = list(dict.fromkeys(ntpath.splitdrive(p)[0] + "\\" for p in (est.backup_root, est.program_files)))
    answers = call_many(ctx.remote, [("disk.free", {"path": r}) for r in roots])  # type: ignore[arg-type]
    return {
        r: value if failed is None else {"error": failed.get("error")}
        for r, (value, failed) in zip(roots, answers, strict=True)
    }


# --- WinRM quotas (winrm/config/winrs) ----------------------------------------------------------

#: `winrm get winrm/config/winrs -format:xml`: the winrs settings in force (a `winrm set` or a
#: Group Policy value), read-only (engine/api/probe.py READ_ONLY_COMMANDS).
WINRM_GET_WINRS = ["winrm.cmd", "get", "winrm/config/winrs", "-format:xml"]
#: "The behavior is unsupported if the MaxMemoryPerShellMB is set to a value that is less than the
#: default" (https://learn.microsoft.com/windows/win32/winrm/quotas).
MEMORY_DEFAULT_MB = 1024


def winrm_quotas(ctx: ProbeContext, findings: list[dict[str, str]]) -> dict[str, Any]:
    """The server's winrs quotas by name (MaxMemoryPerShellMB, MaxShellsPerUser, IdleTimeout...),
    as text; {"error": ...} when winrm cannot tell. A MaxMemoryPerShellMB below Microsoft's
    default is a finding: a zip or an installer in the helper may then run out of memory."""
    answer = call_many(ctx.remote, [("process.run", {"argv": WINRM_GET_WINRS, "timeout": 60})])  # type: ignore[arg-type]
    value, failed = answer[0]
    if failed is not None or value.get("rc") != 0:
        why = (
            failed.get("error")
            if failed is not None
            else (value.get("stderr") or value.get("stdout") or "").strip()
        )
        return {"error": f"winrm get winrm/config/winrs: {why or 'failed'}"}
    try:
        root = ET.fromstring(str(value.get("stdout", "")).strip())
    except ET.ParseError as exc:
        return {"error": f"winrm get winrm/config/winrs printed no config XML ({exc})"}
    quotas = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
    memory = quotas.get("MaxMemoryPerShellMB", "")
    if memory.isdigit() and 0 < int(memory) < MEMORY_DEFAULT_MB:
        findings.append(
            finding(
                "warning",
                f"WinRM MaxMemoryPerShellMB is {memory} MB, below Microsoft's default of {MEMORY_DEFAULT_MB} "
                'MB; raise it with: winrm set winrm/config/winrs @{MaxMemoryPerShellMB="4096"}',
            )
        )
    return quotas


def _database(ctx: ProbeContext, est: Estate, findings: list[dict[str, str]]) -> dict[str, Any]:
    raw = ctx.databases.get(est.database)
    if raw is None:
        findings.append(finding("error", f"the inventory has no database target {est.database!r}"))
        return {"reachable": False}
    target = target_from(est.database, raw)
    try:
        if target.dialect == "sqlite":
            return _sqlite(str(target.path))
        with connect(target) as db:
            facts: dict[str, Any] = {"reachable": True, "dialect": target.dialect}
            if target.dialect == "mssql":
                facts.update(mssql.server_facts(db))
                facts["backup_directory_writable"] = _backup_writable(ctx, est, target, facts, findings)
                if not facts.get("compression"):
                    findings.append(finding("info", f"{facts.get('edition')}: backups cannot be compressed"))
            facts["crm_version"] = _crm_version(db.rows("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = ?",
                                                        ("Version",)))  # fmt: skip
    except DbError as exc:
        findings.append(finding("error", f"database {est.database}: {exc}"))
        return {"reachable": False, "error": str(exc)}
    _compare_versions(est, facts.get("crm_version"), findings)
    return facts


def _backup_writable(
    ctx: ProbeContext, est: Estate, target: Any, facts: Mapping[str, Any], findings: list[dict[str, str]]
) -> dict[str, Any]:
    """Whether SQL Server's service account may create the backup files, from the folder's ACL (read
    with `file.acl` on the database server, nothing written): writable true, false or None (unknown)."""
    folder = str(target.backup_dir or est.backup_root)
    account = facts.get("service_account")
    [(acl, failed)] = call_many(ctx.remote, [("file.acl", {"path": folder})])  # type: ignore[arg-type]
    if failed is not None:
        verdict: dict[str, Any] = {
            "writable": None,
            "reason": f"the folder's ACL cannot be read: {failed.get('error')}",
        }
    else:
        verdict = write_access(account, acl)
    if verdict["writable"] is False:
        findings.append(finding("error", f"SQL Server's service account {account} cannot write the backup folder "
                                         f"{folder}: {verdict['reason']}; grant it Modify there"))  # fmt: skip
    elif verdict["writable"] is None:
        findings.append(finding("warning", f"whether {account or 'the SQL Server service account'} can write "
                                           f"the backup folder {folder} is unknown: {verdict['reason']}"))  # fmt: skip
    return {"folder": folder, "account": account, **verdict}


def _sqlite(path: str) -> dict[str, Any]:
    """A simulated estate's CRM database, opened read-only (never created by a probe)."""
    if not os.path.exists(path):
        return {"reachable": False, "dialect": "sqlite", "error": f"{path} does not exist"}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'Version'").fetchall()
    return {"reachable": True, "dialect": "sqlite", "crm_version": _crm_version(rows)}


def _crm_version(rows: Any) -> str | None:
    return str(rows[0][0]) if rows else None


def _compare_versions(est: Estate, found: Any, findings: list[dict[str, str]]) -> None:
    if found not in (est.current_version, est.target_version):
        findings.append(finding("error", f"custom_sysparams says Sage CRM {found}, the inventory says "
                                         f"{est.current_version}"))  # fmt: skip


# --- `cutover validate --probe FILE` ------------------------------------------------------------


def check_inventory(inventory: Inventory, report: Mapping[str, Any]) -> list[Problem]:
    """The inventory held to a saved probe: the install name on every CRM server, and each service
    on the servers the inventory puts it on; each problem at the inventory's line."""
    est = estate_of(inventory)
    if est is None:
        return []
    problems: list[Problem] = []
    hosts = report.get("hosts") or {}
    for name in est.crm_servers:  # a dedicated SQL Server has no install to hold the inventory to
        seen = (hosts.get(name) or {}).get("sagecrm")
        if not isinstance(seen, Mapping):
            continue  # not probed (unreachable then, or not a CRM server then): nothing to hold it to
        installs = (seen.get("install") or {}).get("installs_found") or {}
        if est.install_name not in installs:
            found = ", ".join(sorted(installs)) or "none"
            problems.append(Problem(f"sagecrm.install_name is {est.install_name!r}, but the probe of {name} "
                                    f"found the installs: {found}", est.location("install_name")))  # fmt: skip
        services = seen.get("services") or {}
        for role, service in est.services_on(name).items():
            if (services.get(service) or {}).get("installed") is False or service not in services:
                problems.append(Problem(f"host {name!r} has role {role}, but the probe found no service {service} "
                                        "on it", inventory.hosts[name].location))  # fmt: skip
    return problems
