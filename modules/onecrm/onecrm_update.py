"""onecrm_update: install a 1CRM update package (a ZIP) on a site, in three journaled steps.

1CRM has no public command-line updater: the package is a ZIP of files laid out like the install
folder (`package.strip` drops leading folders), installed like an extension, after which the
database is upgraded by a configured command (`onecrm.update.command`, run in the install folder)
or by an operator in the web UI (a gate in the playbook). The steps:

- `step: prepare` (not destructive): the package is found (or downloaded from `package.url` onto
  the host), its sha256 checked when given, every member read (CRCs) and listed. A member with
  an absolute path, a `..` or a link out of the folder refuses the package with nothing written.
  Its manifest (`manifest.php` `'version' => '...'`, else the package's `sugar_version.php`)
  must name a version (and the configured one). Then exactly the files the update will overwrite
  (those whose content differs from the package's) are copied, hashed, zipped with a manifest of
  them and of the files and folders the update will add, read back and recorded as an
  `onecrm_update_backup` artifact of `files:<host>:<install>`. Before that, a live update past
  its latest start (`live.latest_start`, default without a contract: the guide's 15:00 test
  deadline, on the run's recorded day) is refused with the time and zone, nothing written;
  step install checks it again before extracting (a run resumed later that day or the next).
- `step: install` (destructive: the files and the database): refuses unless this run recorded
  the backup for this very package and every backed-up file is still as backed up (or already
  the package's). Extracts the package through `archive.extract` (which checks every member
  again before writing anything), hands the written files to the web user, and runs the update
  command.
- `step: verify`: files and database state the package's version, and the site answers its URL
  with the expected status and text, outside maintenance.

A site already at the package's version (files and database) is `ok` at every step.
"""

from __future__ import annotations

import base64
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.api.module import Artifact, Module, ModuleFailed, Result, TaskContext
from engine.api.primitives import Remote
from engine.core.model import Host
from modules._common import call, call_optional, object_schema, stat
from modules.onecrm import _onecrm as one
from modules.onecrm import _onecrm_day as same_day
from modules.onecrm import _onecrm_files as tree
from modules.onecrm.onecrm_version import mismatch, versions
from modules.web.http_check import get, verdict

STEPS = ("prepare", "install", "verify")
MANIFEST = "manifest.json"
DEFAULT_TIMEOUT = 1800.0
_SHOWN = 10


class NotFetched(ModuleFailed):
    """The package is to be downloaded, which only a real run does."""


@dataclass
class Package:
    """The update ZIP on the host, read and checked."""

    path: str
    sha256: str
    version: str
    strip: int
    entries: list[dict[str, Any]]
    digests: dict[str, str] = field(default_factory=dict)

    def members(self) -> dict[str, dict[str, Any]]:
        """path below the install folder -> listing entry (folders and dropped members left out)."""
        out = {}
        for entry in self.entries:
            rel = one.member_path(str(entry["name"]), self.strip)
            if rel is not None:
                out[rel] = entry
        return out


def package_settings(ctx: TaskContext) -> dict[str, Any]:
    return dict(one.setting(ctx, "package", default={}) or {})


def load_package(ctx: TaskContext, remote: Remote, fetch: bool = True) -> Package:
    """Find (or download), hash, read and list the package; ModuleFailed for anything unsound."""
    conf = package_settings(ctx)
    path, wanted = str(conf["path"]), str(conf.get("sha256") or "").lower()
    found = call_optional(remote, "file.hash", path=path)
    if conf.get("url") and (found is None or found["digest"] != wanted):
        if not fetch:
            raise NotFetched(f"would download the update package {conf['url']} to {path}")
        call(remote, "file.mkdir", path=posixpath.dirname(path), parents=True)
        one.download(
            remote, str(conf["url"]), path, float(one.setting(ctx, "update", "timeout", default=600))
        )
        found = call(remote, "file.hash", path=path)
    if found is None:
        raise ModuleFailed(f"the update package {path} is not on {remote.host_name}")
    if wanted and found["digest"] != wanted:
        raise ModuleFailed(f"the update package {path} has sha256 {found['digest']}, expected {wanted}")
    readable = call(remote, "archive.verify", path=path)
    if not readable.get("ok"):
        raise ModuleFailed(f"the update package {path} is not a readable zip: {readable.get('error')}")
    entries = call(remote, "archive.list", path=path)["entries"]
    unsafe = one.unsafe_members(entries)
    if unsafe:
        raise ModuleFailed(
            f"refused: the update package {path} has unsafe members, nothing was written: "
            + "; ".join(unsafe[:_SHOWN]),
            output={"unsafe": [str(e["name"]) for e in entries if e.get("unsafe")]},
        )
    package = Package(path, found["digest"], "", int(conf.get("strip") or 0), entries)
    package.version = package_version(ctx, remote, package)
    expected = conf.get("version")
    if expected is not None and str(expected) != package.version:
        raise ModuleFailed(f"the update package {path} is version {package.version}, expected {expected}")
    package.digests = one.zip_digests(remote, path)
    return package


def package_version(ctx: TaskContext, remote: Remote, package: Package) -> str:
    """The version the package's manifest names (manifest.php, else its sugar_version.php)."""
    members = package.members()
    for rel, parse in (
        ("manifest.php", one.parse_manifest_version),
        (one.version_file(ctx), one.parse_sugar_version),
    ):
        entry = members.get(rel)
        if entry is None:
            continue
        text = one.read_zip_text(remote, package.path, str(entry["name"]))
        version = parse(text or "")
        if version:
            return version
    raise ModuleFailed(f"the update package {package.path} has no manifest with a version (manifest.php)")


def plan_files(remote: Remote, st: one.Site, package: Package) -> dict[str, Any]:
    """What extracting the package changes: files it overwrites, files and folders it adds."""
    members = package.members()
    folders = {posixpath.dirname(rel) for rel in members} | {
        rel for rel, e in members.items() if e.get("type") == "directory"
    }
    parents = set()
    for folder in folders:
        while folder:
            parents.add(folder)
            folder = posixpath.dirname(folder)
    paths = sorted(set(members) | parents)
    there = tree.installed(remote, st.install_path, paths)
    overwritten, created_files, clashes = [], [], []
    for rel, entry in sorted(members.items()):
        present = there.get(rel)
        if entry.get("type") == "directory" or rel in parents:
            if present is not None and present["type"] != "directory":
                clashes.append(f"{rel} is a {present['type']} where the package has a folder")
            continue
        if present is None:
            created_files.append(rel)
        elif present["type"] == "directory":
            clashes.append(f"{rel} is a folder where the package has a {entry.get('type')}")
        elif present["sha256"] != package.digests.get(str(entry["name"])):
            overwritten.append({"path": rel, **present})
    if clashes:
        raise ModuleFailed(f"the package does not fit {st.install_path}: " + "; ".join(clashes[:_SHOWN]))
    created_dirs = sorted(p for p in parents if p not in there)
    return {"overwritten": overwritten, "created_files": created_files, "created_dirs": created_dirs}


class OnecrmUpdate(Module):
    """prepare (check the package, back up what it overwrites) -> install -> verify."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Install the 1CRM update package on a site: prepare (verify, back up), install, verify.",
        {"site": one.SITE_ARG, "step": {"enum": list(STEPS), "description": "Which of the three steps."}},
        ("site", "step"),
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [one.resource_of(host, args, "files")] if args.get("step") == "prepare" else []

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        if args.get("step") != "install":
            return []
        return [one.resource_of(host, args, "files"), one.resource_of(host, args, "database")]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        st = one.site(ctx, str(args["site"]))
        remote = one.require_host(ctx, st.host, f"the {st.name} install folder")
        if stat(remote, st.install_path) is None:
            raise ModuleFailed(f"the {st.name} install folder {st.install_path} does not exist on {st.host}")
        step = {"prepare": self._prepare, "install": self._install, "verify": self._verify}[str(args["step"])]
        try:
            return step(ctx, st, remote)
        except NotFetched as exc:
            if not ctx.check_mode:
                raise ModuleFailed(f"{exc}: the prepare step downloads it first") from None
            return Result(changed=True, msg=str(exc))

    # --- prepare ------------------------------------------------------------------------------------
    def _prepare(self, ctx: TaskContext, st: one.Site, remote: Remote) -> Result:
        package = load_package(ctx, remote, fetch=not ctx.check_mode)
        found = versions(ctx, st.name)
        output: dict[str, Any] = {
            "package": {"path": package.path, "sha256": package.sha256, "version": package.version},
            "version_before": {"files": found["files"], "database": found["database"]},
        }
        if mismatch(found, package.version) is None:
            return Result(output=output, msg=f"{st.name} is already at {package.version}")
        same_day.refuse_late_start(ctx, st)  # before anything is written: too late to test it today
        plan = plan_files(remote, st, package)
        output.update(overwritten=len(plan["overwritten"]), created=len(plan["created_files"]))
        summary = (
            f"{len(plan['overwritten'])} file(s) to overwrite, {len(plan['created_files'])} to add "
            f"({found['files']} -> {package.version})"
        )
        if ctx.check_mode:
            return Result(changed=True, output=output, msg=f"would back up: {summary}")
        manifest = {
            "site": st.name,
            "install_path": st.install_path,
            "package": output["package"],
            "version_before": output["version_before"],
            **plan,
        }
        artifact = self._backup(ctx, st, remote, manifest)
        output["backup"] = artifact.location
        return Result(changed=True, output=output, artifacts=[artifact], msg=f"backed up {summary}")

    def _backup(self, ctx: TaskContext, st: one.Site, remote: Remote, manifest: dict[str, Any]) -> Artifact:
        """Copy the files to overwrite into a zip with the manifest, read it back, record it."""
        staging = one.backup_path(ctx, st, "update-backup", "")
        copies_dir = posixpath.join(staging, "tree")
        entries = list(manifest["overwritten"])
        folders = sorted({posixpath.dirname(posixpath.join(copies_dir, e["path"])) for e in entries})
        call(remote, "file.remove", path=staging, recursive=True)
        steps = [("file.mkdir", {"path": copies_dir, "parents": True})]
        steps += [("file.mkdir", {"path": f, "parents": True}) for f in folders]
        steps += [
            ("file.copy", {"src": st.path(e["path"]), "dest": posixpath.join(copies_dir, e["path"])})
            for e in entries
        ]
        tree.run_all(remote, steps, "backing up the files the update overwrites")
        copies = tree.installed(remote, copies_dir, [e["path"] for e in entries])
        wrong = [e["path"] for e in entries if copies.get(e["path"], {}).get("sha256") != e["sha256"]]
        if wrong:
            raise ModuleFailed(f"the backup copies differ from the install: {', '.join(wrong[:_SHOWN])}")
        body = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        call(
            remote,
            "file.write",
            path=posixpath.join(staging, MANIFEST),
            content_b64=base64.b64encode(body).decode(),
        )
        dest = staging + ".zip"
        created = call(remote, "archive.create", src=staging, dest=dest, format="zip")
        checked = call(remote, "archive.verify", path=dest)
        if not checked.get("ok") or checked.get("sha256") != created.get("sha256"):
            raise ModuleFailed(f"the update backup {dest} failed verification: {checked.get('error')}")
        call(remote, "file.remove", path=staging, recursive=True)
        return Artifact(
            kind=one.UPDATE_BACKUP_KIND,
            resource=st.files_resource,
            location=dest,
            host=st.host,
            size=int(created["size"]),
            sha256=str(created["sha256"]),
            verified=True,
            meta={
                "site": st.name,
                "install_path": st.install_path,
                "package_sha256": manifest["package"]["sha256"],
                "package_version": manifest["package"]["version"],
                "version_before": manifest["version_before"],
                "overwritten": len(manifest["overwritten"]),
                "created": len(manifest["created_files"]),
            },
        )

    # --- install ------------------------------------------------------------------------------------
    def _install(self, ctx: TaskContext, st: one.Site, remote: Remote) -> Result:
        package = load_package(ctx, remote, fetch=False)
        found = versions(ctx, st.name)
        if mismatch(found, package.version) is None:
            return Result(
                output={"version": package.version}, msg=f"{st.name} is already at {package.version}"
            )
        if found.get("files") != package.version:  # not yet extracted (a resume the next day, too)
            same_day.refuse_late_start(ctx, st)
        command = one.setting(ctx, "update", "command")
        if ctx.check_mode:  # the prepare step backed nothing up either: nothing to check against
            what = f"would extract {package.path} into {st.install_path}"
            return Result(changed=True, msg=what + (" and run the update command" if command else ""))
        backup = self._recorded_backup(ctx, st, remote, package)
        manifest = tree.read_manifest(remote, backup.location)
        self._unchanged_since_backup(remote, st, package, manifest)
        output: dict[str, Any] = {
            "package": package.path,
            "version": package.version,
            "backup": backup.location,
        }
        extracted = call(
            remote,
            "archive.extract",
            src=package.path,
            dest=st.install_path,
            overwrite=True,
            strip=package.strip,
        )
        written = (
            [e["path"] for e in manifest["overwritten"]]
            + manifest["created_files"]
            + manifest["created_dirs"]
        )
        one.set_owner(remote, st, [st.path(p) for p in written])
        output["files_written"] = extracted.get("files", 0)
        if command:
            output["command"] = self._command(ctx, st, remote, [str(a) for a in command])
        return Result(
            changed=True,
            output=output,
            msg=f"extracted {extracted.get('files', 0)} file(s) into {st.install_path}",
        )

    def _recorded_backup(self, ctx: TaskContext, st: one.Site, remote: Remote, package: Package) -> Artifact:
        """This run's verified backup of the files this very package overwrites, still intact."""
        candidates = [
            a
            for a in ctx.run.artifacts.get(st.files_resource, [])
            if a.kind == one.UPDATE_BACKUP_KIND
            and a.verified
            and a.meta.get("package_sha256") == package.sha256
        ]
        if not candidates:
            raise ModuleFailed(
                f"refusing to install: this run recorded no verified backup of the files {package.path} "
                f"overwrites in {st.install_path} (run `onecrm_update` with step: prepare first)"
            )
        backup = candidates[-1]
        found = call_optional(remote, "file.hash", path=backup.location)
        if found is None or found["digest"] != backup.sha256:
            raise ModuleFailed(
                f"refusing to install: the backup {backup.location} is gone or changed since verified"
            )
        return backup

    def _unchanged_since_backup(
        self, remote: Remote, st: one.Site, package: Package, manifest: Mapping
    ) -> None:
        """Every backed-up file is still as backed up, or already the package's (an interrupted run)."""
        entries = list(manifest.get("overwritten") or [])
        now = tree.installed(remote, st.install_path, [e["path"] for e in entries])
        by_rel = {rel: package.digests.get(str(e["name"])) for rel, e in package.members().items()}
        changed = [
            e["path"]
            for e in entries
            if now.get(e["path"], {}).get("sha256") not in (e["sha256"], by_rel.get(e["path"]))
        ]
        if changed:
            raise ModuleFailed(
                f"refusing to install: {len(changed)} file(s) changed since they were backed up, "
                f"e.g. {', '.join(changed[:_SHOWN])}; prepare again"
            )

    def _command(self, ctx: TaskContext, st: one.Site, remote: Remote, argv: list[str]) -> dict[str, Any]:
        """The configured update command, in the install folder; a non-zero exit fails the step."""
        env = {str(k): str(v) for k, v in (one.setting(ctx, "update", "env", default={}) or {}).items()}
        timeout = float(one.setting(ctx, "update", "timeout", default=DEFAULT_TIMEOUT))
        answer = call(remote, "process.run", argv=argv, cwd=st.install_path, env=env or None, timeout=timeout)
        result = {
            "argv": argv,
            "rc": answer["rc"],
            "stdout": one.tail(answer["stdout"]),
            "stderr": one.tail(answer["stderr"]),
        }
        if answer["rc"] != 0:
            raise ModuleFailed(
                f"the update command {argv[0]} exited with {answer['rc']}: {result['stderr']}",
                output={"command": result},
            )
        return result

    # --- verify ------------------------------------------------------------------------------------------
    def _verify(self, ctx: TaskContext, st: one.Site, remote: Remote) -> Result:
        package = load_package(ctx, remote, fetch=False)
        found = versions(ctx, st.name)
        problems = [p for p in [mismatch(found, package.version)] if p]
        if stat(remote, one.maintenance_path(ctx, st)) is not None:
            problems.append(f"the {st.name} site is still in maintenance")
        request = {
            "url": st.url,
            "contains": st.get("expect_text"),
            "validate_certs": st.get("validate_certs", True),
        }
        answer = get(ctx, request)
        answered = verdict(answer, request)
        if answered:
            problems.append(f"{st.url} answered badly: {answered}")
        output = {**found, "package_version": package.version, "url": st.url, "status": answer.get("status")}
        if problems and not ctx.check_mode:
            raise ModuleFailed("; ".join(problems), output=output)
        message = f"{st.name} is at {package.version} and answers {st.url}"
        if problems:
            message = "; ".join(problems) + " (check mode: nothing was installed)"
        return Result(output=output, msg=message)
