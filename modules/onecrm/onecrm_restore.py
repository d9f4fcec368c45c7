"""onecrm_restore: put a 1CRM site's database or files back from a recorded, verified backup. Destructive.

Which backup (the same choice `onecrm_backup_check source: auto` reports, so the data-loss
estimate a confirmation gate shows is about this very backup):
- database: the newest verified dump of the site's target recorded by the rolled-back run
  (`--from-run`), else by this run;
- files: the update's own backup (undo exactly what the update did, keep users' uploads since),
  else the newest whole-folder archive.
The backup file must still have the sha256 recorded when it was verified, or nothing is done.
A database the inventory marks as production (`production: true`) is restored only after the
gate `restore-production-<target>`, approved by its own id (modules/_production.py).

`from: live` (on the test site) refreshes the test system from the live system's backups of this
run instead: the live dump is loaded into the test database and the live folder's archive
replaces the test folder, except the test site's `keep` files (default its
`include/config/local_config.php`, so the test system keeps talking to its own database).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, Finding, Module, ModuleFailed, Result, TaskContext
from engine.api.primitives import Remote
from engine.core.model import Host
from engine.db.operations import restore_backup
from engine.db.tasks import db_failures, files_for, target_of
from modules import _production as production
from modules._common import call, call_optional, object_schema
from modules.onecrm import _onecrm as one
from modules.onecrm import _onecrm_files as tree


class OnecrmRestore(Module):
    """Restore a site's database (dump) or install folder from the backup a rollback uses."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Restore a 1CRM site's database or install folder from a recorded verified backup.",
        {
            "site": one.SITE_ARG,
            "part": one.PART_ARG,
            "from": {
                "enum": ["live"],
                "description": "Refresh this (test) site from the live site's backups of this run.",
            },
        },
        ("site", "part"),
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [one.resource_of(host, args, str(args["part"]))]

    def gates(self, args: Mapping[str, Any], host: Host) -> list[dict[str, Any]]:
        """A restore of a production database asks `restore-production-<target>` (modules/_production.py)."""
        est = one.estate_for_host(host)
        st = est.site(str(args.get("site"))) if est is not None else None
        if est is None or st is None or args.get("part") != "database":
            return []
        return production.declared(est.inventory, [st.database])

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        st = one.site(ctx, str(args["site"]))
        source = one.site(ctx, str(args.get("from") or st.name))
        if source.name == st.name and args.get("from"):
            raise ModuleFailed(f"the {st.name} site cannot be refreshed from itself")
        part = str(args["part"])
        if part == "database":
            chosen, where = one.database_backup(ctx, source)
        else:
            chosen, where = one.files_backup(ctx, source, full_only=source.name != st.name)
        if chosen is None and ctx.check_mode:  # the backup step before this one took nothing either
            return Result(
                changed=True, msg=f"would restore the {st.name} {part} from the backup an earlier step takes"
            )
        if chosen is None:
            raise ModuleFailed(
                f"refusing to restore the {st.name} {part}: no verified backup of the {source.name} {part} "
                "is recorded (check one with onecrm_backup_check or take one with onecrm_backup first)"
            )
        if part == "database":
            return self._database(ctx, st, chosen, where)
        return self._files(ctx, st, source, chosen, where)

    # --- database -----------------------------------------------------------------------------------
    def _database(self, ctx: TaskContext, st: one.Site, chosen: Artifact, where: str) -> Result:
        remote = one.require_host(ctx, one.db_host(ctx, st), f"the {st.name} database's dumps")
        if chosen.host and chosen.host != remote.host_name:
            raise ModuleFailed(
                f"refusing: the dump {chosen.location} is on {chosen.host}, not on {remote.host_name}"
            )
        target = target_of(ctx, st.database)
        with db_failures():
            files = files_for(ctx, target)
            digest, size = files.hash(chosen.location)  # re-read now: it must be the file verified
        if digest != chosen.sha256:
            raise ModuleFailed(
                f"refusing to restore {st.database}: {chosen.location} changed since it was verified"
            )
        output = {
            "backup": chosen.location,
            "taken_at": chosen.taken_at,
            "sha256": digest,
            "size": size,
            "recorded_by": where,
        }
        if ctx.check_mode:
            return Result(
                changed=True, output=output, msg=f"would restore {st.database} from {chosen.location}"
            )
        # the backup is sound: now ask
        approval = production.require_approval(ctx, st.database, chosen.taken_at)
        if approval is not None:
            output["gate"] = approval
        with db_failures():
            output.update(restore_backup(target, files, chosen.location, meta=dict(chosen.meta)))
        finding = Finding(
            "restore",
            f"{st.database} restored from {chosen.location} taken {chosen.taken_at}",
            "info",
            host=remote.host_name,
        )
        return Result(
            changed=True,
            output=output,
            findings=[finding],
            msg=f"restored {st.database} from {chosen.location} ({chosen.taken_at})",
        )

    # --- files --------------------------------------------------------------------------------------------
    def _files(
        self, ctx: TaskContext, st: one.Site, source: one.Site, chosen: Artifact, where: str
    ) -> Result:
        remote = one.require_host(ctx, st.host, f"the {st.name} install folder")
        if chosen.host and chosen.host != remote.host_name:
            raise ModuleFailed(
                f"refusing: the backup {chosen.location} is on {chosen.host}, not on {remote.host_name}"
            )
        found = call_optional(remote, "file.hash", path=chosen.location)
        if found is None or found["digest"] != chosen.sha256:
            why = "is gone" if found is None else "changed since it was verified"
            raise ModuleFailed(f"refusing to restore {st.install_path}: the backup {chosen.location} {why}")
        output: dict[str, Any] = {
            "backup": chosen.location,
            "kind": chosen.kind,
            "taken_at": chosen.taken_at,
            "recorded_by": where,
            "from": source.name,
        }
        staging = one.backup_path(ctx, st, "restore", "")
        if chosen.kind == one.UPDATE_BACKUP_KIND:
            return self._revert(ctx, st, remote, chosen, staging, output)
        keep = st.keep if source.name != st.name else ()
        if source.name == st.name and self._same_tree(remote, st, chosen):
            return Result(output=output, msg=f"{st.install_path} already matches {chosen.location}")
        if ctx.check_mode:
            return Result(
                changed=True, output=output, msg=f"would restore {st.install_path} from {chosen.location}"
            )
        done = tree.sync_tree(
            ctx, remote, st, chosen.location, int(chosen.meta.get("strip") or 0), staging, keep
        )
        output.update(done, kept=list(keep))
        return Result(
            changed=True,
            output=output,
            msg=f"{st.install_path} restored from {chosen.location} ({done['removed']} removed)",
        )

    def _revert(
        self, ctx: TaskContext, st: one.Site, remote: Remote, chosen: Artifact, staging: str, output: dict
    ) -> Result:
        manifest = tree.read_manifest(remote, chosen.location)
        if manifest.get("install_path") != st.install_path:
            raise ModuleFailed(
                f"{chosen.location} is a backup of {manifest.get('install_path')}, not {st.install_path}"
            )
        output["version_before_update"] = manifest.get("version_before")
        if tree.update_reverted(remote, st, manifest):
            return Result(
                output=output, msg=f"{st.install_path} already holds the files from before the update"
            )
        if ctx.check_mode:
            count = len(manifest["overwritten"])
            return Result(
                changed=True, output=output, msg=f"would put back {count} file(s) from {chosen.location}"
            )
        output.update(tree.revert_update(remote, st, chosen.location, staging, manifest))
        return Result(
            changed=True,
            output=output,
            msg=f"{st.install_path}: {output['restored']} file(s) put back, {output['removed']} removed",
        )

    @staticmethod
    def _same_tree(remote: Remote, st: one.Site, chosen: Artifact) -> bool:
        recorded = chosen.meta.get("tree_digest")
        return bool(recorded) and call(remote, "file.tree_hash", path=st.install_path)["digest"] == recorded
