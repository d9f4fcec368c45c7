"""The `archive.*` primitives of the simulated Windows host (zip only, as on Windows).

Archives are made deterministically (sorted members, times from the simulated clock), so the
same tree always gives the same sha256: a rehearsal's artifacts can be compared run to run.
`archive.extract` is all or nothing, by the same rules as the POSIX helper and powershell/
archives.ps1 (docs/security.md, 8): every member is checked before anything is written (an absolute
path, drive letter or UNC name, a `..` component, a name Windows cannot hold, a link or a chain of
links out of the destination, a duplicate name, names equal but for case, the size, count and
ratio limits), then the free space of dest's drive against the declared size, then every path the
extraction opens against MAX_PATH (simulation/paths.py); the members are written into a folder
beside dest and moved in only when all were written, so a corrupt member leaves dest as it was.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import posixpath
import re
import shutil
import stat
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

from engine.connect.remote import posix_helper as rules  # the extraction rules, written once
from simulation.core import HostState, arg_bool, op
from simulation.errors import SimError
from simulation.files import (
    file_digest,
    folder_changed,
    long_paths,
    make_dirs,
    place,
    require_parent,
    target,
)
from simulation.paths import WinPath, check_length

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
    """All or nothing, by the POSIX helper's rules (`rules.check_members`, Windows flavour: names
    equal but for case are one name): every member checked, free space checked against the
    declared size, members written into a folder beside dest, moved in only when all were written."""
    overwrite = arg_bool(args, "overwrite", True)
    strip = args.get("strip", 0) or 0
    if not isinstance(strip, int) or isinstance(strip, bool) or strip < 0:
        raise SimError("invalid", f"strip must be a whole number >= 0, not {strip!r}")
    limits = _limits(args)
    src, src_real = _open_zip(host, args, "src")
    dest, dest_real = target(host, args, "dest")
    if dest_real.is_file():
        raise SimError("exists", f"a file exists at {dest}")
    try:
        with zipfile.ZipFile(src_real) as archive:
            plan, total = _plan(archive, src_real, dest, strip, limits)
            staging = dest.parent.child(_staging_name(host, dest))
            _check_paths(host, plan, dest, staging)
            _check_space(host, src, dest, total, len(plan))
            writes = _to_write(host, archive, plan, dest, overwrite)
            if not writes and dest_real.is_dir():
                return {"changed": False, "files": 0}
            _stage_and_commit(host, archive, writes, dest, staging)
    except zipfile.BadZipFile as exc:
        raise SimError("invalid", f"not a readable zip archive: {exc}") from None
    return {"changed": True, "files": sum(1 for _i, m, _r in writes if m.kind != "directory")}


def _limits(args: dict[str, Any]) -> dict[str, int]:
    values = {
        name: args[name] if args.get(name) is not None else default
        for name, default in rules.EXTRACT_LIMITS.items()
    }
    try:
        return rules.check_limits(values)
    except rules.Fail as exc:
        raise SimError(exc.kind, str(exc)) from None


class _Zip:
    """A zip as the shared rules read it: its members and the path of its file."""

    def __init__(self, archive: zipfile.ZipFile, real: Path) -> None:
        self.path = str(real)
        self.members = rules.zip_members(archive)


def _plan(
    archive: zipfile.ZipFile, real: Path, dest: WinPath, strip: int, limits: dict[str, int]
) -> tuple[list[tuple[zipfile.ZipInfo, Any, tuple[str, ...]]], int]:
    """(info, member, path below dest) of every member, and the declared total; SimError(unsafe)
    for the first member refused, before anything is written."""
    for info in archive.infolist():
        reason = _member(archive, info)["reason"]
        if reason:
            raise SimError("unsafe", f"archive refused, nothing written: {info.filename}: {reason}")
    shared = _Zip(archive, real)
    try:
        _tree, checked, total = rules.check_members(shared, str(dest), strip, limits, windows=True)
    except rules.Fail as exc:
        raise SimError(exc.kind, str(exc)) from None
    infos = {id(m): info for m, info in zip(shared.members, archive.infolist(), strict=True)}
    return [(infos[id(m)], m, real_parts) for m, real_parts in checked], total


def _staging_name(host: HostState, dest: WinPath, what: str = "new") -> str:
    """A name beside dest as powershell/paths.ps1 Get-CutoverTempPath makes them (16 characters, so
    the simulation and a server refuse the same long paths), deterministic as the sim is."""
    seed = f"{str(dest).casefold()}|{host.state.get('clock', 0)}|{what}"
    return "~ct-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:8] + ".tmp"


def _check_paths(host: HostState, plan: list, dest: WinPath, staging: WinPath) -> None:
    """Every path the extraction will open, staged and final, within what Windows PowerShell 5.1
    opens (simulation/paths.py check_length): refused naming the path, before anything is written."""
    allowed = long_paths(host)
    for _info, _member, parts in plan:
        check_length(staging.child(*parts), allowed)
        check_length(dest.child(*parts), allowed)


def _check_space(host: HostState, src: WinPath, dest: WinPath, total: int, entries: int) -> None:
    needed = rules.space_needed(total, entries)
    free = host.disk_usage(dest.drive)["free"]
    if needed > free:
        raise SimError(
            "no_space",
            f"archive refused, nothing written: {src} needs {needed} bytes ({total} uncompressed, 10% and "
            f"1 KiB per member more) on {dest.root}, which has {free} bytes free (simulation)",
        )


def _to_write(host: HostState, archive: zipfile.ZipFile, plan: list, dest: WinPath, overwrite: bool) -> list:
    """The members that change dest (unchanged files dropped); conflicts refused unless overwrite."""
    writes = []
    for info, member, parts in plan:
        out = host.fs.locate(dest.child(*parts))
        if member.kind == "directory":
            if out.is_file():
                raise SimError("exists", f"a file exists where folder {member.name} would be extracted")
            if not out.is_dir():
                writes.append((info, member, parts))
            continue
        if out.is_dir():
            raise SimError("exists", f"a folder exists where {member.name} would be extracted")
        if out.is_file():
            if out.stat().st_size == info.file_size and out.read_bytes() == archive.read(info):
                continue
            if not overwrite:
                raise SimError("exists", f"{host.fs.display(dest.child(*parts))} exists (overwrite is off)")
        writes.append((info, member, parts))
    return writes


def _stage_and_commit(
    host: HostState, archive: zipfile.ZipFile, writes: list, dest: WinPath, staging: WinPath
) -> None:
    """Write every member into `staging`, then move it in; on any failure staging goes and every
    file already moved is put back, so dest is as it was."""
    made = _missing(host, dest.parent)
    make_dirs(host, staging)
    staged = host.fs.locate(staging)
    try:
        for info, member, parts in writes:
            out = staged.joinpath(*parts)
            if member.kind == "directory":
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                raise SimError(
                    "invalid", f"archive refused, nothing written: {member.name}: corrupt member ({exc})"
                ) from None
            mtime = calendar.timegm((*info.date_time, 0, 0, 0))
            os.utime(out, (mtime, mtime))
        _commit(host, writes, dest, staging)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(staged, ignore_errors=True)


def _missing(host: HostState, folder: WinPath) -> list[Path]:
    """The real folders at and above `folder` that do not exist, outermost first."""
    out = []
    for index in range(1, len(folder.parts) + 1):
        real = host.fs.locate(WinPath(folder.root, folder.parts[:index]))
        if not real.exists():
            out.append(real)
    return out


def _commit(host: HostState, writes: list, dest: WinPath, staging: WinPath) -> None:
    """Move the staged members in: a missing dest is the staging folder renamed; into an existing
    one each replaced file goes aside first and a failure puts every file back."""
    staged = host.fs.locate(staging)
    dest_real = host.fs.locate(dest)
    if not dest_real.exists():
        os.rename(staged, dest_real)
        host.changed(f"extract {dest} ({len(writes)} entries)")
        folder_changed(host, dest_real)
        return
    aside = host.fs.locate(dest.parent.child(_staging_name(host, dest, "old")))
    aside.mkdir()
    new_dirs: list[Path] = []
    moved: list[tuple[Path, Path | None]] = []
    try:
        for _info, member, parts in writes:
            path = dest.child(*parts)
            folder = path if member.kind == "directory" else path.parent
            new_dirs.extend(_missing(host, folder))
            make_dirs(host, folder)
            if member.kind == "directory":
                continue
            final = host.fs.locate(path)
            old = None
            if final.exists():
                old = aside / str(len(moved))
                os.rename(final, old)
            os.replace(staged.joinpath(*parts), final)
            moved.append((final, old))
            host.changed(f"extract {path}")
            folder_changed(host, final)
    except BaseException:
        for final, old in reversed(moved):
            final.unlink(missing_ok=True)
            if old is not None:
                os.rename(old, final)
        for folder in reversed(new_dirs):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def zip_sha256(real: Path) -> str:
    return hashlib.sha256(real.read_bytes()).hexdigest()
