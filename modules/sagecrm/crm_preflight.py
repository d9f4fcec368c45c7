"""Before a Sage CRM upgrade: what the guide asks to check first, as Findings; blocking ones fail.

On every server:
- the licence key for the target version is in the inventory (`sagecrm.licence_key`);
- the installer and this server's response file exist (when configured);
- enough free disk: the backup drive holds the zipped program files, the install drive the
  staging copy a rollback extracts;
- the registry `Version` is the estate's current version (or the target one, after a resume).
On the database server, in addition:
- the database's `Version` and the upgrade path (7.1 -> 7.2 -> 7.3; 7.1 -> 7.3 directly works but
  the guide recommends going through 7.2: a warning);
- room for the database backup;
- auto-generated `_dta_index*` / `_dta_stat_*` objects (category `dta_object`);
- customisations that still mention the Solo tables removed in 7.2, in the metadata tables and
  (SQL Server) in views and procedures (category `solo_reference`);
- customised standard views, which the upgrade keeps and shadows with `_New` ones
  (category `customised_view`).
On web servers, ASP and script files under `WWWRoot\\CustomPages` that mention Solo tables, and the
CRM application pool's `enable32BitAppOnWin64`: off for a 32-bit Sage CRM on 64-bit Windows is
blocking (eware.dll cannot load; IIS answers HTTP Error 500.0, 0x800700c1).

Blocking (the task fails, after reporting everything): no licence key, missing installer or
response file, not enough disk, a version that is neither current nor target, no upgrade path, a
64-bit CRM pool for a 32-bit Sage CRM.
Read-only: it runs in check mode too.
"""

from __future__ import annotations

import ntpath
import os
import shutil
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Finding, Module, Result, TaskContext
from engine.db.catalog import list_columns, list_tables
from modules._common import call, call_optional, object_schema, read_bytes
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm._app_pool import crm_pool, pool_problem
from modules.sagecrm.crm_dta_cleanup import dta_objects
from modules.sagecrm.product import sql as sql
from modules.sagecrm.product.estate import Estate, version_tuple
from modules.sagecrm.product.patches import PATCH_VALUE, patch_report, patch_warning

#: upgrade paths the guide describes: from -> (allowed targets, recommended next step)
PATHS = {"7.1": ("7.2", "7.3"), "7.2": ("7.3",)}
SCRIPT_EXTENSIONS = (".asp", ".aspx", ".js", ".htm", ".html", ".cs", ".vb", ".inc")
MAX_SCRIPT = 1 << 20
#: zip size relative to the folder (worst case: incompressible)
ZIP_MARGIN = 1.1


def upgrade_path(current: str, target: str) -> tuple[str, str] | None:
    """(severity, message) about going from `current` to `target`, or None when it is the usual step."""
    allowed = PATHS.get(current)
    if allowed is None or target not in allowed:
        return "error", f"no known Sage CRM upgrade path from {current} to {target}"
    if version_tuple(target) > version_tuple(allowed[0]) and allowed[0] != target:
        return "warning", (
            f"{current} -> {target} directly is possible, but the guide recommends upgrading to "
            f"{allowed[0]} first and logging on once"
        )
    return None


class CrmPreflight(Module):
    """Checks before the upgrade; findings for the report, failure on what would break it."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Check a Sage CRM server (and, on the database server, the database) before the upgrade.", {}
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        crm.require_server(ctx, est)
        checks = _Checks(ctx, est)
        facts = checks.all()
        findings = checks.findings
        blocking = [f for f in findings if f.severity == "error" and f.category == "preflight"]
        output = {**facts, "findings": len(findings), "blocking": [f.message for f in blocking]}
        if blocking:
            return Result(
                failed=True,
                msg=f"{len(blocking)} blocking problem(s): {blocking[0].message}",
                output=output,
                findings=findings,
            )
        return Result(
            changed=False,
            msg=f"{len(findings)} finding(s), nothing blocking",
            output=output,
            findings=findings,
        )


class _Checks:
    """One server's checks (one object per task: module instances are shared between threads)."""

    def __init__(self, ctx: TaskContext, est: Estate):
        self.ctx = ctx
        self.est = est
        self.findings: list[Finding] = []

    def all(self) -> dict[str, Any]:
        ctx, est = self.ctx, self.est
        facts: dict[str, Any] = {}
        self._licence(est)
        if est.holds_crm(ctx.host.name):  # a dedicated database server: the SQL checks only
            self._installer(ctx, est)
            facts["program_bytes"] = self._disk(ctx, est)
            facts["registry_version"] = self._registry(ctx, est)
        if est.upgrades_database(ctx.host.name):
            facts["patch_level"] = self._patch(ctx, est, facts.get("registry_version"))
        if crm.is_db_server(est, ctx.host.name):
            facts.update(self._database(ctx, est))
        if "web" in est.roles.get(ctx.host.name, ()):
            facts["crm_pool"] = self._app_pool(ctx, est)
            self._custom_pages(ctx, est)
        return facts

    def add(self, ctx: TaskContext, category: str, severity: str, message: str, **detail: Any) -> None:
        self.findings.append(Finding(category, message, severity, host=ctx.host.name, detail=detail))

    # --- every server --------------------------------------------------------------------------
    def _licence(self, est: Estate) -> None:
        if not est.setting("licence_key"):
            self.findings.append(
                Finding(
                    "preflight",
                    f"no licence key for Sage CRM {est.target_version} in the "
                    "inventory (sagecrm.licence_key): test it during office hours",
                    "error",
                )
            )

    def _installer(self, ctx: TaskContext, est: Estate) -> None:
        installer = est.setting("installer", "path")
        role = "db" if est.upgrades_database(ctx.host.name) else "others"
        response = est.setting("installer", "response_files", role)
        for what, path in (("installer", installer), ("response file", response)):
            if path and not call(ctx.require_remote(), "file.stat", path=str(path)).get("exists"):
                self.add(ctx, "preflight", "error", f"the {what} {path} is missing on {ctx.host.name}")
        if not installer:
            self.add(
                ctx, "preflight", "warning", "sagecrm.installer.path is not set: the installer cannot run"
            )

    def _disk(self, ctx: TaskContext, est: Estate) -> int:
        remote = ctx.require_remote()
        sizes = [
            call_optional(remote, "file.tree_hash", path=p) for p in (est.install_path, est.services_dir)
        ]
        program = sum(int(s.get("bytes", 0)) for s in sizes if s)
        backup_free = call(remote, "disk.free", path=_drive(est.backup_root))["free"]
        install_free = call(remote, "disk.free", path=_drive(est.install_path))["free"]
        needed = int(program * ZIP_MARGIN)
        if _drive(est.backup_root) == _drive(est.install_path):
            needed += program
        if backup_free < needed:
            self.add(
                ctx,
                "preflight",
                "error",
                f"{_drive(est.backup_root)} has {backup_free} bytes free, the "
                f"program files backup needs {needed}",
                free=backup_free,
                needed=needed,
            )
        elif install_free < program:
            self.add(
                ctx,
                "preflight",
                "error",
                f"{_drive(est.install_path)} has {install_free} bytes free; a "
                f"rollback needs {program} to stage the program files",
                free=install_free,
                needed=program,
            )
        return program

    def _registry(self, ctx: TaskContext, est: Estate) -> str | None:
        found = crm.registry_version(ctx, est)
        if found not in (est.current_version, est.target_version):
            self.add(
                ctx,
                "preflight",
                "error",
                f"{ctx.host.name}: registry Version is {found}, the estate says {est.current_version}",
                version=found,
            )
        elif found == est.target_version:
            self.add(ctx, "preflight", "info", f"{ctx.host.name} is already at {est.target_version}")
        return found

    def _patch(self, ctx: TaskContext, est: Estate, version: str | None) -> dict[str, Any]:
        """Installed and target patch level (once, on the server that upgrades the database)."""
        values = crm.config_values(ctx, est)
        installed = values.get(PATCH_VALUE)
        report = patch_report(est, version, None if installed is None else str(installed))
        warning = patch_warning(est)
        if warning is not None:
            self.add(ctx, "patch_level", "warning", warning, **report)
        else:
            self.add(
                ctx,
                "patch_level",
                "info",
                f"Sage CRM {est.target_version} patch {report['target']['patch']} is the latest declared",
                **report,
            )
        return report

    # --- the database server -------------------------------------------------------------------
    def _database(self, ctx: TaskContext, est: Estate) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        path = upgrade_path(est.current_version, est.target_version)
        if path is not None:
            self.add(ctx, "preflight", *path)
        with crm.crm_db(ctx, est) as db:
            version = crm.database_version(db)
            facts["database_version"] = version
            if version not in (est.current_version, est.target_version):
                self.add(
                    ctx,
                    "preflight",
                    "error",
                    f"the CRM database is at {version}, the estate says {est.current_version}",
                )
            self._db_space(ctx, est, db)
            for obj in dta_objects(db):
                self.add(
                    ctx,
                    "dta_object",
                    "warning",
                    f"{obj.name} on {obj.table}: auto-generated, can break the "
                    "upgrade scripts (crm_dta_cleanup drops it, keeping its definition)",
                    definition=obj.definition,
                )
            self._solo(ctx, db)
            views = crm.view_definitions(db)
            for name in crm.customised_views(db, est, views):
                self.add(
                    ctx,
                    "customised_view",
                    "warning",
                    f"{name} is a customised standard view: the upgrade "
                    f"keeps it and adds {name}_New, which must be reviewed",
                    definition=views[name],
                )
        return facts

    def _db_space(self, ctx: TaskContext, est: Estate, db: Any) -> None:
        target = db.target
        if target.dialect == "sqlite":
            size = os.path.getsize(target.path)
            folder = target.backup_dir or ctx.run.state_dir
            os.makedirs(folder, exist_ok=True)
            free = shutil.disk_usage(folder).free
        elif target.dialect == "mssql":
            size = int(db.value(sql.database_size_mssql()) or 0)
            folder = target.backup_dir or est.backup_root
            free = call(ctx.require_remote(), "disk.free", path=_drive(folder))["free"]
        else:
            return
        if free < size:
            self.add(
                ctx,
                "preflight",
                "error",
                f"{folder} has {free} bytes free, the database backup needs about {size}",
                free=free,
                needed=size,
            )

    def _solo(self, ctx: TaskContext, db: Any) -> None:
        tables = {t.name.casefold(): t for t in list_tables(db)}
        for table, column in sql.SOLO_SEARCH:
            ref = tables.get(table.casefold())
            if ref is None or column.casefold() not in {c.casefold() for c in list_columns(db, ref)}:
                continue
            statement, params = sql.solo_search(db.dialect, ref.name, column)
            for (text,) in db.rows(statement, params):
                names = sql.solo_mentions(str(text))
                if names:
                    self.add(
                        ctx,
                        "solo_reference",
                        "warning",
                        f"{table}.{column} mentions {', '.join(names)} (removed with Solo in 7.2)",
                        table=table,
                        column=column,
                        text=str(text)[:500],
                    )
        if db.dialect.name == "mssql":
            statement, params = sql.solo_modules_mssql()
            for name, kind, definition in db.rows(statement, params):
                names = sql.solo_mentions(str(definition))
                if names:
                    self.add(
                        ctx,
                        "solo_reference",
                        "warning",
                        f"{kind} {name} mentions {', '.join(names)}",
                        object=name,
                        kind=kind,
                    )

    def _app_pool(self, ctx: TaskContext, est: Estate) -> dict[str, Any] | None:
        """The CRM pool runs 32-bit worker processes when Sage CRM is 32-bit (else every page is a 500)."""
        state = call_optional(ctx.require_remote(), "iis.state")
        if state is None:  # no IIS here: the install's own checks say what is missing
            return None
        pool = crm_pool(state, est)
        problem = pool_problem(pool, est, crm.eware_view(ctx, est))
        if problem is not None:
            self.add(ctx, "preflight", "error", f"{ctx.host.name}: {problem}", **pool)
        return pool

    def _custom_pages(self, ctx: TaskContext, est: Estate) -> None:
        remote = ctx.require_remote()
        folder = ntpath.join(est.install_path, "WWWRoot", "CustomPages")
        listing = call_optional(remote, "file.list", path=folder, recursive=True)
        for entry in (listing or {}).get("entries", []):
            rel = str(entry.get("path", ""))
            if entry.get("type") != "file" or not rel.lower().endswith(SCRIPT_EXTENSIONS):
                continue
            path = ntpath.join(folder, rel)
            data, _cut = read_bytes(remote, path, max_bytes=MAX_SCRIPT)
            names = sql.solo_mentions(data.decode("utf-8", "replace"))
            if names:
                self.add(
                    ctx,
                    "solo_reference",
                    "warning",
                    f"{path} mentions {', '.join(names)} (removed with Solo in 7.2)",
                    file=path,
                )


def _drive(path: str) -> str:
    drive = ntpath.splitdrive(path)[0]
    return (drive + "\\") if drive else path
