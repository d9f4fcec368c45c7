"""onecrm_backup_check: is last night's backup of a 1CRM site there, recent and sound?

Step 1 of the vendor's procedure without a service contract: "in the morning, confirm that last
night's backup exists and is sound" (a restore loses what changed since about 23:00). For the
site's `nightly:` globs this finds the newest backup:
- `part: database` (on the database host): a `.sql`/`.sql.gz` dump;
- `part: files` (on the site's host): a zip/tar.gz of the install folder;
then checks it was taken after `taken_after` (default 23:00) *yesterday* in the estate's time
zone, reads it in full (sha256; every archive member's CRC; `gzip -t` and the dump's completion
marker), optionally test-restores a dump into a scratch database (`verify: restore`), and
records it as a verified artifact a rollback may restore (`db_backup` of `db:<target>`,
`onecrm_files_archive` of `files:<host>:<install>`, with the folder depth to strip). A missing,
stale or unreadable backup fails the task, which stops the run before anything changed.

`source: auto` (rollback): report the backup a restore would use (the rolled-back run's, else
this run's) after checking its file still has the recorded sha256; only when there is none,
check and record the nightly one as above. Read-only: runs in check mode too.
"""

from __future__ import annotations

import datetime as _dt
import posixpath
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db.operations import BackupRecord, database_of, verify_backup
from engine.db.tasks import backup_artifact, db_failures, files_for, target_of
from modules._common import call, call_optional, object_schema
from modules.onecrm import _onecrm as one
from modules.onecrm.product.estate import DEFAULT_TAKEN_AFTER


def newest(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    files = [e for e in entries if e.get("type") == "file"]
    return max(files, key=lambda e: float(e.get("mtime") or 0)) if files else None


def strip_for(entries: list[dict[str, Any]], version_file: str) -> int | None:
    """How many leading folders the archive puts before the install tree (None: not a 1CRM tree)."""
    want = [p for p in version_file.split("/") if p]
    depths = []
    for entry in entries:
        parts = [p for p in str(entry["name"]).split("/") if p not in ("", ".")]
        if parts[-len(want) :] == want:
            depths.append(len(parts) - len(want))
    return min(depths) if depths else None


class OnecrmBackupCheck(Module):
    """Last night's backup of a site's database or files: present, newer than the cut-off, sound."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Check last night's backup of a 1CRM site (or, for a rollback, the backup a restore would use).",
        {
            "site": one.SITE_ARG,
            "part": one.PART_ARG,
            "source": {
                "enum": ["nightly", "auto"],
                "default": "nightly",
                "description": "auto: the recorded backup a restore would use, else the nightly one.",
            },
            "verify": {
                "enum": ["default", "restore"],
                "description": "database: `restore` also loads the dump into a scratch database "
                "(default: the site's nightly.verify, else default).",
            },
        },
        ("site", "part"),
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [one.resource_of(host, args, str(args["part"]))]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        st = one.site(ctx, str(args["site"]))
        part = str(args["part"])
        if args.get("source", "nightly") == "auto":
            chosen, where = one.database_backup(ctx, st) if part == "database" else one.files_backup(ctx, st)
            if chosen is not None:
                return self._recorded(ctx, st, part, chosen, where)
        nightly = st.get("nightly")
        if not nightly:
            raise ModuleFailed(
                f"the {st.name} site has no `nightly:` backups configured and none is recorded"
            )
        if part == "database":
            return self._database(ctx, st, nightly, args)
        return self._files(ctx, st, nightly)

    # --- a backup recorded earlier ----------------------------------------------------------------
    def _recorded(self, ctx: TaskContext, st: one.Site, part: str, chosen: Artifact, where: str) -> Result:
        remote = one.require_host(ctx, str(chosen.host or st.host), f"the backup {chosen.location}")
        found = call_optional(remote, "file.hash", path=chosen.location)
        if found is None or found["digest"] != chosen.sha256:
            why = "is gone" if found is None else "changed since it was verified"
            raise ModuleFailed(f"the recorded backup {chosen.location} of the {st.name} {part} {why}")
        source = f"run {ctx.run.run_id}" if where == "this run" else "the rolled-back run"
        output = {
            "location": chosen.location,
            "taken_at": chosen.taken_at,
            "kind": chosen.kind,
            "sha256": chosen.sha256,
            "source": source,
            "recorded": True,
        }
        return Result(output=output, msg=f"{part}: {chosen.location} of {chosen.taken_at} ({source})")

    # --- last night's backups -------------------------------------------------------------------------
    def _find(
        self, ctx: TaskContext, remote: Any, nightly: Mapping[str, Any], part: str, what: str
    ) -> tuple[str, _dt.datetime]:
        """(path, time taken) of the newest nightly backup, after checking it is recent enough."""
        pattern = str(nightly[part])
        directory, glob = posixpath.split(pattern)
        listing = call_optional(remote, "file.list", path=directory, pattern=glob)
        found = newest((listing or {}).get("entries", []))
        if found is None:
            raise ModuleFailed(f"no nightly backup of {what} matches {pattern} on {remote.host_name}")
        taken = _dt.datetime.fromtimestamp(float(found["mtime"]), _dt.UTC)
        zone = ctx.run.inventory.timezone if ctx.run.inventory is not None else "UTC"
        limit = one.cutoff(zone, str(nightly.get("taken_after") or DEFAULT_TAKEN_AFTER))
        location = posixpath.join(directory, str(found["path"]))
        if taken <= limit:
            raise ModuleFailed(
                f"the newest nightly backup of {what} is stale: {location} was taken "
                f"{one.local_text(taken, zone)}, it must be newer than {one.local_text(limit, zone)}",
                output={"location": location, "taken_at": taken.isoformat(timespec="seconds")},
            )
        return location, taken

    def _database(
        self, ctx: TaskContext, st: one.Site, nightly: Mapping[str, Any], args: Mapping[str, Any]
    ) -> Result:
        remote = one.require_host(ctx, one.db_host(ctx, st), f"the {st.name} database's nightly dumps")
        target = target_of(ctx, st.database)
        location, taken = self._find(ctx, remote, nightly, "database", f"the {st.name} database")
        method = str(args.get("verify") or nightly.get("verify") or "default")
        if ctx.check_mode and method == "restore":
            method = "default"  # a test restore creates a database: not in check mode
        with db_failures():
            files = files_for(ctx, target)
            record = BackupRecord(location, files.host, target.dialect, database_of(target))
            record.taken_at = taken.isoformat(timespec="seconds")
            record.sha256, record.size = files.hash(location)
            record.verify_method = verify_backup(target, files, location, method=method)
            record.verified = True
        record.meta.update(site=st.name, source="nightly")
        result = Result(
            output=self._output(record.location, record.taken_at, record.sha256, record.verify_method),
            msg=f"{location}: taken {record.taken_at}, {record.verify_method}",
        )
        if not ctx.check_mode:
            result.artifacts.append(backup_artifact(record, target))
        return result

    def _files(self, ctx: TaskContext, st: one.Site, nightly: Mapping[str, Any]) -> Result:
        remote = one.require_host(ctx, st.host, f"the {st.name} site's nightly file archives")
        location, taken = self._find(ctx, remote, nightly, "files", f"the {st.name} files")
        checked = call(remote, "archive.verify", path=location)
        if not checked.get("ok"):
            raise ModuleFailed(f"the nightly archive {location} is not readable: {checked.get('error')}")
        entries = call(remote, "archive.list", path=location)["entries"]
        unsafe = one.unsafe_members(entries)
        if unsafe:
            raise ModuleFailed(
                f"the nightly archive {location} cannot be restored safely: {'; '.join(unsafe[:5])}"
            )
        strip = strip_for(entries, one.version_file(ctx))
        if strip is None:
            raise ModuleFailed(
                f"the nightly archive {location} holds no {one.version_file(ctx)}: not a 1CRM folder"
            )
        artifact = one.files_artifact(st, location, checked, None, source="nightly", strip=strip)
        artifact.taken_at = taken.isoformat(timespec="seconds")
        result = Result(
            output=self._output(location, artifact.taken_at, str(checked["sha256"]), "archive read"),
            msg=f"{location}: taken {artifact.taken_at}, {checked.get('entries')} members read",
        )
        if not ctx.check_mode:
            result.artifacts.append(artifact)
        return result

    @staticmethod
    def _output(location: str, taken_at: str, sha256: str, verify: str) -> dict[str, Any]:
        return {
            "location": location,
            "taken_at": taken_at,
            "sha256": sha256,
            "verify": verify,
            "source": "nightly",
            "recorded": False,
        }
