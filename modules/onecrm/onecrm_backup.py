"""onecrm_backup: a fresh, verified backup of a 1CRM site's database or of its whole install folder.

- `part: database`: a dump of the site's database target on its database host (the engine's
  `take_backup`: `mariadb-dump`, the completion marker read back, optionally a test restore),
  recorded as a `db_backup` artifact of `db:<target>`.
- `part: files`: the install folder (code, configuration, `files/` with the users' uploads)
  archived into `<backup_dir>/<run>-<site>-files.tar.zst` on the site's host (zstd on every
  core; `.tar.gz` through pigz or gzip where the host has no zstd) and recorded as an
  `onecrm_files_archive` artifact of `files:<host>:<install>` with the folder's tree hash. The
  archive is made in one pass: every file is read once and hashed on its way into the archive,
  and the compressed stream is hashed and tested by the compressor's own check as it is
  written, so verifying costs no second read of folder or archive. A folder that changed while
  it was archived (an entry written to, added or removed) fails the task.

Why a 1CRM module over `db_backup`/`archive`: the database target and the folder come from the
`onecrm:` section by site, so a playbook written once for every 1CRM estate still lets the
planner check that this backup precedes the update or restore it protects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.api.primitives import PrimitiveFailed, Remote
from engine.core.model import Host
from engine.db.operations import take_backup
from engine.db.tasks import backup_artifact, backup_output, db_failures, files_for, target_of
from modules._common import call, object_schema
from modules.onecrm import _onecrm as one


class OnecrmBackup(Module):
    """Verified backup of a site's database (dump) or install folder (tar.zst/tar.gz), as an artifact."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "A fresh verified backup of a 1CRM site's database or whole install folder.",
        {
            "site": one.SITE_ARG,
            "part": one.PART_ARG,
            "verify": {
                "enum": ["default", "restore"],
                "default": "default",
                "description": "database: `restore` also loads the dump into a scratch database.",
            },
        },
        ("site", "part"),
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [one.resource_of(host, args, str(args["part"]))]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        st = one.site(ctx, str(args["site"]))
        if args["part"] == "database":
            return self._database(ctx, st, str(args.get("verify", "default")))
        return self._files(ctx, st)

    def _database(self, ctx: TaskContext, st: one.Site, verify: str) -> Result:
        host = one.db_host(ctx, st)
        one.require_host(ctx, host, f"the {st.name} database's dumps")
        target = target_of(ctx, st.database)
        directory = target.backup_dir or st.backup_dir
        if ctx.check_mode:
            return Result(changed=True, msg=f"would dump {st.database} to {directory} on {host}")
        with db_failures():
            record = take_backup(target, files_for(ctx, target), directory, verify=verify)
        record.meta.update(site=st.name, source="onecrm_backup")
        return Result(
            changed=True,
            msg=f"dumped {st.database} to {record.location} (verified: {record.verify_method})",
            output=backup_output(record),
            artifacts=[backup_artifact(record, target)],
        )

    def _files(self, ctx: TaskContext, st: one.Site) -> Result:
        remote = one.require_host(ctx, st.host, f"the {st.name} install folder")
        if ctx.check_mode:
            dest = one.backup_path(ctx, st, "files", ".tar.*")
            return Result(changed=True, msg=f"would archive {st.install_path} to {dest}")
        call(remote, "file.mkdir", path=st.backup_dir, parents=True)
        dest, created = self._archive(ctx, remote, st)
        if created.get("changed_count"):
            call(remote, "file.remove", path=dest)
            shown = ", ".join(created["changed"][:5])
            raise ModuleFailed(
                f"{st.install_path} changed while it was archived ({created['changed_count']} entries, e.g. "
                f"{shown}); run again when nothing writes"
            )
        tree = created["tree"]
        artifact = one.files_artifact(st, dest, created, tree, source="onecrm_backup", strip=0)
        artifact.meta["verify"] = created["verified"]
        return Result(
            changed=True,
            msg=f"archived {tree['files']} files of {st.install_path} into {dest} ({created['compressor']})",
            output={
                "location": dest,
                "sha256": created["sha256"],
                "size": created["size"],
                "files": tree["files"],
                "bytes": tree["bytes"],
                "tree_digest": tree["digest"],
                "compressor": created["compressor"],
                "verified": created["verified"],
            },
            artifacts=[artifact],
        )

    @staticmethod
    def _archive(ctx: TaskContext, remote: Remote, st: one.Site) -> tuple[str, dict[str, Any]]:
        """The folder as `.tar.zst` (zstd on every core) where the host has zstd, else `.tar.gz`.

        One pass over the folder: the host's helper hashes every file as it archives it (the tree
        digest a restore is checked against), hashes and tests the compressed stream while it is
        written, and lists what changed meanwhile (see the `archive.create` primitive).
        """
        for extension, fmt in ((".tar.zst", "tar.zst"), (".tar.gz", "tar.gz")):
            dest = one.backup_path(ctx, st, "files", extension)
            try:
                with one.progress_shown(ctx, remote, f"archiving {st.install_path}"):
                    return dest, remote.call("archive.create", src=st.install_path, dest=dest, format=fmt)
            except PrimitiveFailed as exc:
                if exc.kind != "unsupported" or fmt == "tar.gz":
                    raise
        raise AssertionError("unreachable: tar.gz is always supported")
