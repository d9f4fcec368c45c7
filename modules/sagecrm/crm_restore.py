"""Put a Sage CRM server back from the backups a run recorded (the rollback's restores). Destructive.

`what` lists the parts (default: every part this server holds):
- `database` (database server): the CRM database from its verified backup (`db_restore`);
- `registry`: `Config\\/<install>` and `Mappings` imported from their verified `.reg` exports
  (`registry_import`); restoring a live estate's exports into its test estate keeps the test
  server's own `DefaultDatabaseServer`, so the test estate never connects to the live database;
- `program_files`: the `<install>` folder put back exactly as it was zipped (`win_archive`
  extracted: files the upgrade added are gone afterwards). With `into: backup` the zip is
  extracted to `<install>_backup` instead, the folder the guide's rollback (chapter 10)
  re-registers EWARE.DLL from and points IIS at; that folder holds only a copy of the backup,
  so writing it destroys nothing. `drop_backup_copy: true` (with `into: install`) then removes
  `<install>_backup` when it holds exactly that copy, which puts the original layout back;
- `services`: the shared `Services` folder (the service binaries) put back the same way.

Which backups: those recorded by the run named with `--from-run` (the upgrade being rolled back),
else those of this run; within a run the first one (taken before anything changed). Each is
re-hashed before use and refused if it changed since it was verified; when the server's own
file is gone or changed and the backup has an intact off-server copy (`sagecrm.backup_copy`),
that copy is brought back first and checked again. Paths, keys and the
database come from the `sagecrm:` section, so `destroys()` names exactly what `crm_backup`
protects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules import _production as production
from modules._common import call, object_schema, stat
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.estate import Estate
from modules.windows._windows import require_backup

PARTS = ("database", "registry", "program_files", "services")


def parts_for(args: Mapping[str, Any], est: Estate, host: str) -> list[str]:
    asked = list(args.get("what") or PARTS)
    local = est.holds_crm(host)  # a dedicated database server has no registry keys or program files
    on_db = crm.is_db_server(est, host)
    return [p for p in asked if (on_db if p == "database" else local)]


class CrmRestore(Module):
    """database, registry, program files: each from its recorded, still intact, verified backup."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows", "controller"})
    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Restore a Sage CRM server from the backups a run recorded (database, registry, program files).",
        {
            "what": {
                "type": "array",
                "items": {"enum": list(PARTS)},
                "minItems": 1,
                "uniqueItems": True,
                "description": "Parts to restore (default: all this server holds).",
            },
            "into": {
                "enum": ["install", "backup"],
                "default": "install",
                "description": "program_files: back into <install>, or into <install>_backup.",
            },
            "source": {
                "enum": ["this", "mirror"],
                "default": "this",
                "description": "this: the estate's own backups; mirror: a test estate restored from the backups "
                "of the live estate it mirrors (sagecrm.mirror_of; the live run is --from-run).",
            },
            "drop_backup_copy": {
                "type": "boolean",
                "default": False,
                "description": "program_files into install: then remove <install>_backup if it is the same copy.",
            },
        },
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        est = crm.estate_or_none(host)
        if est is None or host.name not in est.servers:
            return []
        return crm.part_resources(est, host.name, parts_for(args, est, host.name),
                                  program_files=args.get("into", "install") == "install")

    def gates(self, args: Mapping[str, Any], host: Host) -> list[dict[str, Any]]:
        """A production database's restore asks `restore-production-<target>` (modules/_production.py)."""
        est = crm.estate_or_none(host)
        if est is None or host.name not in est.servers or "database" not in parts_for(args, est, host.name):
            return []
        return production.declared(est.inventory, [est.database])

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        crm.require_server(ctx, est)
        total = Result(output={})
        mirrored: list[Artifact] = []
        for part in parts_for(args, est, ctx.host.name):
            crm.combine(total, part, getattr(self, f"_{part}")(ctx, est, _Source(args, mirrored)))
        total.artifacts.extend(mirrored)
        signed = (total.output.get("database") or {}).get("gate")
        if signed:  # the production gate db_restore asked: journaled as this step's answer
            total.output["gate"] = signed
        return total

    # --- the parts ----------------------------------------------------------------------------
    def _database(self, ctx: TaskContext, est: Estate, args: _Source) -> Result:
        from modules.db.db_restore import DbRestore

        if not args.mirror:
            return DbRestore().run(ctx, {"db": est.database})
        backup = args.backup(ctx, est, lambda e, h: f"db:{e.database}", "db_backup")
        return DbRestore().run(ctx, {"db": est.database, "backup": backup.location})

    def _registry(self, ctx: TaskContext, est: Estate, args: _Source) -> Result:
        from modules.windows.registry_import import RegistryImport

        view = crm.eware_view(ctx, est) or est.registry_view
        keep = _own_database_server(ctx, est, view) if args.mirror else None
        out = Result(output={})
        for index, (key, name) in enumerate(zip(est.registry_keys, ("Config", "Mappings"), strict=True)):
            backup = args.backup(
                ctx, est, lambda e, h, i=index: e.registry_resources(h)[i], "registry_export"
            )
            # Into the view the export was taken from (recorded with it): a 32-bit Sage CRM's keys
            # imported into the 64-bit view would be keys it never reads.
            into = str(backup.meta.get("view") or view)
            crm.combine(out, name, RegistryImport().run(ctx, {"path": backup.location, "key": key, "view": into}))
            view = into
        if keep is not None and not ctx.check_mode:
            answer = call(
                ctx.require_remote(), "registry.set", key=est.config_key, name=DB_SERVER_VALUE, data=keep,
                view=view,
            )
            out.output["kept_database_server"] = keep
            out.changed = out.changed or bool(answer.get("changed"))
        return out

    def _program_files(self, ctx: TaskContext, est: Estate, args: _Source) -> Result:
        if args.get("into", "install") == "backup":
            return self._into_backup(ctx, est, args)
        result = _unzip(ctx, est.install_path, args.backup(ctx, est, _install, "archive"))
        if args.get("drop_backup_copy") and not result.failed:
            result.output["backup_copy"] = self._drop_copy(ctx, est)
            result.changed = result.changed or result.output["backup_copy"] == "removed"
        return result

    def _services(self, ctx: TaskContext, est: Estate, args: _Source) -> Result:
        return _unzip(ctx, est.services_dir, args.backup(ctx, est, _services, "archive"))

    def _drop_copy(self, ctx: TaskContext, est: Estate) -> str:
        """Remove `<install>_backup` when it is exactly the restored install folder."""
        remote = ctx.require_remote()
        if stat(remote, est.backup_path) is None:
            return "absent"
        copy = call(remote, "file.tree_hash", path=est.backup_path)["digest"]
        if copy != call(remote, "file.tree_hash", path=est.install_path)["digest"]:
            return "kept (differs from the restored install folder)"
        if ctx.check_mode:
            return "would remove"
        call(remote, "file.remove", path=est.backup_path, recursive=True)
        return "removed"

    def _into_backup(self, ctx: TaskContext, est: Estate, args: _Source) -> Result:
        """The install folder's verified zip extracted to `<install>_backup` (the guide's rollback folder)."""
        remote = ctx.require_remote()
        resource = _install(est, ctx.host.name)
        backup = args.backup(ctx, est, _install, "archive")
        target = est.backup_path
        expected = backup.meta.get("tree_digest")
        current = call(remote, "file.tree_hash", path=target) if stat(remote, target) is not None else None
        if expected and current is not None and current.get("digest") == expected:
            return Result(
                changed=False,
                msg=f"{target} already holds {backup.location}",
                output={"path": target, "backup": backup.location},
            )
        if ctx.check_mode:
            return Result(changed=True, msg=f"would extract {backup.location} to {target}")
        require_backup(ctx, resource, source=backup.location)
        from modules.windows.win_archive import extract_staged, swap_in

        # staged next to it and swapped in: a failure never leaves the guide's rollback folder missing
        final = swap_in(ctx, target, extract_staged(ctx, backup.location, target, expected or None))
        return Result(
            changed=True,
            msg=f"extracted {backup.location} to {target}",
            output={"path": target, "backup": backup.location, "tree_digest": final.get("digest")},
        )


DB_SERVER_VALUE = "DefaultDatabaseServer"


def _own_database_server(ctx: TaskContext, est: Estate, view: str) -> str | None:
    """A test server's own `DefaultDatabaseServer`, kept through the import of the live registry:
    with the live value it would connect to the LIVE database."""
    if view not in ("32", "64"):
        return None  # no eWare keys on this server yet: nothing of its own to keep
    value = call(ctx.require_remote(), "registry.get", key=est.config_key, view=view)
    entry = (value.get("values") or {}).get(DB_SERVER_VALUE) if value.get("exists") else None
    return None if entry is None else str(entry.get("data"))


def _install(est: Estate, host: str) -> str:
    return f"files:{host}:{est.install_path}"


def _services(est: Estate, host: str) -> str:
    return f"files:{host}:{est.services_dir}"


class _Source:
    """Where a part's backup comes from: this estate's runs, or the live estate it mirrors."""

    def __init__(self, args: Mapping[str, Any], mirrored: list[Artifact]):
        self.args = args
        self.mirror = args.get("source", "this") == "mirror"
        self.mirrored = mirrored

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)

    def backup(
        self, ctx: TaskContext, est: Estate, resource: Callable[[Estate, str], str], kind: str
    ) -> Artifact:
        if not self.mirror:
            return recorded(ctx, resource(est, ctx.host.name), kind)
        from modules.sagecrm import _sagecrm_mirror as mirror

        live = mirror.live_estate(est)
        twin = mirror.twin(est, live, ctx.host.name)
        found = mirror.live_artifact(ctx, resource(live, twin), None if kind == "db_backup" else twin, kind)
        if found.host is not None:
            mirror.bring(ctx, live, found.host, found)
        local = mirror.as_test_backup(ctx, found, resource(est, ctx.host.name))
        self.mirrored.append(local)
        return local


def _unzip(ctx: TaskContext, path: str, backup: Artifact) -> Result:
    from modules.windows.win_archive import WinArchive

    return WinArchive().run(ctx, {"path": path, "dest": backup.location, "state": "extracted"})


def recorded(ctx: TaskContext, resource: str, kind: str) -> Artifact:
    """The backup a restore uses: the rolled-back run's first, else this run's first; brought back
    from its off-server copy first when the server's own is gone or changed (modules/db/_offsite.py)."""
    from engine.db.copies import off_server_copy
    from modules.db._offsite import BROUGHT_BACK, bring_back

    found = crm.prior_or_current(ctx, resource, kind)
    if not found:
        raise ModuleFailed(
            f"no verified {kind} of {resource} was recorded by this run or the run rolled back "
            "from (--from-run): nothing to restore from"
        )
    if bring_back(ctx, found[0]) == BROUGHT_BACK and ctx.check_mode:
        # nothing is copied in check mode: what would be restored is read where it is (a UNC copy
        # this server reaches), else the step says it cannot look
        copy = off_server_copy(found[0])
        if copy is not None and copy.host == ctx.host.name:
            return copy
    return found[0]
