"""Which Sage CRM version a server and the CRM database are at (read-only).

Three witnesses, because an upgrade that half-failed leaves them disagreeing: the database's
`custom_sysparams` row `Version`, the server's registry value `Version` under
`HKLM\\SOFTWARE\\eWare\\Config\\/<install>`, and the program files (`eware.dll`'s size and
sha256, which change with every release). `expect: current|target|<version>` turns the reading
into a check that fails naming the witness that disagrees; the result is also stored as the
fact `crm_version` for later tasks, and the fact `crm` holds where things are on this server
(install path, `<install>_backup`, Services folder, IIS application, services to reinstall), so
the Sage CRM playbooks need no paths of their own.
"""

from __future__ import annotations

import ntpath
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import call_optional, object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.estate import Estate


def estate_facts(est: Estate, host: str) -> dict[str, Any]:
    """The `crm` fact: where things are on this server, for templates in the Sage CRM playbooks."""
    services = est.services_on(host)
    return {
        #: False on a dedicated database server: the playbooks' CRM-local steps skip it
        "installed": est.holds_crm(host),
        "upgrades_database": est.upgrades_database(host),
        "install_name": est.install_name,
        "install_path": est.install_path,
        "backup_path": est.backup_path,
        "services_dir": est.services_dir,
        "config_key": est.config_key,
        "log_path": est.log_path,
        "iis_app": est.iis_app,
        "iis_pools": list(est.iis_pools),
        "database": est.database,
        "db_server": est.db_server,
        "current_version": est.current_version,
        "target_version": est.target_version,
        "services": services,
        #: the services the guide uninstalls and reinstalls in a rollback (chapter 10), on this server
        "reinstall": [
            {"role": role, "name": services[role], "executable": est.service_executable(role)}
            for role in ("email_manager", "escalation")
            if role in services
        ],
    }


def read_versions(ctx: TaskContext, database: bool = True) -> dict[str, Any]:
    """{database, registry, eware_dll} as found now (None where a witness is missing)."""
    est = crm.estate(ctx)
    found: dict[str, Any] = {"host": ctx.host.name}
    if database:
        with crm.crm_db(ctx, est) as db:
            found["database"] = crm.database_version(db)
    if ctx.remote is not None and est.holds_crm(ctx.host.name):
        found["registry"] = crm.registry_version(ctx, est)
        hashed = call_optional(ctx.remote, "file.hash", path=ntpath.join(est.install_path, "eware.dll"))
        found["eware_dll"] = {"sha256": hashed.get("digest"), "size": hashed.get("size")} if hashed else None
    return found


class CrmVersion(Module):
    """Read the version witnesses; optionally check them against the estate's versions."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows", "controller"})
    provides_facts: ClassVar[frozenset[str]] = frozenset({"crm", "crm_version"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Read the Sage CRM version of the database, the server's registry and program files.",
        {
            "expect": {
                "type": "string",
                "minLength": 1,
                "description": "`current`, `target` (the estate's versions) or a version number to require.",
            },
            "database": {
                "type": "boolean",
                "default": True,
                "description": "Also read the database's Version.",
            },
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        found = read_versions(ctx, bool(args.get("database", True)))
        expect = args.get("expect")
        wanted = {"current": est.current_version, "target": est.target_version}.get(expect, expect)
        msg = ", ".join(
            f"{k} {v}" for k, v in found.items() if k in ("database", "registry") and v is not None
        )
        if wanted is not None and ctx.check_mode:
            msg += f" (check mode: {wanted} is not required of a state earlier steps would change)"
        elif wanted is not None:
            wrong = {k: found[k] for k in ("database", "registry") if k in found and found[k] != wanted}
            if wrong:
                listing = ", ".join(f"{k} is {v}" for k, v in wrong.items())
                raise ModuleFailed(f"expected Sage CRM {wanted} on {ctx.host.name}: {listing}", found)
        return Result(
            changed=False,
            msg=msg or "no version witness found",
            output=found,
            facts={"crm_version": found, "crm": estate_facts(est, ctx.host.name)},
        )
