"""Shared by the 1CRM modules (`onecrm_*`): the site, its version, its backups, small host helpers.

Why one place: every 1CRM module names a site (`live`, `test`) and reads the same `onecrm:`
section, reads the version the same way (sugar_version.php, the `config` table), names the same
resources for the planner and picks the same backup for a rollback, so the data-loss estimate a
gate shows is about the backup the restore then uses. Nothing here is a module.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import math
import posixpath
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from engine.api.module import Artifact, ModuleFailed, TaskContext
from engine.api.primitives import Remote
from engine.core import clock
from engine.core.model import Host
from engine.db.database import connect
from engine.db.tasks import db_failures, target_of, verified_backups
from modules._common import call, call_many, call_optional
from modules.onecrm.product.estate import (
    DEFAULT_MAINTENANCE_FILE,
    DEFAULT_VERSION_DB,
    DEFAULT_VERSION_FILE,
    Estate,
    Site,
    estate_for_host,
    estate_of,
    sites_of,
)

SITE_ARG = {"enum": ["live", "test"], "description": "Which 1CRM site of the `onecrm:` section."}
PART_ARG = {"enum": ["database", "files"], "description": "The site's database or its install folder."}

#: artifact kinds that hold a whole install folder / only the files an update overwrote
FULL_TREE_KINDS = ("onecrm_files_archive", "archive")
UPDATE_BACKUP_KIND = "onecrm_update_backup"

_SUGAR_VERSION = re.compile(r"""\$sugar_version\s*=\s*['"]([^'"]+)['"]""")
_MANIFEST_VERSION = re.compile(r"""['"]version['"]\s*=>\s*['"]([^'"]+)['"]""")

#: Reads one member of a zip on the host. Constant code: the archive and member travel as argv.
_READ_MEMBER = (
    "import sys, zipfile\n"
    "with zipfile.ZipFile(sys.argv[1]) as z:\n"
    "    try:\n"
    "        sys.stdout.buffer.write(z.read(sys.argv[2]))\n"
    "    except KeyError:\n"
    "        sys.exit(3)\n"
)
_MEMBER_MISSING = 3
#: sha256 of every non-folder member of a zip on the host, as JSON. Constant code; the path is argv.
_ZIP_DIGESTS = (
    "import hashlib, json, sys, zipfile\n"
    "out = {}\n"
    "with zipfile.ZipFile(sys.argv[1]) as z:\n"
    "    for info in z.infolist():\n"
    "        if info.is_dir():\n"
    "            continue\n"
    "        h = hashlib.sha256()\n"
    "        with z.open(info) as f:\n"
    "            for chunk in iter(lambda: f.read(1 << 20), b''):\n"
    "                h.update(chunk)\n"
    "        out[info.filename] = h.hexdigest()\n"
    "json.dump(out, sys.stdout)\n"
)
#: Downloads a URL to a file next to its destination, then renames it. Constant code; values are argv.
_DOWNLOAD = (
    "import os, shutil, sys, urllib.request\n"
    "url, dest, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
    "part = dest + '.part'\n"
    "with urllib.request.urlopen(url, timeout=timeout) as answer, open(part, 'wb') as out:\n"
    "    shutil.copyfileobj(answer, out, 1 << 20)\n"
    "os.replace(part, dest)\n"
)


# --- the estate and its sites ---------------------------------------------------------------------
def estate(ctx: TaskContext) -> Estate:
    """The 1CRM estate of the run (ModuleFailed when the inventory has no `onecrm:` section)."""
    found = estate_of(ctx.run.inventory) if ctx.run.inventory is not None else estate_for_host(ctx.host)
    if found is None:
        raise ModuleFailed("this module needs an inventory with a `onecrm:` section (see docs/onecrm.md)")
    return found


def site(ctx: TaskContext, name: str) -> Site:
    """The site `name` with its values rendered (templates and vault values inside are resolved)."""
    est = estate(ctx)
    if name not in est.sites:
        raise ModuleFailed(f"the `onecrm:` section has no {name!r} site")
    rendered = sites_of({name: ctx.render(dict(est.sites[name].raw))})
    return rendered[name]


def setting(ctx: TaskContext, *path: str, default: Any = None) -> Any:
    """A value of the `onecrm:` section, rendered (the update command may hold a vault value)."""
    value = estate(ctx).setting(*path, default=default)
    return ctx.render(value) if value is not None else default


def planned_site(host: Host, args: Mapping[str, Any]) -> Site | None:
    """The site for `protects()`/`destroys()`, which see only the arguments and the host."""
    est = estate_for_host(host)
    return est.site(str(args.get("site"))) if est is not None else None


def resource_of(host: Host, args: Mapping[str, Any], part: str) -> str:
    """`files:<host>:<install>` or `db:<target>` of the site; a name no backup has without an estate."""
    found = planned_site(host, args)
    if found is None:
        return f"onecrm:{args.get('site')}:{part} (no `onecrm:` section with this site in the inventory)"
    return found.files_resource if part == "files" else found.database_resource


def require_host(ctx: TaskContext, expected: str, what: str) -> Remote:
    """The task's connection, after checking it reaches `expected` (the host that holds `what`)."""
    remote = ctx.require_remote()
    if remote.host_name != expected:
        raise ModuleFailed(
            f"{what} is on host {expected!r}: run this task there (`delegate_to: {expected}`), "
            f"not on {remote.host_name!r}"
        )
    return remote


def db_host(ctx: TaskContext, st: Site) -> str:
    return estate(ctx).db_host(st)


# --- versions ------------------------------------------------------------------------------------------
def parse_sugar_version(text: str) -> str | None:
    found = _SUGAR_VERSION.search(text)
    return found.group(1) if found else None


def parse_manifest_version(text: str) -> str | None:
    found = _MANIFEST_VERSION.search(text)
    return found.group(1) if found else None


def version_file(ctx: TaskContext) -> str:
    return str(setting(ctx, "version", "file", default=DEFAULT_VERSION_FILE))


def files_version(ctx: TaskContext, remote: Remote, st: Site) -> str | None:
    """The version sugar_version.php states (None when the file is missing or says nothing)."""
    path = st.path(version_file(ctx))
    value = call_optional(remote, "file.read", path=path, max_bytes=65536)
    if value is None:
        return None
    return parse_sugar_version(base64.b64decode(value["content_b64"]).decode("utf-8", "replace"))


def database_version(ctx: TaskContext, st: Site) -> str | None:
    """The version the database records (`config` table by default; see docs/onecrm.md)."""
    spec = {**DEFAULT_VERSION_DB, **(setting(ctx, "version", default={}) or {})}
    spec.pop("file", None)
    target = target_of(ctx, st.database)
    with db_failures(), connect(target) as db:
        value = recorded_version(db, spec)
        db.rollback()
    return value


def recorded_version(db: Any, spec: Mapping[str, Any]) -> str | None:
    """The version row a database keeps (`spec`: table, column, where), read with bound values."""
    where = dict(spec.get("where") or {})
    q = db.dialect.quote_ident
    condition = " AND ".join(f"{q(column)} = ?" for column in where) or "1 = 1"
    value = db.value(
        f"SELECT {q(spec['column'])} FROM {q(spec['table'])} WHERE {condition}",
        tuple(str(v) for v in where.values()),
    )
    return None if value is None else str(value)


# --- maintenance flag ------------------------------------------------------------------------------------
def maintenance_path(ctx: TaskContext, st: Site) -> str:
    return st.path(str(setting(ctx, "maintenance", "file", default=DEFAULT_MAINTENANCE_FILE)))


# --- archives on the host ---------------------------------------------------------------------------------
def python_of(remote: Remote) -> str:
    """The Python the host's helper runs with (`ssh.python`, else python3): every POSIX host here has it."""
    connection = remote.connection
    python = getattr(connection, "python", None) or getattr(
        getattr(connection, "settings", None), "python", None
    )
    return str(python or "python3")


def read_zip_text(remote: Remote, archive: str, member: str) -> str | None:
    """One text member of a zip, read on the host (None when the zip has no such member)."""
    answer = call(remote, "process.run", argv=[python_of(remote), "-c", _READ_MEMBER, archive, member])
    if answer["rc"] == _MEMBER_MISSING:
        return None
    if answer["rc"] != 0:
        raise ModuleFailed(f"cannot read {member} from {archive}: {answer['stderr'].strip()[-500:]}")
    return str(answer["stdout"])


def zip_digests(remote: Remote, archive: str) -> dict[str, str]:
    """member name -> sha256 of its content (a link's content is its target), computed on the host."""
    answer = call(remote, "process.run", argv=[python_of(remote), "-c", _ZIP_DIGESTS, archive])
    if answer["rc"] != 0:
        raise ModuleFailed(f"cannot read {archive}: {tail(answer['stderr'], 500)}")
    return dict(json.loads(answer["stdout"]))


def download(remote: Remote, url: str, dest: str, timeout: float) -> None:
    """Fetch `url` into `dest` on the host (written under a temporary name, then renamed)."""
    argv = [python_of(remote), "-c", _DOWNLOAD, url, dest, str(timeout)]
    answer = call(remote, "process.run", argv=argv, timeout=timeout + 30)
    if answer["rc"] != 0:
        raise ModuleFailed(f"download of {url} to {dest} failed: {tail(answer['stderr'], 500)}")


def member_path(name: str, strip: int) -> str | None:
    """An archive member's path below the install folder after `strip` leading folders."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts[strip:]) if len(parts) > strip else None


def unsafe_members(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['name']} ({e['unsafe']})" for e in entries if e.get("unsafe")]


def set_owner(remote: Remote, st: Site, paths: list[str]) -> int:
    """Give the files cutover wrote to the web user (PHP must be able to read and write them)."""
    owner, group = st.get("web_user"), st.get("web_group")
    if not paths or not (owner or group):
        return 0
    calls = [("file.attrs", {"path": p, "owner": owner, "group": group}) for p in paths]
    changed = 0
    for value, failed in call_many(remote, calls):
        if failed is not None and failed.get("kind") != "not_found":
            raise ModuleFailed(f"cannot hand files to {owner or group}: {failed.get('error')}")
        changed += bool(value and value.get("changed"))
    return changed


def backup_path(ctx: TaskContext, st: Site, what: str, extension: str) -> str:
    """`<backup_dir>/<run id>-<site>-<what><ext>`: one new file per run, never overwriting another."""
    return posixpath.join(st.backup_dir, f"{ctx.run.run_id}-{st.name}-{what}{extension}")


@contextlib.contextmanager
def progress_shown(ctx: TaskContext, remote: Remote, what: str) -> Iterator[None]:
    """While the block runs, the host's progress reports reach `ctx.progress` as throughput and
    time left (`archiving: 412 of 1,000 MB, 83.1 MB/s, 2,345 files/s, about 7 s left`)."""
    connection = remote.connection
    if not hasattr(connection, "on_progress"):
        yield
        return
    started = time.monotonic()

    def show(values: dict[str, Any]) -> None:
        ctx.progress(throughput_text(what, values, time.monotonic() - started))

    previous, connection.on_progress = connection.on_progress, show
    try:
        yield
    finally:
        connection.on_progress = previous


def throughput_text(what: str, values: Mapping[str, Any], elapsed: float) -> str:
    """`what: done of total MB, MB/s, files/s, about N s left` from a progress report."""
    done, total = float(values.get("bytes") or 0), float(values.get("bytes_total") or 0)
    files = int(values.get("files") or 0)
    rate = done / elapsed if elapsed > 0 else 0.0
    text = f"{what}: {done / 1e6:,.0f} of {total / 1e6:,.0f} MB, {rate / 1e6:,.1f} MB/s"
    if files and elapsed > 0:
        text += f", {files / elapsed:,.0f} files/s"
    if rate > 0 and total > done:
        text += f", about {math.ceil((total - done) / rate):,d} s left"
    return text


def tail(text: str, size: int = 2000) -> str:
    return text.strip()[-size:]


def files_artifact(
    st: Site, location: str, archive: Mapping[str, Any], tree: Mapping[str, Any] | None, **meta: Any
) -> Artifact:
    """The record of a verified whole-folder archive of a site (what a files restore accepts)."""
    artifact = Artifact(
        kind=FULL_TREE_KINDS[0],
        resource=st.files_resource,
        location=location,
        host=st.host,
        size=int(archive.get("size") or 0),
        sha256=str(archive["sha256"]),
        verified=True,
        meta={"site": st.name, "install_path": st.install_path, **meta},
    )
    if tree is not None:
        artifact.meta.update(tree_digest=tree["digest"], files=tree["files"])
    return artifact


# --- which backup a restore uses ------------------------------------------------------------------------------
def database_backup(ctx: TaskContext, st: Site) -> tuple[Artifact | None, str]:
    """The verified dump a restore of the site's database uses, and where it was recorded.

    A dump the operator chose by date (an older nightly one) wins; then the rolled-back run's
    (`--from-run`) dumps over this run's. Within them the NEWEST: the
    1CRM playbooks take backups only before the update, so the newest is the one closest to it and
    loses the least data (the morning's dump rather than last night's).
    """
    prior, current = verified_backups(ctx, target_of(ctx, st.database))
    dated = [a for a in current if a.meta.get("chosen_date")]
    if dated:  # an older backup the operator chose by date (`date:` of onecrm_backup_check) wins
        return max(dated, key=lambda a: a.taken_at), "this run"
    for pool, where in ((prior, "run"), (current, "this run")):
        if pool:
            return max(pool, key=lambda a: a.taken_at), where
    return None, ""


def files_backup(ctx: TaskContext, st: Site, full_only: bool = False) -> tuple[Artifact | None, str]:
    """The verified backup a restore of the site's files uses, and where it was recorded.

    An update's own backup (exactly the files it overwrote, plus the list of those it added) wins
    over a whole-folder archive: it undoes the update and keeps what users uploaded since. A
    refresh of another site (`full_only`) needs a whole folder.
    """
    kinds = FULL_TREE_KINDS if full_only else (UPDATE_BACKUP_KIND, *FULL_TREE_KINDS)
    resource = st.files_resource
    dated = [a for a in ctx.run.artifacts.get(resource, []) if a.verified and a.meta.get("chosen_date")]
    if dated:  # an older backup chosen by date wins, as for the database
        return max(dated, key=lambda a: a.taken_at), "this run"
    pools = (
        (list(ctx.run.prior_artifacts.get(resource, [])), "run"),
        (list(ctx.run.artifacts.get(resource, [])), "this run"),
    )
    for pool, where in pools:
        usable = [a for a in pool if a.verified and a.sha256 and a.kind in kinds]
        for kind in kinds:
            of_kind = [a for a in usable if a.kind == kind]
            if of_kind:
                return max(of_kind, key=lambda a: a.taken_at), where
    return None, ""


# --- time ---------------------------------------------------------------------------------------------------
def cutoff(zone_name: str, hhmm: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """Yesterday at HH:MM in the estate's zone: last night's backup must be newer than this."""
    zone = ZoneInfo(zone_name)
    local = (now or clock.now()).astimezone(zone)
    hour, minute = (int(p) for p in hhmm.split(":"))
    yesterday = local.date() - _dt.timedelta(days=1)
    return _dt.datetime(yesterday.year, yesterday.month, yesterday.day, hour, minute, tzinfo=zone)


def local_text(moment: _dt.datetime, zone_name: str) -> str:
    return moment.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M %Z")


def zone_name(ctx: TaskContext) -> str:
    """The estate's time zone (the inventory's `timezone:`; `onecrm.timezone` must equal it)."""
    return str(ctx.run.inventory.timezone) if ctx.run.inventory is not None else "UTC"


def today(ctx: TaskContext) -> _dt.date:
    """The date it is now in the estate's zone, by the controller's clock."""
    return clock.now().astimezone(ZoneInfo(zone_name(ctx))).date()


def run_day(ctx: TaskContext) -> _dt.date:
    """The day of this run, recorded in the journal when it started (kept when it resumes)."""
    return _dt.date.fromisoformat(ctx.run.run_day) if ctx.run.run_day else today(ctx)


def at(ctx: TaskContext, day: _dt.date, hhmm: str) -> _dt.datetime:
    """HH:MM on `day` in the estate's zone."""
    hour, minute = (int(p) for p in hhmm.split(":"))
    return _dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone_name(ctx)))
