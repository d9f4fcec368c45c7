"""The `archive.*` primitives of the simulated Windows host (zip only, as on Windows).

Archives are made deterministically (sorted members, times from the simulated clock), so the
same tree always gives the same sha256: a rehearsal's artifacts can be compared run to run.
`archive.extract` checks every member before it writes anything and refuses the whole archive
(`unsafe`) when one member has an absolute path, a `..` component, a name Windows cannot hold,
or is a link pointing out of the destination.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import posixpath
import re
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

from simulation.core import HostState, arg_bool, op
from simulation.errors import SimError
from simulation.files import (
    file_digest,
    make_dirs,
    place,
    require_parent,
    target,
)
from simulation.paths import WinPath

_BAD = re.compile(r'[<>:"|?*\x00-\x1f]')


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    parts = time.gmtime(max(mtime, 315_532_800))  # zip cannot hold times before 1980
    return (parts.tm_year, parts.tm_mon, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)


def _add(archive: zipfile.ZipFile, name: str, real: Path) -> None:
    info = zipfile.ZipInfo(name, _zip_time(real.stat().st_mtime))
    info.create_system = 0
    if real.is_dir():
        info.external_attr = 0x10
        archive.writestr(info, b"")
    else:
        info.external_attr = 0x20
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, real.read_bytes())


@op("archive.create")
def archive_create(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    fmt = str(args.get("format") or "zip").lower()
    if fmt != "zip":
        raise SimError("unsupported", f"format {fmt!r} is not available on Windows hosts (zip only)")
    src, src_real = target(host, args, "src")
    dest, dest_real = target(host, args, "dest")
    if not src_real.exists():
        raise SimError("not_found", f"Cannot find path '{src}' because it does not exist.")
    if dest.is_within(src):
        raise SimError("invalid", f"the archive {dest} cannot be inside the folder it archives ({src})")
    if dest_real.is_dir():
        raise SimError("exists", f"a folder exists at {dest}")
    require_parent(host, dest)
    host.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = host.tmp_dir / "archive.zip"
    count = 0
    with zipfile.ZipFile(tmp, "w") as archive:
        if src_real.is_file():
            _add(archive, src.name, src_real)
            count = 1
        else:
            for folder, dirs, names in os.walk(src_real):
                dirs.sort()
                base = Path(folder)
                for name in dirs:
                    _add(archive, (base / name).relative_to(src_real).as_posix() + "/", base / name)
                    count += 1
                for name in sorted(names):
                    _add(archive, (base / name).relative_to(src_real).as_posix(), base / name)
                    count += 1
    size = tmp.stat().st_size
    old = dest_real.stat().st_size if dest_real.is_file() else 0
    try:
        host.ensure_space(dest, size - old)
    except SimError:
        tmp.unlink()
        raise
    place(host, tmp, dest_real, host.changed(f"archive {src} -> {dest}"))
    return {"sha256": file_digest(dest_real), "size": size, "entries": count}


def _open_zip(host: HostState, args: dict[str, Any], name: str) -> tuple[WinPath, Path]:
    path, real = target(host, args, name)
    if not real.is_file():
        raise SimError("not_found", f"Cannot find path '{path}' because it does not exist.")
    return path, real


@op("archive.verify")
def archive_verify(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    _path, real = _open_zip(host, args, "path")
    answer: dict[str, Any] = {
        "ok": True,
        "entries": 0,
        "sha256": file_digest(real),
        "size": real.stat().st_size,
    }
    try:
        with zipfile.ZipFile(real) as archive:
            answer["entries"] = len(archive.infolist())
            bad = archive.testzip()
        if bad is not None:
            answer.update(ok=False, error=f"member {bad!r} is corrupt (CRC mismatch)")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        answer.update(ok=False, error=f"not a readable zip archive: {exc}")
    return answer


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    """A member's name, size, type and why it is unsafe (None when safe)."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    kind = "link" if stat.S_ISLNK(mode) else "directory" if name.endswith("/") else "file"
    parts = [p for p in name.split("/") if p]
    reason = None
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        reason = "absolute path"
    elif ".." in parts:
        reason = "'..' in path"
    elif any(_BAD.search(p) for p in parts):
        reason = "a name Windows cannot hold"
    elif kind == "link":
        link = archive.read(info).decode("utf-8", "replace").replace("\\", "/")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(parts)), link))
        if link.startswith("/") or re.match(r"^[A-Za-z]:", link) or joined.split("/")[0] == "..":
            reason = f"link out of the destination ({link})"
    return {"name": info.filename, "size": info.file_size, "type": kind, "parts": parts, "reason": reason}


@op("archive.list")
def archive_list(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    _path, real = _open_zip(host, args, "path")
    try:
        with zipfile.ZipFile(real) as archive:
            members = [_member(archive, info) for info in archive.infolist()]
    except zipfile.BadZipFile as exc:
        raise SimError("invalid", f"not a readable zip archive: {exc}") from None
    entries = []
    for m in members:
        entry = {"name": m["name"], "size": m["size"], "type": m["type"]}
        if m["reason"]:
            entry["unsafe"] = m["reason"]
        entries.append(entry)
    return {"entries": entries, "unsafe": [m["name"] for m in members if m["reason"]]}


@op("archive.extract")
def archive_extract(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    overwrite = arg_bool(args, "overwrite", True)
    strip = args.get("strip", 0) or 0
    if not isinstance(strip, int) or isinstance(strip, bool) or strip < 0:
        raise SimError("invalid", f"strip must be a whole number >= 0, not {strip!r}")
    _src, src_real = _open_zip(host, args, "src")
    dest, dest_real = target(host, args, "dest")
    if dest_real.is_file():
        raise SimError("exists", f"a file exists at {dest}")
    try:
        with zipfile.ZipFile(src_real) as archive:
            plan = _plan(archive, strip)
            return _extract(host, archive, plan, dest, overwrite)
    except zipfile.BadZipFile as exc:
        raise SimError("invalid", f"not a readable zip archive: {exc}") from None


def _plan(archive: zipfile.ZipFile, strip: int) -> list[tuple[zipfile.ZipInfo, dict[str, Any]]]:
    """Every member with its checks; SimError(unsafe) naming all unsafe members, before any write."""
    plan, unsafe = [], []
    for info in archive.infolist():
        member = _member(archive, info)
        if member["reason"]:
            unsafe.append(f"{member['name']} ({member['reason']})")
        member["parts"] = member["parts"][strip:]
        if member["parts"]:
            plan.append((info, member))
    if unsafe:
        raise SimError("unsafe", "archive refused, nothing written: unsafe member(s) " + "; ".join(unsafe))
    return plan


def _extract(
    host: HostState, archive: zipfile.ZipFile, plan: list, dest: WinPath, overwrite: bool
) -> dict[str, Any]:
    writes, needed = [], 0
    for info, member in plan:
        if member["type"] == "directory":
            continue
        out = host.fs.locate(dest.child(*member["parts"]))
        if out.is_dir():
            raise SimError("exists", f"a folder exists where {member['name']} would be extracted")
        data = archive.read(info)
        if out.is_file():
            if out.read_bytes() == data:
                continue
            if not overwrite:
                raise SimError(
                    "exists", f"{host.fs.display(dest.child(*member['parts']))} exists (overwrite is off)"
                )
            needed -= out.stat().st_size
        needed += len(data)
        writes.append((member, data, calendar.timegm((*info.date_time, 0, 0, 0))))
    host.ensure_space(dest, needed)
    created = make_dirs(host, dest)
    for _info, member in plan:
        if member["type"] == "directory":
            created = make_dirs(host, dest.child(*member["parts"])) or created
    for member, data, mtime in writes:
        path = dest.child(*member["parts"])
        make_dirs(host, path.parent)
        real = host.fs.locate(path)
        host.tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = host.tmp_dir / "extract.tmp"
        tmp.write_bytes(data)
        host.changed(f"extract {path}")
        place(host, tmp, real, mtime)
    return {"changed": bool(writes) or created, "files": len(writes)}


def zip_sha256(real: Path) -> str:
    return hashlib.sha256(real.read_bytes()).hexdigest()
