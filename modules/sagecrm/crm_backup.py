"""The guide's manual backups of a Sage CRM server, verified and journaled, named from the estate.

`what` lists the parts (default: every part this server holds):
- `database` (database server): a verified full backup of the CRM database (`db_backup`), and
  the guide's data-integrity sample taken right after it: 20 companies chosen at random with a
  recorded seed, each row kept as its sha256 (`data_sample`, `sample:<database>`);
- `views` (database server): the definitions of every view, with the customised standard
  views marked, as a JSON artifact on the controller (`views:<database>`): the upgrade may
  replace a standard view the customer changed;
- `registry` (every server): `Config\\/<install>` and `Mappings` exported to `.reg` files
  (`registry_export`);
- `program_files` (every server): the `<install>` folder zipped with all sub-folders and read
  back (`win_archive`);
- `services` (every server): the shared `Services` folder likewise (the service binaries the
  rollback reinstalls).

Why a Sage CRM module over the generic ones it calls: the paths, keys and database come from
the `sagecrm:` section, so `protects()` names exactly what `crm_installer` destroys and the
planner can check, before anything runs, that every backup the guide asks for precedes the
installer on every server. Backups go to `<backup_root>\\<run id>` on each server (a new folder
per run, so a later run never overwrites the backup taken before an upgrade), the database's to
its target's `backup_dir`.

Off the servers: with `sagecrm.backup_copy` every verified backup of the task is then copied to
a UNC folder (`\\\\nas\\crm-backups\\<estate>\\<run id>[-<label>]`, the server copies it there)
or to the controller (`controller`: `<state dir>/backup-copies/<estate>/<run id>[-<label>]/<host>`;
`controller:<folder>` names another base), read through the run's connection; the copy is
hashed where it landed and recorded with its artifact (modules/db/_offsite.py). The guide
wants the backups "stocké[s] de façon complètement indépendante de l'environnement de mise à
jour": the rollback uses that copy when the server's own is gone or changed.
"""

from __future__ import annotations

import ntpath
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, Finding, Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db.schema_objects import find
from modules._common import object_schema
from modules.db._offsite import Destination, copy_off
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.estate import Estate

PARTS = ("database", "views", "registry", "program_files", "services")
#: the guide's data-integrity check (chapter 12: "échantillonnage aléatoire de 20 enregistrements
#: de sociétés"): table, key and the columns compared
SAMPLE_TABLE, SAMPLE_KEY = "Company", "Comp_CompanyId"
SAMPLE_COLUMNS = ("Comp_Name", "Comp_Type", "Comp_Status", "Comp_WebSite")


def parts_for(args: Mapping[str, Any], est: Estate, host: str) -> list[str]:
    """The parts asked for, restricted to what this server holds."""
    asked = list(args.get("what") or PARTS)
    on_db = crm.is_db_server(est, host)
    local = est.holds_crm(host)  # a dedicated database server has no registry keys or program files
    return [p for p in asked if (on_db if p in ("database", "views") else local)]


def _suffix(args: Mapping[str, Any]) -> str:
    """`-<label>`: a second backup of the same run (after the upgrade) never overwrites the first's files."""
    return f"-{args['label']}" if args.get("label") else ""


def backup_folder(ctx: TaskContext, est: Estate, args: Mapping[str, Any]) -> str:
    """`<backup_root>\\<run id>[-<label>]` unless `dest` names a folder."""
    if args.get("dest"):
        return str(args["dest"])
    return ntpath.join(est.backup_root, ctx.run.run_id + _suffix(args))


def copy_destination(ctx: TaskContext, est: Estate, args: Mapping[str, Any]) -> Destination | None:
    """This task's off-server folder (`sagecrm.backup_copy`), or None when the estate names none."""
    value = str(est.setting("backup_copy") or "")
    if not value:
        return None
    run_folder = ctx.run.run_id + _suffix(args)
    if value.startswith("\\\\"):
        return Destination("unc", ntpath.join(value.rstrip("\\"), run_folder))
    base = value.partition(":")[2] or os.path.join(
        str(ctx.run.state_dir), "backup-copies", est.inventory.name
    )
    return Destination("controller", os.path.abspath(os.path.join(base, run_folder, ctx.host.name)))


class CrmBackup(Module):
    """database, views, registry, program files: each verified before it is recorded."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows", "controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Back up a Sage CRM server as the upgrade guide asks (database, views, registry, program files).",
        {
            "what": {
                "type": "array",
                "items": {"enum": list(PARTS)},
                "minItems": 1,
                "uniqueItems": True,
                "description": "Parts to back up (default: all this server holds).",
            },
            "dest": {
                "type": "string",
                "minLength": 1,
                "description": "Folder on the server (default <backup_root>\\<run id>[-<label>]).",
            },
            "label": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_.-]+$",
                "description": "Suffix of the default folder, for a second set of backups in the same run.",
            },
        },
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        est = crm.estate_or_none(host)
        if est is None or host.name not in est.servers:
            return []
        return crm.part_resources(est, host.name, parts_for(args, est, host.name))

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        crm.require_server(ctx, est)
        folder = backup_folder(ctx, est, args)
        total = Result(output={"dest": folder})
        for part in parts_for(args, est, ctx.host.name):
            crm.combine(total, part, getattr(self, f"_{part}")(ctx, est, folder, _suffix(args)))
        dest = copy_destination(ctx, est, args)
        if dest is not None and not ctx.check_mode:
            total.artifacts = [copy_off(ctx, a, dest) for a in total.artifacts]
            total.output["copy"] = {"kind": dest.kind, "folder": dest.folder}
            total.msg += f"; each copied to {dest.folder} and its sha256 checked there"
        return total

    # --- the parts --------------------------------------------------------------------------
    def _database(self, ctx: TaskContext, est: Estate, folder: str, suffix: str) -> Result:
        from modules.db.db_backup import DbBackup

        target = crm.crm_target(ctx, est)
        args: dict[str, Any] = {"db": est.database}
        if not target.backup_dir:
            args["dest"] = (
                (str(ctx.run.state_dir) + f"/backups/{ctx.run.run_id}{suffix}")
                if target.dialect == "sqlite"
                else folder
            )
        if target.dialect == "sqlite" and not ctx.check_mode:
            os.makedirs(args.get("dest") or target.backup_dir or ".", exist_ok=True)
        result = DbBackup().run(ctx, args)
        if ctx.check_mode:
            return result
        try:
            sample = company_sample(ctx, est, suffix)
        except ModuleFailed as failed:  # the backup stands; the people's check (gate) remains
            message = f"no company sample taken with the backup ({failed}): the data check is by hand"
            result.findings.append(Finding("data_sample", message, "warning", host=ctx.host.name))
            return result
        result.artifacts.append(sample)
        result.output["sample"] = {"seed": sample.meta["seed"], "rows": sample.meta["count"]}
        return result

    def _views(self, ctx: TaskContext, est: Estate, folder: str, suffix: str) -> Result:
        with crm.crm_db(ctx, est) as db:
            views = find(db, "views", "*")
            customised = set(crm.customised_views(db, est, {v.name: v.definition or "" for v in views}))
        items = [{**v.to_dict(), "customised": v.name in customised} for v in views]
        if ctx.check_mode:
            return Result(changed=True, msg=f"would record {len(items)} view definition(s)")
        artifact = crm.controller_artifact(
            ctx,
            "view_definitions",
            f"views:{est.database}",
            f"views-{est.database}{suffix}.json",
            {"database": est.database, "items": items},
        )
        return Result(
            changed=True,
            msg=f"recorded {len(items)} view definition(s) ({len(customised)} customised)",
            output={"location": artifact.location, "views": len(items), "customised": sorted(customised)},
            artifacts=[artifact],
        )

    def _registry(self, ctx: TaskContext, est: Estate, folder: str, suffix: str) -> Result:
        from modules.windows.registry_export import RegistryExport

        out = Result(output={})
        # Both keys from the view that holds the install (WOW6432Node for a 32-bit Sage CRM on 64-bit
        # Windows); None: neither has it, and the export says so.
        view = crm.eware_view(ctx, est) or est.registry_view
        for key, name in zip(est.registry_keys, ("Config", "Mappings"), strict=True):
            dest = ntpath.join(folder, f"{ctx.host.name}-{name}.reg")
            step = RegistryExport().run(ctx, {"key": key, "dest": dest, "view": view})
            crm.combine(out, name, step)
        return out

    def _program_files(self, ctx: TaskContext, est: Estate, folder: str, suffix: str) -> Result:
        return _zip(ctx, est.install_path, ntpath.join(folder, f"{ctx.host.name}-{est.install_name}.zip"))

    def _services(self, ctx: TaskContext, est: Estate, folder: str, suffix: str) -> Result:
        return _zip(ctx, est.services_dir, ntpath.join(folder, f"{ctx.host.name}-Services.zip"))


def company_sample(ctx: TaskContext, est: Estate, suffix: str) -> Artifact:
    """20 companies chosen with a new seed, each row's sha256 kept (engine/db/sample.py), recorded
    on the controller next to the backup: `crm_checklist item: data_sample` compares them after
    the upgrade on any dialect (a .bak or a dump cannot be queried). The seed is in the journal."""
    from engine.db.sample import new_seed, take_sample

    seed = new_seed()
    with crm.crm_db(ctx, est) as db:
        sample = take_sample(db, SAMPLE_TABLE, SAMPLE_KEY, SAMPLE_COLUMNS, seed)
    name = f"sample-{est.database}{suffix}.json"
    artifact = crm.controller_artifact(ctx, "data_sample", f"sample:{est.database}", name, sample)
    artifact.meta.update(seed=seed, count=len(sample["rows"]), table=SAMPLE_TABLE)
    return artifact


def _zip(ctx: TaskContext, path: str, dest: str) -> Result:
    from modules.windows.win_archive import WinArchive

    # The folder is this run's own: a zip already there is this task's, from an attempt cut short
    # (a resumed run), never an older backup, and nothing destructive has run since (the planner
    # orders every destructive step after the backups).
    return WinArchive().run(ctx, {"path": path, "dest": dest, "overwrite": True})
