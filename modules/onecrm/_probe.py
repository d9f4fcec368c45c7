"""What `cutover probe` reports of a 1CRM host over SSH, read-only, against what the inventory says.

Per host: PHP (`php -v`, else the site's `X-Powered-By` header), the web server (`nginx -v`,
`apache2 -v` or `httpd -v`, else the site's `Server` header), and for each site of the `onecrm:`
section on that host: the 1CRM version `sugar_version.php` states (the file is read and parsed,
never executed), the database (reachable, server version, whether the CRM's own tables are there,
the version it records), the cron entry that runs 1CRM's scheduler, and the free space where the
install and the backups are. A finding is written wherever the host and the inventory disagree.

Everything goes through the probe's read-only Remote: files are read, the site is asked over HTTP,
and the only programs run are the version and crontab listings `engine.api.probe` allows; the
database is only queried, in a transaction rolled back.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from engine.api.probe import ProbeContext, finding
from engine.db import DbError, connect, target_from
from engine.db.catalog import list_tables
from modules._common import call_many
from modules.onecrm._onecrm import parse_sugar_version, recorded_version
from modules.onecrm.product.estate import (
    DEFAULT_VERSION_DB,
    DEFAULT_VERSION_FILE,
    SCHEDULER_MATCH,
    Estate,
    Site,
    estate_of,
)

#: Tables every 1CRM database has (SugarCRM-derived): the version row's table and the core records.
CRM_TABLES = ("config", "accounts", "contacts")
_PHP = re.compile(r"\bPHP[ /](\d+\.\d+(?:\.\d+)?)")
_NGINX = re.compile(r"nginx/(\d+(?:\.\d+)*)")
_APACHE = re.compile(r"Apache/(\d+(?:\.\d+)*)")
#: Web server programs and what their `-v` prints (nginx writes it on stderr).
_WEB_SERVERS = (("nginx", _NGINX), ("apache2", _APACHE), ("httpd", _APACHE))
_MAX_READ = 1 << 16


Findings = list[dict[str, str]]


def probe_host(ctx: ProbeContext) -> dict[str, Any]:
    """The 1CRM part of one host's probe; {} for a host no site of the estate is on."""
    est = estate_of(ctx.inventory)
    if est is None or ctx.remote is None:
        return {}
    sites = [site for site in est.sites.values() if site.host == ctx.host.name]
    if not sites:
        return {}
    findings: Findings = []
    pages = {site.name: _page(ctx, site) for site in sites}
    out: dict[str, Any] = {
        "php": _php(ctx, pages, findings),
        "web_server": _web_server(ctx, pages, findings),
        "sites": {site.name: _site(ctx, est, site, pages[site.name], findings) for site in sites},
    }
    out["findings"] = findings
    return out


# --- the host's PHP and web server ---------------------------------------------------------------


def _run(ctx: ProbeContext, argv: list[str]) -> str | None:
    """What a version command printed (stdout and stderr), None when it is not there or failed."""
    value, failed = ctx.remote.try_call("process.run", argv=argv, timeout=30)  # type: ignore[union-attr]
    if failed is not None or not value or value.get("rc") != 0:
        return None
    return f"{value.get('stdout') or ''}\n{value.get('stderr') or ''}"


def _page(ctx: ProbeContext, site: Site) -> dict[str, Any]:
    """The site's answer (status and headers), asked once: what the web server says about itself."""
    value, failed = ctx.remote.try_call(  # type: ignore[union-attr]
        "http.get", url=site.url, timeout=10, max_bytes=4096, validate_certs=site.get("validate_certs", True)
    )
    if failed is not None:
        return {"error": str(failed.get("error"))}
    headers = {str(k).casefold(): str(v) for k, v in (value.get("headers") or {}).items()}
    return {"status": value.get("status"), "headers": headers}


def _header(pages: Mapping[str, Mapping[str, Any]], name: str) -> str | None:
    return next((p["headers"][name] for p in pages.values() if name in p.get("headers", {})), None)


def _php(ctx: ProbeContext, pages: Mapping[str, Mapping[str, Any]], findings: Findings) -> dict[str, Any]:
    printed = _run(ctx, ["php", "-v"])
    found = _PHP.search(printed or "")
    if found:
        return {"version": found.group(1), "source": "php -v"}
    powered = _header(pages, "x-powered-by")
    found = _PHP.search(powered or "")
    if found:
        return {"version": found.group(1), "source": "X-Powered-By header of the site"}
    findings.append(finding("warning", "PHP: no `php` on the PATH and the site does not say (X-Powered-By)"))
    return {"version": None}


def _web_server(
    ctx: ProbeContext, pages: Mapping[str, Mapping[str, Any]], findings: Findings
) -> dict[str, Any]:
    for program, pattern in _WEB_SERVERS:
        found = pattern.search(_run(ctx, [program, "-v"]) or "")
        if found:
            name = "nginx" if program == "nginx" else "apache"
            return {"name": name, "version": found.group(1), "source": f"{program} -v"}
    server = _header(pages, "server")
    for name, pattern in (("nginx", _NGINX), ("apache", _APACHE)):
        found = pattern.search(server or "")
        if found:
            return {"name": name, "version": found.group(1), "source": "Server header of the site"}
    findings.append(
        finding("warning", f"web server: neither nginx nor Apache answers here (Server: {server})")
    )
    return {"name": None, "server_header": server}


# --- one site ---------------------------------------------------------------------------------------


def _site(
    ctx: ProbeContext, est: Estate, site: Site, page: Mapping[str, Any], findings: Findings
) -> dict[str, Any]:
    version_file = site.path(str(est.setting("version", "file", default=DEFAULT_VERSION_FILE)))
    calls: list[tuple[str, dict[str, Any]]] = [
        ("file.read", {"path": version_file, "max_bytes": _MAX_READ}),
        ("disk.free", {"path": site.install_path}),
        ("disk.free", {"path": site.backup_dir}),
    ]
    (text, missing), install_disk, backup_disk = call_many(ctx.remote, calls)  # type: ignore[arg-type]
    version = None
    if text is not None:
        version = parse_sugar_version(base64.b64decode(text["content_b64"]).decode("utf-8", "replace"))
    if version is None:
        why = missing.get("error") if missing else "no $sugar_version in it"
        findings.append(finding("error", f"{site.name}: no 1CRM version in {version_file} ({why})"))
    out: dict[str, Any] = {
        "install_path": site.install_path,
        "version": version,
        "version_file": version_file,
        "url": {"status": page.get("status"), **({"error": page["error"]} if "error" in page else {})},
        "database": _database(ctx, est, site, findings),
        "cron": _cron(ctx, site, findings),
        "disks": {
            site.install_path: _disk(install_disk),
            site.backup_dir: _disk(backup_disk),
        },
    }
    recorded = out["database"].get("crm_version")
    if version and recorded and recorded != version:
        findings.append(finding("warning", f"{site.name}: sugar_version.php says {version}, the database "
                                           f"records {recorded}"))  # fmt: skip
    return out


def _disk(answer: tuple[Any, dict[str, Any] | None]) -> dict[str, Any]:
    value, failed = answer
    return dict(value) if failed is None else {"error": failed.get("error")}


def _database(ctx: ProbeContext, est: Estate, site: Site, findings: Findings) -> dict[str, Any]:
    raw = ctx.databases.get(site.database)
    if raw is None:
        findings.append(
            finding("error", f"{site.name}: the inventory has no database target {site.database!r}")
        )
        return {"reachable": False}
    target = target_from(site.database, raw)
    spec = {**DEFAULT_VERSION_DB, **(est.setting("version", default={}) or {})}
    try:
        with connect(target) as db:
            tables = {t.name for t in list_tables(db)}
            facts: dict[str, Any] = {
                "reachable": True,
                "dialect": target.dialect,
                "server_version": str(db.value("SELECT VERSION()")),
                "tables": len(tables),
                "crm_tables": {name: name in tables for name in CRM_TABLES},
            }
            if spec["table"] in tables:
                facts["crm_version"] = recorded_version(db, spec)
            db.rollback()
    except DbError as exc:
        findings.append(finding("error", f"{site.name}: database {site.database}: {exc}"))
        return {"reachable": False, "error": str(exc)}
    absent = [name for name, present in facts["crm_tables"].items() if not present]
    if absent:
        findings.append(finding("error", f"{site.name}: database {site.database} has no {', '.join(absent)} "
                                         "table: is it the CRM's database?"))  # fmt: skip
    return facts


def _cron(ctx: ProbeContext, site: Site, findings: Findings) -> dict[str, Any]:
    """The scheduler's cron entries: from the cron file, or `crontab -l -u <user>`."""
    where = dict(site.get("scheduler") or {})
    if "cron_file" in where:
        source = str(where["cron_file"])
        value, failed = ctx.remote.try_call("file.read", path=source, max_bytes=_MAX_READ)  # type: ignore[union-attr]
        text = None if failed else base64.b64decode(value["content_b64"]).decode("utf-8", "replace")
    elif "crontab_user" in where:
        source = f"crontab of {where['crontab_user']}"
        text = _run(ctx, ["crontab", "-l", "-u", str(where["crontab_user"])])
    else:
        return {"source": None, "entries": []}
    if text is None:
        findings.append(finding("warning", f"{site.name}: cannot read the cron entries ({source})"))
        return {"source": source, "entries": None}
    entries = [
        line.strip()
        for line in text.splitlines()
        if line.strip()
        and not line.lstrip().startswith("#")
        and (SCHEDULER_MATCH in line or site.install_path in line)
    ]
    if not entries:
        findings.append(finding("warning", f"{site.name}: no cron entry runs {SCHEDULER_MATCH} ({source})"))
    return {"source": source, "entries": entries}
