"""The `file.*` primitives of the simulated Windows host, with Windows semantics.

Windows has no mode bits: `mode` reports and sets only the read-only attribute (a mode without
the owner-write bit means read-only, reported as `0444`; otherwise `0644`, folders `0755`).
Owner and group are account names (`BUILTIN\\Administrators`). Every creating primitive needs
the parent folder to exist except `file.mkdir` (parents by default). Writes are atomic (temp
file then rename), consume disk space and fail with `no_space` on a full drive.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import shutil
import stat as stat_module
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from simulation.core import HostState, arg_bool, op
from simulation.errors import SimError
from simulation.paths import WinPath, check_length, parse_path

DEFAULT_OWNER = "BUILTIN\\Administrators"
DEFAULT_GROUP = "NT AUTHORITY\\SYSTEM"
HASHES = ("sha256", "sha1", "md5", "sha384", "sha512")
_CHUNK = 1 << 20
#: The most file.read answers in one call, as powershell/files.ps1 ($CutoverMaxRead): read in pieces.
MAX_READ = 32 << 20


def os_error_kind(exc: OSError) -> str:
    """The spec error kind of an OS error raised while touching the host's files."""
    return {
        errno.ENOENT: "not_found",
        errno.ENOTDIR: "not_found",
        errno.EEXIST: "exists",
        errno.EACCES: "denied",
        errno.EPERM: "denied",
        errno.ENOSPC: "no_space",
    }.get(exc.errno or 0, "failed")


def target(host: HostState, args: dict[str, Any], name: str = "path") -> tuple[WinPath, Path]:
    """The Windows path of an argument (with the case found on disk) and its real file."""
    path = parse_path(args.get(name))
    host.require_drive(path)
    check_length(path, long_paths(host))
    return host.fs.resolve(path)  # one walk of the folders gives both


def long_paths(host: HostState) -> bool:
    """Whether the host opens paths of 260+ characters without the `\\?\\` prefix."""
    return bool(host.state.get("windows", {}).get("long_paths", False))


def file_digest(real: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(real, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- attributes ------------------------------------------------------------------------------
def normalize_mode(value: Any, is_dir: bool) -> str:
    """Windows keeps one bit of a mode: read-only. Accepts '0644', '644', '0o644' or an int."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SimError("invalid", f"mode must be an octal string like '0644', not {value!r}")
    try:
        bits = value if isinstance(value, int) else int(value.lower().removeprefix("0o") or "0", 8)
    except ValueError:
        raise SimError("invalid", f"mode must be an octal string like '0644', not {value!r}") from None
    writable = bool(bits & 0o200)
    if is_dir:
        return "0755" if writable else "0555"
    return "0644" if writable else "0444"


def attrs_of(host: HostState, path: WinPath, is_dir: bool) -> dict[str, str]:
    stored = host.state.get("attrs", {}).get(str(path).casefold(), {})
    return {
        "mode": normalize_mode(stored.get("mode", "0755" if is_dir else "0644"), is_dir),
        "owner": stored.get("owner", DEFAULT_OWNER),
        "group": stored.get("group", DEFAULT_GROUP),
    }


def apply_attrs(host: HostState, path: WinPath, is_dir: bool, args: dict[str, Any]) -> tuple[dict, dict]:
    """Set mode/owner/group where the arguments ask and they differ -> (before, after)."""
    before = attrs_of(host, path, is_dir)
    after = dict(before)
    if args.get("mode") is not None:
        after["mode"] = normalize_mode(args["mode"], is_dir)
    for name in ("owner", "group"):
        if args.get(name) is not None:
            if not isinstance(args[name], str) or not args[name]:
                raise SimError("invalid", f"{name} must be an account name, not {args[name]!r}")
            after[name] = args[name]
    if after != before:
        host.state.setdefault("attrs", {})[str(path).casefold()] = after
        host.changed(f"attrs {path}")
    return before, after


def forget_attrs(host: HostState, path: WinPath) -> None:
    prefix = str(path).casefold()
    attrs = host.state.get("attrs", {})
    for key in [k for k in attrs if k == prefix or k.startswith(prefix + "\\")]:
        del attrs[key]


def move_attrs(host: HostState, src: WinPath, dest: WinPath) -> None:
    old, new = str(src).casefold(), str(dest).casefold()
    attrs = host.state.get("attrs", {})
    for key in [k for k in attrs if k == old or k.startswith(old + "\\")]:
        attrs[new + key[len(old) :]] = attrs.pop(key)


# --- building blocks shared with archives and plug-ins ------------------------------------------
def folder_changed(host: HostState, real: Path) -> None:
    """Adding or removing a name changes its folder's time, as on NTFS (kept on the sim clock)."""
    parent = real.parent
    if parent.is_dir() and parent != host.fs.root and host.fs.root in parent.parents:
        os.utime(parent, (host.now(), host.now()))


def place(host: HostState, tmp: Path, real: Path, mtime: float | None) -> None:
    """Move a finished temp file into place (atomic), with its time and its folder's time set."""
    os.replace(tmp, real)
    if mtime is not None:
        os.utime(real, (mtime, mtime))
    folder_changed(host, real)


def require_parent(host: HostState, path: WinPath) -> None:
    parent = host.fs.locate(path.parent)
    if not parent.is_dir():
        raise SimError(
            "not_found", f"Could not find a part of the path '{path}': {path.parent} does not exist"
        )


def make_dirs(host: HostState, path: WinPath) -> bool:
    """Create a folder and its parents; True when something was created."""
    real = host.fs.locate(path)
    if real.is_dir():
        return False
    if real.exists():
        raise SimError("exists", f"a file exists at {host.fs.display(path)}")
    for index in range(1, len(path.parts) + 1):
        step = host.fs.locate(WinPath(path.root, path.parts[:index]))
        if step.is_file():
            raise SimError(
                "exists", f"a file exists at {host.fs.display(WinPath(path.root, path.parts[:index]))}"
            )
        if not step.exists():
            step.mkdir()
            mtime = host.changed(f"mkdir {host.fs.display(WinPath(path.root, path.parts[:index]))}")
            os.utime(step, (mtime, mtime))
            folder_changed(host, step)
    return True


def write_file(host: HostState, path: WinPath, data: bytes) -> None:
    """Atomically replace a file's content (disk accounted, simulated mtime)."""
    real = host.fs.locate(path)
    old = real.stat().st_size if real.is_file() else 0
    host.ensure_space(path, len(data) - old)
    host.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = host.tmp_dir / "write.tmp"
    tmp.write_bytes(data)
    place(host, tmp, real, host.changed(f"write {host.fs.display(path)}"))


def copy_file(host: HostState, src: Path, dest: Path) -> None:
    """Copy a file keeping its modification time, as Copy-Item does."""
    host.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = host.tmp_dir / "copy.tmp"
    shutil.copy2(src, tmp)
    place(host, tmp, dest, None)


def remove_path(host: HostState, path: WinPath, recursive: bool) -> bool:
    real = host.fs.locate(path)
    if not real.exists():
        return False
    shown = host.fs.display(path)
    if real.is_dir():
        if any(real.iterdir()) and not recursive:
            raise SimError("failed", f"The directory is not empty: {shown} (use recursive)")
        shutil.rmtree(real)
    else:
        real.unlink()
    forget_attrs(host, shown)
    host.changed(f"remove {shown}")
    folder_changed(host, real)
    return True


def walk_files(root: Path) -> list[tuple[str, Path]]:
    """Every file below `root` as (relative path with '/', real path), sorted ordinally."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            real = Path(folder) / name
            found.append((real.relative_to(root).as_posix(), real))
    return sorted(found)


def tree_bytes(root: Path) -> int:
    return (
        sum(real.stat().st_size for _rel, real in walk_files(root)) if root.is_dir() else root.stat().st_size
    )


def _backup_name(host: HostState, path: WinPath) -> WinPath:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(host.now()))
    return path.parent.child(f"{path.name}.{stamp}.bak")


# --- primitives -------------------------------------------------------------------------------
@op("file.stat")
def file_stat(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path, real = target(host, args)
    try:
        st = real.stat()  # one stat answers exists, type and size (Path.exists/is_dir were two more)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False}
    is_dir = stat_module.S_ISDIR(st.st_mode)
    attrs = attrs_of(host, path, is_dir)
    return {
        "exists": True,
        "type": "directory" if is_dir else "file",
        "size": 0 if is_dir else st.st_size,
        "mode": attrs["mode"],
        "mtime": st.st_mtime,
        "owner": attrs["owner"],
        "group": attrs["group"],
    }


def _existing_file(host: HostState, args: dict[str, Any]) -> tuple[WinPath, Path]:
    path, real = target(host, args)
    if not real.exists():
        raise SimError("not_found", f"Cannot find path '{path}' because it does not exist.")
    if real.is_dir():
        raise SimError("invalid", f"{path} is a folder, not a file")
    return path, real


@op("file.hash")
def file_hash(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    algorithm = str(args.get("algorithm") or "sha256").lower()
    if algorithm not in HASHES:
        raise SimError("invalid", f"algorithm must be one of {', '.join(HASHES)}, not {algorithm!r}")
    _path, real = _existing_file(host, args)
    return {"algorithm": algorithm, "digest": file_digest(real, algorithm), "size": real.stat().st_size}


@op("file.read")
def file_read(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    limit = _count(args, "max_bytes")
    offset = _count(args, "offset") or 0
    path, real = _existing_file(host, args)
    size = real.stat().st_size
    left = max(size - offset, 0)
    want = left if limit is None else min(left, limit)
    if want > MAX_READ:
        raise SimError(
            "invalid",
            f"{path} has {left} bytes to read; one call reads at most {MAX_READ} "
            "(read it in pieces with offset and max_bytes)",
        )
    with open(real, "rb") as handle:
        handle.seek(offset)
        data = handle.read(want)
    return {
        "content_b64": base64.b64encode(data).decode("ascii"),
        "size": size,
        "truncated": offset + len(data) < size,
        "offset": offset,
    }


def _count(args: dict[str, Any], name: str) -> int | None:
    value = args.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise SimError("invalid", f"{name} must be a whole number >= 0, not {value!r}")
    return value


def decode_b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise SimError("invalid", f"{name} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise SimError("invalid", f"{name} is not valid base64") from None


@op("file.write")
def file_write(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    data = decode_b64(args.get("content_b64"), "content_b64")
    backup = arg_bool(args, "backup", False)
    append = arg_bool(args, "append", False)
    path, real = target(host, args)
    if real.is_dir():
        raise SimError("exists", f"a folder exists at {path}")
    require_parent(host, path)
    if append:  # a piece of a chunked upload, added at the end
        old = real.read_bytes() if real.is_file() else b""
        if data:
            write_file(host, path, old + data)
        return {"changed": bool(data), "size": len(old) + len(data)}
    answer: dict[str, Any] = {"changed": False, "sha256": hashlib.sha256(data).hexdigest()}
    existed = real.is_file()
    if not existed or real.read_bytes() != data:
        if existed and attrs_of(host, path, False)["mode"] == "0444":
            raise SimError("denied", f"Access to the path '{path}' is denied (read-only).")
        if existed and backup:
            saved = _backup_name(host, path)
            copy_file(host, real, host.fs.locate(saved))
            answer["backup_path"] = str(saved)
        write_file(host, path, data)
        answer["changed"] = True
    path = host.fs.display(path)
    _before, _after = apply_attrs(host, path, False, args)
    answer["changed"] = answer["changed"] or _before != _after
    return answer


@op("file.mkdir")
def file_mkdir(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    parents = arg_bool(args, "parents", True)
    path, real = target(host, args)
    if not parents and not real.exists():
        require_parent(host, path)
    created = make_dirs(host, path)
    before, after = apply_attrs(host, host.fs.display(path), True, args)
    return {"changed": created or before != after}


@op("file.remove")
def file_remove(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    recursive = arg_bool(args, "recursive", False)
    path, _real = target(host, args)
    return {"changed": remove_path(host, path, recursive)}


@op("file.touch")
def file_touch(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path, real = target(host, args)
    created = False
    if real.exists():
        mtime = host.changed(f"touch {path}")
        os.utime(real, (mtime, mtime))
    else:
        require_parent(host, path)
        write_file(host, path, b"")
        created = True
    apply_attrs(host, host.fs.display(path), real.is_dir(), args)
    return {"changed": created}


@op("file.attrs")
def file_attrs(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path, real = target(host, args)
    if not real.exists():
        raise SimError("not_found", f"Cannot find path '{path}' because it does not exist.")
    before, after = apply_attrs(host, path, real.is_dir(), args)
    return {"changed": before != after, "before": before, "after": after}


@op("file.copy")
def file_copy(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    overwrite = arg_bool(args, "overwrite", True)
    src, src_real = target(host, args, "src")
    dest, dest_real = target(host, args, "dest")
    if not src_real.exists():
        raise SimError("not_found", f"Cannot find path '{src}' because it does not exist.")
    if dest.is_within(src):
        raise SimError("invalid", f"cannot copy {src} into itself ({dest})")
    if src_real.is_dir() != dest_real.is_dir() and dest_real.exists():
        raise SimError("exists", f"{dest} exists and is a {'folder' if dest_real.is_dir() else 'file'}")
    if not dest_real.exists():
        require_parent(host, dest)
    pairs = [("", src_real)] if src_real.is_file() else walk_files(src_real)
    todo = []
    for rel, real in pairs:
        out = dest_real if not rel else host.fs.locate(dest.child(*rel.split("/")))
        if out.is_dir():
            raise SimError("exists", f"a folder exists where {rel or src.name} would be copied")
        if out.is_file() and (not overwrite or file_digest(out) == file_digest(real)):
            continue
        todo.append((rel, real, out))
    needed = sum(real.stat().st_size - (out.stat().st_size if out.is_file() else 0) for _r, real, out in todo)
    host.ensure_space(dest, needed)
    if src_real.is_dir():
        _copy_folders(host, src_real, dest)
    written = 0
    for rel, real, _out in todo:
        out_path = dest.child(*rel.split("/")) if rel else dest
        copy_file(host, real, host.fs.locate(out_path))
        host.changed(f"copy {src} -> {out_path}")
        written += real.stat().st_size
    return {"changed": bool(todo) or host.mutated, "files": len(todo), "bytes": written}


def _copy_folders(host: HostState, src_real: Path, dest: WinPath) -> None:
    make_dirs(host, dest)
    for folder, dirs, _names in os.walk(src_real):
        for name in sorted(dirs):
            rel = (Path(folder) / name).relative_to(src_real).parts
            make_dirs(host, dest.child(*rel))


@op("file.move")
def file_move(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    overwrite = arg_bool(args, "overwrite", False)
    src, src_real = target(host, args, "src")
    dest, dest_real = target(host, args, "dest")
    same = str(src).casefold() == str(dest).casefold()
    if not src_real.exists():
        if dest_real.exists():
            return {"changed": False}
        raise SimError("not_found", f"Cannot find path '{src}' because it does not exist.")
    if overwrite and src_real.is_file() and dest_real.is_file() and not same:  # File.Replace
        if src.drive != dest.drive:
            host.ensure_space(dest, src_real.stat().st_size - dest_real.stat().st_size)
        place(host, src_real, dest_real, host.changed(f"move {src} -> {dest}"))
        folder_changed(host, src_real)
        return {"changed": True}
    if dest_real.exists() and not same:
        raise SimError(
            "exists", f"Cannot create '{dest}' because a file or folder with that name already exists."
        )
    if dest.is_within(src) and not same:
        raise SimError("invalid", f"cannot move {src} into itself ({dest})")
    require_parent(host, dest)
    if src.drive != dest.drive:
        host.ensure_space(dest, tree_bytes(src_real))
    wanted = host.fs.locate(dest.parent) / dest.name
    if same and src_real.name == wanted.name:
        return {"changed": False}
    shutil.move(src_real, wanted)
    move_attrs(host, src, host.fs.display(dest))
    host.changed(f"move {src} -> {dest}")
    folder_changed(host, src_real)
    folder_changed(host, wanted)
    return {"changed": True}


@op("file.list")
def file_list(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    recursive = arg_bool(args, "recursive", False)
    pattern = args.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise SimError("invalid", f"pattern must be a glob string, not {pattern!r}")
    path, real = target(host, args)
    if not real.is_dir():
        kind = "invalid" if real.exists() else "not_found"
        raise SimError(kind, f"{path} is not a folder" if real.exists() else f"{path} does not exist")
    entries = []
    for folder, dirs, names in os.walk(real):
        for name in dirs + names:
            item = Path(folder) / name
            if pattern and not fnmatchcase(name.casefold(), pattern.casefold()):
                continue
            st = item.stat()
            entries.append(
                {
                    "path": "\\".join(item.relative_to(real).parts),
                    "type": "directory" if item.is_dir() else "file",
                    "size": 0 if item.is_dir() else st.st_size,
                    "mtime": st.st_mtime,
                }
            )
        if not recursive:
            break
    return {"entries": sorted(entries, key=lambda e: e["path"])}


def tree_digest(root: Path) -> dict[str, Any]:
    """sha256 over lines `relative/path<TAB>sha256hex<LF>` (UTF-8), paths with '/', sorted ordinally."""
    digest = hashlib.sha256()
    count = size = 0
    for rel, real in walk_files(root):
        digest.update(f"{rel}\t{file_digest(real)}\n".encode())
        count += 1
        size += real.stat().st_size
    return {"digest": digest.hexdigest(), "files": count, "bytes": size}


@op("file.tree_hash")
def file_tree_hash(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path, real = target(host, args)
    if not real.is_dir():
        kind = "invalid" if real.exists() else "not_found"
        raise SimError(kind, f"{path} is not a folder" if real.exists() else f"{path} does not exist")
    return tree_digest(real)
