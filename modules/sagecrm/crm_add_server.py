"""Add a web server to a Sage CRM estate (chapter 6): checked first, then installed, then verified.

`step: check` (read-only; before anything is installed or written), on the new server:
- no Sage CRM install there yet (the eWare keys absent), or the same version already (a rerun);
- the CRM database at the estate's version (`sagecrm.current_version`): it is installed once and
  is not upgraded again: the new server's installer answers "Non" to the database;
- the document library (`sagecrm.library`, a UNC path) reachable from the new server: « un chemin
  d'accès réseau UNC partagé avec des droits d'accès appropriés à la bibliothèque est requis »;
- with `sagecrm.multi_server.https`, the DTLS name answers HTTPS with a certificate issued to
  that name, asked from the DTLS server itself: « si ce serveur est un serveur HTTPS, alors le nom
  du serveur doit être le même que celui spécifié sur le certificat SSL du serveur ».
`step: install`: the installer, silent with `sagecrm.installer.response_files.new` (a fresh
install, `Database=No`), then verified: registry `Version`, the IIS application, Tomcat running.

Why a module of its own over `crm_installer`: that one upgrades an installed server (and the
planner orders it database-first); a new server has nothing to upgrade and must never touch the
database's version. The multi-server rows are `crm_sysparams multi_server: true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import call, call_optional, object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.crm_installer import CrmInstaller
from modules.sagecrm.product.estate import Estate
from modules.web.http_check import verdict

STEPS = ("check", "install")


class CrmAddServer(Module):
    """Check or install a new Sage CRM web server of the estate (host in `sagecrm` new servers)."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Add a web server to a Sage CRM estate: `check` before anything changes, then `install`.",
        {"step": {"enum": list(STEPS), "description": "check (read-only) or install."}},
        ("step",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        if ctx.host.name not in est.new_servers:
            raise ModuleFailed(
                f"{ctx.host.name} is not a new server of the estate (group new_servers or host var new_server: true)"
            )
        found = crm.registry_version(ctx, est)
        if args["step"] == "check":
            return self._check(ctx, est, found)
        if found == est.current_version:
            return Result(
                changed=False,
                msg=f"Sage CRM {found} is installed on {ctx.host.name}",
                output=self._verify(ctx, est),
            )
        if ctx.check_mode:
            return Result(
                changed=True, msg=f"would install Sage CRM {est.current_version} on {ctx.host.name}"
            )
        self._check(ctx, est, found)
        output = {"installer": self._install(ctx, est), "verified": self._verify(ctx, est)}
        return Result(
            changed=True,
            msg=f"Sage CRM {est.current_version} installed on {ctx.host.name} (verified)",
            output=output,
        )

    # --- before anything changes ---------------------------------------------------------------
    def _check(self, ctx: TaskContext, est: Estate, found: str | None) -> Result:
        if found not in (None, est.current_version):
            raise ModuleFailed(
                f"{ctx.host.name} already has Sage CRM {found}, not a new server for {est.current_version}"
            )
        with crm.crm_db(ctx, est) as db:
            database = crm.database_version(db)
        if database != est.current_version:
            raise ModuleFailed(
                f"the CRM database is at {database}, the estate says {est.current_version}: a new server joins "
                "the database as it is, it is never upgraded by add-server"
            )
        output = {"installed": found, "database": database, "library": self._library(ctx, est)}
        if est.setting("multi_server", "https", default=False):
            output["dtls"] = self._dtls_certificate(ctx, est)
        return Result(changed=False, msg=f"{ctx.host.name} can join the estate", output=output)

    def _library(self, ctx: TaskContext, est: Estate) -> str:
        library = str(est.setting("library"))
        try:
            stat = call(ctx.require_remote(), "file.stat", path=library)
        except ModuleFailed as exc:
            stat = {"exists": False, "error": str(exc)}
        if not stat.get("exists") or stat.get("type") != "directory":
            reason = f" ({stat['error']})" if stat.get("error") else ""
            raise ModuleFailed(
                f"the document library {library} is not reachable from {ctx.host.name}{reason}: the guide needs "
                "« un chemin d'accès réseau UNC partagé avec des droits d'accès appropriés à la bibliothèque » "
                "for every web server of the cluster"
            )
        return library

    def _dtls_certificate(self, ctx: TaskContext, est: Estate) -> dict[str, Any]:
        dtls = est.dtls_server
        name = str(est.setting("multi_server", "dtls_name", default=est.fqdn(dtls) if dtls else ""))
        if not dtls or not name:
            raise ModuleFailed(
                "sagecrm.multi_server.https is set but the estate has no DTLS server/name to check"
            )
        url = f"https://{name}/{est.iis_app.partition('/')[2]}/eware.dll"
        remote = ctx.remote_for(est.inventory.hosts[dtls])
        problem: str | None
        try:
            answer = call(remote, "http.get", url=url, validate_certs=True, timeout=10)
            problem = verdict(answer, {"status": 200})
        except ModuleFailed as exc:
            problem = str(exc)
        if problem is not None:
            raise ModuleFailed(
                f"the DTLS name {name} does not answer HTTPS with its certificate on {dtls} ({url}: {problem}): "
                "« le nom du serveur doit être le même que celui spécifié sur le certificat SSL du serveur » "
                "(sagecrm.multi_server.dtls_name)"
            )
        return {"server": dtls, "name": name, "url": url}

    # --- the install --------------------------------------------------------------------------
    def _install(self, ctx: TaskContext, est: Estate) -> dict[str, Any]:
        response = est.setting("installer", "response_files", "new")
        if not response:
            raise ModuleFailed(
                "sagecrm.installer.response_files.new (a fresh install: Mode=Install, Database=No) is needed to "
                "install a new server silently"
            )
        # the upgrade's silent run, Setup.log ResultCode read (the same InstallShield installer)
        return CrmInstaller()._silent(ctx, est, str(response), {})

    def _verify(self, ctx: TaskContext, est: Estate) -> dict[str, Any]:
        """Registry Version, the IIS application, Tomcat running: or ModuleFailed."""
        remote = ctx.require_remote()
        version = crm.registry_version(ctx, est)
        tomcat = call_optional(remote, "service.get", name=est.services["tomcat"]) or {}
        apps = call(remote, "iis.state").get("apps", {})
        problems = []
        if version != est.current_version:
            problems.append(f"registry Version is {version}, not {est.current_version}")
        if est.iis_app not in apps:
            problems.append(f"no IIS application {est.iis_app}")
        if tomcat.get("state") != "running":
            problems.append(f"Tomcat ({est.services['tomcat']}) is {tomcat.get('state', 'not installed')}")
        if problems:
            raise ModuleFailed(f"Sage CRM on {ctx.host.name} is not as installed: {'; '.join(problems)}")
        return {"version": version, "iis_app": est.iis_app, "tomcat": tomcat.get("state")}
