"""Putting a 1CRM install folder back from a backup, through the host's primitives.

Two kinds of backup, two ways back:
- an update's own backup (`onecrm_update` step prepare): the files the update overwrote and the
  list of the files and folders it added. `revert_update` removes what the update added and
  copies the old files back: everything else in the folder (users' uploads since) is left alone.
- a whole-folder archive (`onecrm_backup`, last night's archive, the live system's archive when a
  test system is refreshed): `sync_tree` makes the folder exactly the archive's content (files
  added since are removed), except the `keep` files of the folder being restored.

Both extract into a staging folder first with `archive.extract`, which refuses unsafe members
before writing anything, and both check the result (file digests, tree hash) before they report
success. Nothing here is a module.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from typing import Any

from engine.api.module import ModuleFailed, TaskContext
from engine.api.primitives import Remote
from modules._common import call, call_many
from modules.files.unarchive import NO_LIMITS
from modules.onecrm import _onecrm as one

_SHOWN = 10

#: The restores extract this run's own backups, checked by sha256 before they are used: the size,
#: count and ratio limits that stop a hostile package would only refuse a large install.
OWN_BACKUP = NO_LIMITS


def link_digest(target: str) -> str:
    """A link's content is its target (as a zip stores it): its digest compares links with members."""
    return hashlib.sha256(target.encode("utf-8", "surrogateescape")).hexdigest()


def installed(remote: Remote, root: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    """rel path -> {type, sha256, owner, group} of what is there (absent paths are left out)."""
    calls = [("file.stat", {"path": posixpath.join(root, p), "follow": False}) for p in paths]
    found: dict[str, dict[str, Any]] = {}
    for rel, (value, _failed) in zip(paths, call_many(remote, calls), strict=True):
        if value is None or not value.get("exists", True):
            continue
        kind = str(value.get("type"))
        digest = link_digest(str(value.get("target") or "")) if kind == "link" else None
        found[rel] = {
            "type": kind,
            "sha256": digest,
            "owner": value.get("owner"),
            "group": value.get("group"),
        }
    files = [rel for rel, v in found.items() if v["type"] == "file"]
    hashes = call_many(remote, [("file.hash", {"path": posixpath.join(root, p)}) for p in files])
    for rel, (value, failed) in zip(files, hashes, strict=True):
        if failed is not None:
            raise ModuleFailed(f"cannot read {posixpath.join(root, rel)}: {failed.get('error')}")
        found[rel]["sha256"] = str(value["digest"])
    return found


def run_all(remote: Remote, calls: list[tuple[str, dict[str, Any]]], what: str) -> list[Any]:
    """Several calls in one round trip; the first refusal fails the task with `what`."""
    values = []
    for value, failed in call_many(remote, calls):
        if failed is not None:
            raise ModuleFailed(f"{what}: {failed.get('error')}")
        values.append(value)
    return values


def deepest_first(paths: list[str]) -> list[str]:
    return sorted(paths, key=lambda p: (-p.count("/"), p))


# --- an update's own backup --------------------------------------------------------------------------
def update_reverted(remote: Remote, st: one.Site, manifest: Mapping[str, Any]) -> bool:
    """The folder already holds the backed-up files and none of the update's additions."""
    entries = list(manifest.get("overwritten") or [])
    now = installed(remote, st.install_path, [e["path"] for e in entries] + list(manifest["created_files"]))
    if any(rel in now for rel in manifest["created_files"]):
        return False
    return all(now.get(e["path"], {}).get("sha256") == e["sha256"] for e in entries)


def revert_update(
    remote: Remote, st: one.Site, backup: str, staging: str, manifest: Mapping[str, Any]
) -> dict:
    """Remove what the update added, copy back what it overwrote, check every file's digest."""
    root = st.install_path
    entries = list(manifest.get("overwritten") or [])
    call(remote, "file.remove", path=staging, recursive=True)
    call(remote, "archive.extract", src=backup, dest=staging, **OWN_BACKUP)
    removals = [("file.remove", {"path": posixpath.join(root, p)}) for p in manifest["created_files"]]
    removals += [
        ("file.remove", {"path": posixpath.join(root, p), "recursive": True})
        for p in deepest_first(list(manifest["created_dirs"]))
    ]
    removed = sum(bool(v.get("changed")) for v in run_all(remote, removals, "removing the update's files"))
    copies = [
        (
            "file.copy",
            {"src": posixpath.join(staging, "tree", e["path"]), "dest": posixpath.join(root, e["path"])},
        )
        for e in entries
    ]
    run_all(remote, copies, "copying the backed-up files back")
    owners = [
        (
            "file.attrs",
            {"path": posixpath.join(root, e["path"]), "owner": e.get("owner"), "group": e.get("group")},
        )
        for e in entries
        if e.get("owner") or e.get("group")
    ]
    run_all(remote, owners, "giving the files back to their owner")
    call(remote, "file.remove", path=staging, recursive=True)
    if not update_reverted(remote, st, manifest):
        raise ModuleFailed(f"{root} does not match the backup {backup} after the restore")
    return {"restored": len(entries), "removed": removed}


# --- a whole-folder archive --------------------------------------------------------------------------------
def listing(remote: Remote, root: str) -> dict[str, str]:
    """rel path -> type of everything below `root` (links not followed)."""
    entries = call(remote, "file.list", path=root, recursive=True)["entries"]
    return {str(e["path"]): str(e["type"]) for e in entries}


def sync_tree(
    ctx: TaskContext,
    remote: Remote,
    st: one.Site,
    archive: str,
    strip: int,
    staging: str,
    keep: tuple[str, ...],
) -> dict[str, Any]:
    """Make the install folder exactly the archive's tree (but for `keep`); checked by tree hash."""
    root = st.install_path
    call(remote, "file.remove", path=staging, recursive=True)
    with one.progress_shown(ctx, remote, f"extracting {archive}"):
        call(remote, "archive.extract", src=archive, dest=staging, strip=strip, **OWN_BACKUP)
    _carry_over(remote, root, staging, keep)
    wanted, present = listing(remote, staging), listing(remote, root)
    stale = [p for p, kind in present.items() if wanted.get(p) != kind]
    gone: list[str] = []
    for path in sorted(stale):  # parents before children: a removed folder takes its content along
        if not any(path.startswith(g + "/") for g in gone):
            gone.append(path)
    run_all(
        remote,
        [("file.remove", {"path": posixpath.join(root, p), "recursive": True}) for p in deepest_first(gone)],
        "removing files the backup does not have",
    )
    copied = call(remote, "file.copy", src=staging, dest=root, overwrite=True)
    want = call(remote, "file.tree_hash", path=staging)
    have = call(remote, "file.tree_hash", path=root)
    if want["digest"] != have["digest"]:
        raise ModuleFailed(f"{root} does not match the archive {archive} after the restore (tree hash)")
    written = [posixpath.join(root, p) for p in sorted(wanted)]
    owned = one.set_owner(remote, st, written)
    call(remote, "file.remove", path=staging, recursive=True)
    return {
        "files": have["files"],
        "copied": copied.get("files", 0),
        "removed": len(gone),
        "tree_digest": have["digest"],
        "owner_changed": owned,
    }


def _carry_over(remote: Remote, root: str, staging: str, keep: tuple[str, ...]) -> None:
    """The restored folder's own `keep` files replace the archive's (a test system keeps its config)."""
    if not keep:
        return
    there = installed(remote, root, list(keep))
    calls: list[tuple[str, dict[str, Any]]] = []
    for rel in keep:
        target = posixpath.join(staging, rel)
        if rel in there:
            calls.append(("file.mkdir", {"path": posixpath.dirname(target), "parents": True}))
            calls.append(("file.copy", {"src": posixpath.join(root, rel), "dest": target, "overwrite": True}))
        else:
            calls.append(("file.remove", {"path": target, "recursive": True}))
    run_all(remote, calls, "keeping the folder's own files")


def read_manifest(remote: Remote, backup: str) -> dict[str, Any]:
    """The manifest inside an update backup (the zip's sha256 was checked before)."""
    text = one.read_zip_text(remote, backup, "manifest.json")
    if not text:
        raise ModuleFailed(f"{backup} has no manifest.json: not an update backup written by cutover")
    return dict(json.loads(text))
