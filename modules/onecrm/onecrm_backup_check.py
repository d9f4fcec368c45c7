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
check and record the nightly one as above. `date:` (or the run variable `backup_date`, for
`source: auto`) picks an older nightly backup instead, the newest taken that day (estate zone):
the guide says "Backups, die älter sind als 1 Tag sind vorhanden"; the output lists every nightly
backup with its time and size. `onecrm.hosting: cloud` without `nightly:`: the provider is asked
(gate `onecrm-provider-backup-<part>`, named, with who confirmed and when). Read-only: runs in
check mode too.
"""

from __future__ import annotations

import datetime as _dt
import posixpath
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from engine.api.module import Artifact, Finding, Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db.operations import BackupRecord, database_of, verify_backup
from engine.db.tasks import backup_artifact, db_failures, files_for, target_of
from modules._common import call, call_optional, object_schema
from modules._production import ask_named
from modules.onecrm import _onecrm as one
from modules.onecrm.product.estate import DEFAULT_TAKEN_AFTER, estate_for_host

#: the gate a cloud customer's morning check asks, per part (the guide: "Morgens bei visual4
#: nachfragen, ob das nächtliche Backup vorhanden und in Ordnung ist")
PROVIDER_GATE = "onecrm-provider-backup-"


def provider_gate(part: str) -> str:
    return f"{PROVIDER_GATE}{part}"


def provider_prompt(part: str) -> str:
    what = "database dump" if part == "database" else "file backup"
    return (
        f"Ask the provider (visual4, support@visual4.de) whether last night's {what} of the live "
        'system exists and is sound (the guide: "Morgens bei visual4 nachfragen, ob das nächtliche '
        'Backup vorhanden und in Ordnung ist"). Approve with who confirmed it and when, e.g. '
        f'--approve {provider_gate(part)}="Frau Meier, visual4, 08:10"'
    )


def ask_provider(ctx: TaskContext, part: str) -> Result:
    """The morning check of a cloud estate: a person asks the provider; the answer is journaled
    (who confirmed, when) and reported as a finding. Only the gate's own id answers it, with a
    comment naming who confirmed: a blanket --approve-all says nobody asked."""
    gate = provider_gate(part)
    if ctx.check_mode:
        return Result(changed=True, msg=f"would ask gate {gate} (check mode)")
    why = "the provider must confirm last night's backup; name who confirmed it and when"
    record = ask_named(ctx, gate, provider_prompt(part), why, need_comment=True)
    said = f"last night's {part} backup confirmed by the provider: {record.get('comment')}"
    finding = Finding("backup", f"{said} (asked by {record.get('by')} at {record.get('at')})", "info")
    return Result(
        changed=True,
        output={"gate": record, "source": "provider", "recorded": False},
        findings=[finding],
        msg=f"{said} (gate {gate}, {record.get('by')})",
    )


def with_date(ctx: TaskContext, args: Mapping[str, Any]) -> Mapping[str, Any]:
    """The arguments with `date` from the run variable `backup_date` (`-e backup_date=YYYY-MM-DD`)
    for `source: auto`: read here, not templated in the playbook, so the planner still sees which
    resources the step protects."""
    given = ctx.vars.get("backup_date")
    if args.get("date") or args.get("source") != "auto" or not given:
        return args
    text = str(given)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ModuleFailed(f"backup_date {text!r} is not a date (YYYY-MM-DD)")
    return {**args, "date": text}


def backups_listed(directory: str, entries: list[dict[str, Any]], zone: str) -> list[dict[str, Any]]:
    """Every backup a nightly glob lists, oldest first: location, day and time taken, size."""
    rows = []
    for entry in entries:
        taken = _dt.datetime.fromtimestamp(float(entry.get("mtime") or 0), _dt.UTC)
        rows.append(
            {
                "location": posixpath.join(directory, str(entry["path"])),
                "day": taken.astimezone(ZoneInfo(zone)).date().isoformat(),
                "taken": one.local_text(taken, zone),
                "size": int(entry.get("size") or 0),
            }
        )
    return rows


def available_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    ordered = sorted(rows, key=lambda r: r["taken"])
    return "; ".join(f"{r['taken']} {r['size']:,} bytes {posixpath.basename(r['location'])}" for r in ordered)


def listed(rows: list[dict[str, Any]], size: int | None) -> dict[str, Any]:
    """What the output shows of the other backups (a gate lists them to choose another by date)."""
    return {"size": size, "available": rows, "available_text": available_text(rows)}


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
            "date": {
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "description": "An older nightly backup: the newest one taken on this day (estate zone, "
                "YYYY-MM-DD) instead of last night's; a restore then uses it.",
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

    def gates(self, args: Mapping[str, Any], host: Host) -> list[dict[str, Any]]:
        """A cloud estate's morning check is a question to the provider (`--approve` names it)."""
        est = estate_for_host(host)
        st = est.site(str(args.get("site"))) if est is not None else None
        if (
            est is None
            or st is None
            or not est.cloud
            or st.get("nightly")
            or args.get("source", "nightly") != "nightly"
        ):
            return []
        return [{"id": provider_gate(str(args["part"])), "prompt": provider_prompt(str(args["part"]))}]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        st = one.site(ctx, str(args["site"]))
        part = str(args["part"])
        args = with_date(ctx, args)
        if args.get("source", "nightly") == "auto" and not args.get("date"):
            chosen, where = one.database_backup(ctx, st) if part == "database" else one.files_backup(ctx, st)
            if chosen is not None:
                return self._recorded(ctx, st, part, chosen, where)
        nightly = st.get("nightly")
        if not nightly and one.estate(ctx).cloud and args.get("source", "nightly") == "nightly":
            return ask_provider(ctx, part)
        if not nightly:
            raise ModuleFailed(
                f"the {st.name} site has no `nightly:` backups configured and none is recorded"
            )
        if part == "database":
            return self._database(ctx, st, nightly, args)
        return self._files(ctx, st, nightly, args)

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
        self,
        ctx: TaskContext,
        remote: Any,
        nightly: Mapping[str, Any],
        part: str,
        what: str,
        date: str | None = None,
    ) -> tuple[str, _dt.datetime, list[dict[str, Any]]]:
        """(path, time taken, every backup the glob lists) of the newest nightly backup (of `date`,
        when given), after checking last night's is recent enough."""
        pattern = str(nightly[part])
        directory, glob = posixpath.split(pattern)
        listing = call_optional(remote, "file.list", path=directory, pattern=glob)
        zone = one.zone_name(ctx)
        entries = [e for e in (listing or {}).get("entries", []) if e.get("type") == "file"]
        available = backups_listed(directory, entries, zone)
        if date:
            entries = [e for e, row in zip(entries, available, strict=True) if row["day"] == date]
        found = newest(entries)
        if found is None:
            on = f" taken on {date} ({zone})" if date else ""
            raise ModuleFailed(
                f"no nightly backup of {what}{on} matches {pattern} on {remote.host_name}; "
                f"there are: {available_text(available)}",
                output={"available": available},
            )
        taken = _dt.datetime.fromtimestamp(float(found["mtime"]), _dt.UTC)
        location = posixpath.join(directory, str(found["path"]))
        if date:
            return location, taken, available
        limit = one.cutoff(zone, str(nightly.get("taken_after") or DEFAULT_TAKEN_AFTER))
        if taken <= limit:
            raise ModuleFailed(
                f"the newest nightly backup of {what} is stale: {location} was taken "
                f"{one.local_text(taken, zone)}, it must be newer than {one.local_text(limit, zone)}",
                output={"location": location, "taken_at": taken.isoformat(timespec="seconds")},
            )
        return location, taken, available

    def _database(
        self, ctx: TaskContext, st: one.Site, nightly: Mapping[str, Any], args: Mapping[str, Any]
    ) -> Result:
        remote = one.require_host(ctx, one.db_host(ctx, st), f"the {st.name} database's nightly dumps")
        target = target_of(ctx, st.database)
        date = args.get("date")
        location, taken, available = self._find(
            ctx, remote, nightly, "database", f"the {st.name} database", date
        )
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
        record.meta.update(site=st.name, source="nightly", **({"chosen_date": date} if date else {}))
        output = self._output(record.location, record.taken_at, record.sha256, record.verify_method)
        result = Result(
            output={**output, **listed(available, record.size)},
            msg=f"{location}: taken {record.taken_at}, {record.verify_method}",
        )
        if not ctx.check_mode:
            result.artifacts.append(backup_artifact(record, target))
        return result

    def _files(
        self, ctx: TaskContext, st: one.Site, nightly: Mapping[str, Any], args: Mapping[str, Any]
    ) -> Result:
        remote = one.require_host(ctx, st.host, f"the {st.name} site's nightly file archives")
        date = args.get("date")
        location, taken, available = self._find(ctx, remote, nightly, "files", f"the {st.name} files", date)
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
        chosen = {"chosen_date": date} if date else {}
        artifact = one.files_artifact(st, location, checked, None, source="nightly", strip=strip, **chosen)
        artifact.taken_at = taken.isoformat(timespec="seconds")
        output = self._output(location, artifact.taken_at, str(checked["sha256"]), "archive read")
        result = Result(
            output={**output, **listed(available, artifact.size)},
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
