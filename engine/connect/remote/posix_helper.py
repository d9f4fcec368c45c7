"""The POSIX side of the primitives: one long-lived helper per host, run by the target's python3.

The controller starts `python3 -c <bootstrap>` on the host (over SSH or as a local process),
sends this file's source on stdin, and then speaks length-prefixed JSON frames with it:
each request is one batch `[{"op", "args"}, ...]`, each reply the list of answers in order
(contract: engine/connect/remote/spec.py). One helper serves the whole run, so a task costs one round
trip and no process start. This file must stay self-contained (stdlib only, python >= 3.8):
it is executed on hosts where the engine is not installed.

Frames: `<decimal length>\\n<compact JSON>` in both directions. The first frame the helper
writes is a hello `{"hello": PROTOCOL, "pid", "python", "executable"}` so the controller knows it
is up (and which interpreter runs it: tools that need a Python on the host use the same one).
When stdin closes (controller gone, timeout, interrupt) the helper kills the process groups of
every command it started and exits: remote work never outlives its controller.
"""

from __future__ import annotations

import base64
import errno
import fnmatch
import json
import os
import signal
import stat
import sys
import threading
import time

TYPE_CHECKING = False  # typing costs an import on every host; the hints are for the controller's tools
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _Lazy:
    """A module imported on first use: every host pays for the helper's start, few need hashing."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> object:
        module = __import__(self._name)
        globals()[self._name] = module
        return getattr(module, attr)


hashlib = _Lazy("hashlib")
shutil = _Lazy("shutil")
tempfile = _Lazy("tempfile")

PROTOCOL = 1
MARK = b"\x00cutover-helper\n"  # precedes the hello: the controller skips any login-script noise before it
CHUNK = 1 << 20

# --------------------------------------------------------------------------- errors and arguments


class Fail(Exception):
    """A primitive's refusal or failure, answered as `{"ok": false, "error", "kind"}`."""

    def __init__(self, kind: str, message: str) -> None:
        Exception.__init__(self, message)
        self.kind = kind


_ERRNO_KINDS = {
    errno.ENOENT: "not_found",
    errno.ENOTDIR: "not_found",
    errno.EEXIST: "exists",
    errno.ENOTEMPTY: "exists",
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.EROFS: "denied",
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "no_space",
    errno.EISDIR: "invalid",
    errno.EINVAL: "invalid",
}


def _os_fail(exc: OSError) -> Fail:
    """Translate an OSError into a primitive failure with a kind the engine can act on."""
    kind = _ERRNO_KINDS.get(exc.errno, "failed")
    where = exc.filename if exc.filename is not None else ""
    text = exc.strerror or str(exc)
    return Fail(kind, f"{where}: {text}" if where else text)


def _need(value: object, types: type | tuple[type, ...], name: str, what: str) -> Any:
    """`value` if it has one of `types` (a bool only counts as a bool, never as a number)."""
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise Fail("invalid", f"argument {name!r} must be {what}")
    return value


def _path(value: object, name: str = "path") -> str:
    _need(value, str, name, "a non-empty string")
    if not value or "\0" in value:
        raise Fail("invalid", f"argument {name!r} must be a non-empty path without NUL")
    return value


def _flag(value: object, name: str) -> bool:
    return _need(value, bool, name, "true or false")


def _mode(value: object, name: str = "mode") -> int | None:
    """A permission mode: an int, or a string of octal digits such as '0644' or '755'."""
    if value is None:
        return None
    if isinstance(value, str) and value and all(c in "01234567" for c in value):
        value = int(value, 8)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o7777:
        raise Fail("invalid", f"argument {name!r} must be an octal string such as '0644' or an int")
    return value


def _uid(owner: str | int | None) -> int:
    if owner is None:
        return -1
    import pwd

    try:
        if isinstance(owner, int) or str(owner).isdigit():
            return int(owner)
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise Fail("invalid", f"unknown user {owner!r}") from None


def _gid(group: str | int | None) -> int:
    if group is None:
        return -1
    import grp

    try:
        if isinstance(group, int) or str(group).isdigit():
            return int(group)
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise Fail("invalid", f"unknown group {group!r}") from None


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# --------------------------------------------------------------------------- registry of primitives

OPS = {}


def op(name: str, *required: str, **optional: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a primitive with its required argument names and optional ones with defaults."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        OPS[name] = (fn, required, optional)
        return fn

    return register


def dispatch(call: Any) -> dict[str, Any]:
    """Answer one call; never raises, so one bad call cannot stop the batch or the helper."""
    try:
        if not isinstance(call, dict):
            raise Fail("invalid", "a call must be an object with 'op' and 'args'")
        name = call.get("op")
        entry = OPS.get(name)
        if entry is None:
            raise Fail("unsupported", f"primitive {name!r} is not available on posix hosts")
        fn, required, optional = entry
        args = call.get("args") or {}
        if not isinstance(args, dict):
            raise Fail("invalid", f"{name}: 'args' must be an object")
        missing = [a for a in required if a not in args]
        unknown = sorted(a for a in args if a not in optional and a not in required)
        if missing or unknown:
            raise Fail("invalid", "{}: missing {}, unknown {}".format(name, missing or "-", unknown or "-"))
        kwargs = dict(optional)
        kwargs.update((k, v) for k, v in args.items() if v is not None)  # null means "the default"
        return {"ok": True, "value": fn(**kwargs)}
    except Fail as exc:
        return {"ok": False, "error": str(exc), "kind": exc.kind}
    except OSError as exc:
        fail = _os_fail(exc)
        return {"ok": False, "error": str(fail), "kind": fail.kind}
    except Exception as exc:  # a bug or an odd host must not kill the helper
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "failed"}


# --------------------------------------------------------------------------- host facts


@op("host.facts")
def host_facts() -> dict[str, Any]:
    uname = os.uname()
    distro = {}
    try:
        with open("/etc/os-release", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep and key in ("ID", "VERSION_ID", "PRETTY_NAME"):
                    distro[key.lower()] = value.strip('"')
    except OSError:
        pass
    return {
        "os": "posix",
        "system": uname.sysname,
        "release": uname.release,
        "machine": uname.machine,
        "hostname": uname.nodename,
        "python": ".".join(map(str, sys.version_info[:3])),
        "user": _user_name(os.geteuid()),
        "uid": os.geteuid(),
        "cpus": os.cpu_count(),
        "distro": distro,
        "simulated": False,
    }


# --------------------------------------------------------------------------- files


def _type_of(st_mode: int) -> str:
    if stat.S_ISREG(st_mode):
        return "file"
    if stat.S_ISDIR(st_mode):
        return "directory"
    if stat.S_ISLNK(st_mode):
        return "link"
    return "other"


def _attrs(st: os.stat_result) -> dict[str, str]:
    return {
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "owner": _user_name(st.st_uid),
        "group": _group_name(st.st_gid),
    }


@op("file.stat", "path", follow=False)
def file_stat(path: str, follow: bool) -> dict[str, Any]:
    _path(path)
    try:
        st = os.stat(path) if _flag(follow, "follow") else os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    out = {"exists": True, "type": _type_of(st.st_mode), "size": st.st_size, "mtime": st.st_mtime}
    out.update(_attrs(st))
    out["uid"], out["gid"] = st.st_uid, st.st_gid
    if stat.S_ISLNK(st.st_mode):
        out["target"] = os.readlink(path)
    return out


def _digest(path: str, algorithm: str = "sha256") -> tuple[str, int]:
    h = hashlib.new(algorithm)
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            size += len(block)
            h.update(block)
    return h.hexdigest(), size


@op("file.hash", "path", algorithm="sha256")
def file_hash(path: str, algorithm: str) -> dict[str, Any]:
    _path(path)
    _need(algorithm, str, "algorithm", "a string")
    if algorithm.lower() not in hashlib.algorithms_available:
        raise Fail("invalid", f"unknown hash algorithm {algorithm!r}")
    digest, size = _digest(path, algorithm.lower())
    return {"algorithm": algorithm.lower(), "digest": digest, "size": size}


@op("file.read", "path", max_bytes=None, offset=0)
def file_read(path: str, max_bytes: int | None, offset: int) -> dict[str, Any]:
    _path(path)
    if max_bytes is not None:
        _need(max_bytes, int, "max_bytes", "an integer")
    _need(offset, int, "offset", "an integer")
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(offset, 0))
        data = fh.read() if max_bytes is None else fh.read(max_bytes)
    return {
        "content_b64": base64.b64encode(data).decode("ascii"),
        "size": size,
        "truncated": max(offset, 0) + len(data) < size,
        "offset": offset,
    }


def _apply_attrs(
    path: str, mode: int | None, owner: Any, group: Any, st: os.stat_result | None = None
) -> bool:
    """Set mode/owner/group where they differ; True when something changed."""
    st = st or os.lstat(path)
    changed = False
    uid, gid = _uid(owner), _gid(group)
    if (uid != -1 and uid != st.st_uid) or (gid != -1 and gid != st.st_gid):
        os.lchown(path, uid, gid)
        changed = True
    if mode is not None and stat.S_IMODE(st.st_mode) != mode and not stat.S_ISLNK(st.st_mode):
        os.chmod(path, mode)
        changed = True
    return changed


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _backup_name(path: str) -> str:
    base = "{}.{}.bak".format(path, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    name, n = base, 1
    while os.path.lexists(name):
        n += 1
        name = f"{base}.{n}"
    return name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@op("file.write", "path", "content_b64", mode=None, owner=None, group=None, backup=False, append=False)
def file_write(
    path: str, content_b64: str, mode: Any, owner: Any, group: Any, backup: bool, append: bool
) -> dict[str, Any]:
    _path(path)
    _need(content_b64, str, "content_b64", "a base64 string")
    try:
        data = base64.b64decode(content_b64, validate=True)
    except ValueError:
        raise Fail("invalid", "content_b64 is not valid base64") from None
    if _flag(append, "append"):  # a piece of a chunked upload
        with open(path, "ab") as fh:
            fh.write(data)
            return {"changed": bool(data), "size": fh.tell()}
    mode, uid, gid = _mode(mode), _uid(owner), _gid(group)
    if os.path.islink(path):  # write the file a link points to; never replace the link by a file
        path = os.path.realpath(path)
    new_sha = hashlib.sha256(data).hexdigest()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise Fail("invalid", f"{path} exists and is not a regular file")
    if st is not None and st.st_size == len(data) and _digest(path)[0] == new_sha:
        return {"changed": _apply_attrs(path, mode, owner, group, st), "sha256": new_sha}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if st is not None:
            keep_mode, keep_uid, keep_gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        else:
            keep_mode, keep_uid, keep_gid = 0o666 & ~_umask(), -1, -1
        os.chmod(tmp, mode if mode is not None else keep_mode)
        uid = uid if uid != -1 else (keep_uid if os.geteuid() == 0 else -1)
        gid = gid if gid != -1 else (keep_gid if os.geteuid() == 0 else -1)
        if uid != -1 or gid != -1:
            os.chown(tmp, uid, gid)
        out = {"changed": True, "sha256": new_sha}
        if backup and st is not None:
            out["backup_path"] = _backup_name(path)
            try:
                os.link(path, out["backup_path"])
            except OSError:
                shutil.copy2(path, out["backup_path"])
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(directory)
        return out
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


@op("file.mkdir", "path", mode=None, owner=None, group=None, parents=True)
def file_mkdir(path: str, mode: Any, owner: Any, group: Any, parents: bool) -> dict[str, Any]:
    _path(path)
    mode = _mode(mode)
    make = os.makedirs if _flag(parents, "parents") else os.mkdir
    try:
        make(path)
    except FileExistsError:
        # There already, or made a moment ago by a concurrent step (two hosts on one machine
        # writing backups into one folder): asking first and making after would race.
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise Fail("exists", f"{path} exists and is not a directory") from None
        return {"changed": _apply_attrs(path, mode, owner, group, st)}
    _apply_attrs(path, mode, owner, group)
    return {"changed": True}


@op("file.remove", "path", recursive=False)
def file_remove(path: str, recursive: bool) -> dict[str, Any]:
    _path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"changed": False}
    if stat.S_ISDIR(st.st_mode):
        if _flag(recursive, "recursive"):
            shutil.rmtree(path)
        else:
            try:
                os.rmdir(path)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise Fail("invalid", f"{path} is a non-empty directory (use recursive)") from None
                raise
    else:
        os.unlink(path)
    return {"changed": True}


@op("file.touch", "path", mode=None)
def file_touch(path: str, mode: Any) -> dict[str, Any]:
    """Ensure the file exists; an existing file keeps its content and times (mode is applied)."""
    _path(path)
    mode = _mode(mode)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    except FileExistsError:
        return {"changed": _apply_attrs(path, mode, None, None, os.stat(path))}
    os.close(fd)
    if mode is not None:
        os.chmod(path, mode)
    return {"changed": True}


@op("file.attrs", "path", mode=None, owner=None, group=None)
def file_attrs(path: str, mode: Any, owner: Any, group: Any) -> dict[str, Any]:
    _path(path)
    mode = _mode(mode)
    before = _attrs(os.stat(path))
    changed = _apply_attrs(path, mode, owner, group, os.stat(path))
    return {"changed": changed, "before": before, "after": _attrs(os.stat(path))}


def _same_file(a: str, b: str, size: int) -> bool:
    try:
        if os.path.getsize(b) != size or not os.path.isfile(b) or os.path.islink(b):
            return False
    except OSError:
        return False
    return _digest(a)[0] == _digest(b)[0]


def _copy_one(src: str, dest: str, overwrite: bool) -> tuple[bool, int]:
    """Copy one file (atomically) or link; (written, bytes)."""
    if os.path.islink(src):
        target = os.readlink(src)
        if os.path.islink(dest) and os.readlink(dest) == target:
            return False, 0
        if os.path.lexists(dest):
            if not overwrite:
                return False, 0
            os.unlink(dest)
        os.symlink(target, dest)
        return True, 0
    size = os.path.getsize(src)
    if os.path.lexists(dest):
        if _same_file(src, dest, size) or not overwrite:
            return False, 0
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dest)), prefix=".cutover.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise
    return True, size


@op("file.copy", "src", "dest", overwrite=True)
def file_copy(src: str, dest: str, overwrite: bool) -> dict[str, Any]:
    """Copy a file to `dest` (the copy's own path) or a tree into `dest`; identical files are skipped."""
    _path(src, "src")
    _path(dest, "dest")
    overwrite = _flag(overwrite, "overwrite")
    st = os.lstat(src)
    if not stat.S_ISDIR(st.st_mode):
        if os.path.isdir(dest) and not os.path.islink(dest):
            raise Fail("exists", f"{dest} is a directory; give the copy's full path")
        written, size = _copy_one(src, dest, overwrite)
        return {"changed": written, "files": int(written), "bytes": size}
    files = total = 0
    changed = False
    for root, dirs, names in os.walk(src):
        rel = os.path.relpath(root, src)
        target_root = dest if rel == "." else os.path.join(dest, rel)
        if not os.path.isdir(target_root):
            os.makedirs(target_root)
            shutil.copystat(root, target_root)
            changed = True
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            written, size = _copy_one(os.path.join(root, name), os.path.join(target_root, name), overwrite)
            files += written
            total += size
            changed = changed or written
    return {"changed": changed, "files": files, "bytes": total}


@op("file.move", "src", "dest", overwrite=False)
def file_move(src: str, dest: str, overwrite: bool) -> dict[str, Any]:
    """Move src to dest; already moved (src gone, dest there) is not a change, an occupied dest is refused
    unless both are files and `overwrite` is on (then dest is replaced atomically)."""
    _path(src, "src")
    _path(dest, "dest")
    if not os.path.lexists(src):
        if os.path.lexists(dest):
            return {"changed": False}
        raise Fail("not_found", f"{src} does not exist")
    if _flag(overwrite, "overwrite") and os.path.isfile(src) and os.path.isfile(dest):
        os.replace(src, dest)
        return {"changed": True}
    if os.path.lexists(dest):
        raise Fail("exists", f"{dest} already exists")
    shutil.move(src, dest)
    return {"changed": True}


def _walk(path: str, recursive: bool) -> list[tuple[str, os.stat_result]]:
    """(relative path, lstat) of entries under path, sorted, never following links."""
    out = []
    if recursive:
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(dirs + names):
                full = os.path.join(root, name)
                out.append((os.path.relpath(full, path), os.lstat(full)))
    else:
        for name in sorted(os.listdir(path)):
            out.append((name, os.lstat(os.path.join(path, name))))
    out.sort(key=lambda item: item[0])
    return out


@op("file.list", "path", pattern=None, recursive=False)
def file_list(path: str, pattern: str | None, recursive: bool) -> dict[str, Any]:
    _path(path)
    if not os.path.isdir(path):
        raise Fail("not_found" if not os.path.lexists(path) else "invalid", f"{path} is not a directory")
    if pattern is not None:
        _need(pattern, str, "pattern", "a glob string")
    entries = []
    for rel, st in _walk(path, _flag(recursive, "recursive")):
        if pattern is None or fnmatch.fnmatchcase(os.path.basename(rel), pattern):
            entries.append(
                {"path": rel, "type": _type_of(st.st_mode), "size": st.st_size, "mtime": st.st_mtime}
            )
    return {"entries": entries}


@op("file.tree_hash", "path")
def file_tree_hash(path: str) -> dict[str, Any]:
    """sha256 over `<relative path>\\0<file sha256 hex>\\n` of every regular file, sorted by path.

    Relative paths use '/' separators; links and other non-regular entries are not followed
    and not counted, so the digest depends only on file names and contents.
    """
    _path(path)
    if not os.path.isdir(path):
        raise Fail("not_found" if not os.path.lexists(path) else "invalid", f"{path} is not a directory")
    h = hashlib.sha256()
    files = total = 0
    for rel, st in _walk(path, True):
        if stat.S_ISREG(st.st_mode):
            digest, size = _digest(os.path.join(path, rel))
            h.update(("{}\0{}\n".format(rel.replace(os.sep, "/"), digest)).encode("utf-8", "surrogateescape"))
            files += 1
            total += size
    return {"digest": h.hexdigest(), "files": files, "bytes": total}


# --------------------------------------------------------------------------- archives


#: archive formats by name ending; tar.zst needs the `zstd` command on the host
_SUFFIXES = (
    (".zip", "zip"),
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".tar.zst", "tar.zst"),
    (".tzst", "tar.zst"),
)
_FORMATS = ("zip", "tar.gz", "tar.zst")
#: Compressors for the tar formats, best first: (compress argv, argv testing a stream on stdin).
#: zstd and pigz use every core (-T0, pigz's default); gzip one; Python's zlib is the last resort.
_COMPRESSORS = {
    "tar.zst": ((["zstd", "-q", "-3", "-T0", "-c"], ["zstd", "-q", "-t"]),),
    "tar.gz": ((["pigz", "-6", "-c"], ["pigz", "-t"]), (["gzip", "-6", "-c"], ["gzip", "-t"])),
}


def _format(path: str, given: str | None) -> str:
    if given is not None:
        _need(given, str, "format", "'zip', 'tar.gz' or 'tar.zst'")
        fmt = given.lower()
    else:
        fmt = next((f for suffix, f in _SUFFIXES if path.lower().endswith(suffix)), "")
        if not fmt:
            raise Fail(
                "invalid", f"cannot tell the archive format of {path} (use .zip, .tar.gz, .tar.zst or format)"
            )
    if fmt not in _FORMATS:
        raise Fail("invalid", f"unknown archive format {fmt!r} (zip, tar.gz or tar.zst)")
    return fmt


def _compressor(fmt: str) -> tuple[list[str], list[str]] | None:
    """The best installed (compress, test) commands for a tar format; None: Python's gzip (tar.gz only)."""
    for compress, test in _COMPRESSORS[fmt]:
        if shutil.which(compress[0]):
            return compress, test
    if fmt == "tar.zst":
        raise Fail("unsupported", "tar.zst needs the zstd command, which is not installed on this host")
    return None


def _sha_size(path: str) -> dict[str, Any]:
    digest, size = _digest(path)
    return {"sha256": digest, "size": size}


def _signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes when anything writes to an entry: a change of content moves mtime and ctime."""
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _changed_since(src: str, before: list[tuple[str, os.stat_result]]) -> list[str]:
    """Entries added, removed or written to since `before` was listed (metadata only, no content read)."""
    then = {rel: _signature(st) for rel, st in before}
    now = {rel: _signature(st) for rel, st in _walk(src, True)}
    return sorted(rel for rel in set(then) | set(now) if then.get(rel) != now.get(rel))


@op("archive.create", "src", "dest", format=None)
def archive_create(src: str, dest: str, format: str | None) -> dict[str, Any]:
    """Archive a folder into dest (written under a temporary name, then renamed).

    tar formats are written in one pass over the folder: each file is read once, hashed as it
    goes into the archive (`tree`: what file.tree_hash gives for the folder's content as
    archived) and the compressed bytes are hashed and tested (the compressor's own check,
    on the stream as it is written) on their way to the disk. `changed` lists entries that
    were written to, added or removed while the folder was archived.
    """
    _path(src, "src")
    _path(dest, "dest")
    fmt = _format(dest, format)
    if not os.path.isdir(src):
        raise Fail("not_found" if not os.path.lexists(src) else "invalid", f"{src} is not a directory")
    tool = _compressor(fmt) if fmt != "zip" else None
    members = _walk(src, True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dest)), prefix=".cutover.", suffix=".tmp")
    os.close(fd)
    try:
        if fmt == "zip":
            _zip_tree(src, members, tmp)
            out = _sha_size(tmp)
        else:
            out = _tar_tree(src, members, tmp, tool)
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise
    out["entries"] = len(members)
    if fmt != "zip":
        changed = _changed_since(src, members)
        out.update(changed=changed[:20], changed_count=len(changed))
    return out


class _Hashing:
    """A file object that hashes what passes through it (read or written) on its way."""

    def __init__(self, raw: Any, h: Any) -> None:
        self.raw, self.h, self.size = raw, h, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.h.update(data)
        self.size += len(data)
        return data

    def write(self, data: bytes) -> int:
        self.h.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _write_tar(src: str, members: list[tuple[str, os.stat_result]], stream: Any) -> dict[str, Any]:
    """The members as an uncompressed tar stream into `stream`; the tree digest of their content."""
    import tarfile

    tree = hashlib.sha256()
    files = total = 0
    by_inode: dict[tuple[int, int], str] = {}
    expected = sum(st.st_size for _rel, st in members if stat.S_ISREG(st.st_mode))
    regular = sum(1 for _rel, st in members if stat.S_ISREG(st.st_mode))
    _started()
    try:
        tar = tarfile.open(fileobj=stream, mode="w|", bufsize=CHUNK, copybufsize=CHUNK)
    except TypeError:  # Python before 3.8: 16 KiB copies
        tar = tarfile.open(fileobj=stream, mode="w|", bufsize=CHUNK)
    with tar:
        for rel, st in members:
            full = os.path.join(src, rel)
            info = tar.gettarinfo(full, arcname=rel)
            if not stat.S_ISREG(st.st_mode):
                tar.addfile(info)
                continue
            if info.islnk():  # a hard link to a file already archived: same content, same digest
                tar.addfile(info)
                digest = by_inode[(st.st_dev, st.st_ino)]
            else:
                h = hashlib.sha256()
                with open(full, "rb") as fh:
                    reader = _Hashing(fh, h)
                    try:
                        tar.addfile(info, reader)
                    except OSError as exc:
                        if "unexpected end of data" in str(exc):
                            raise Fail("failed", f"{full} became shorter while it was archived") from None
                        raise
                digest = h.hexdigest()
                by_inode[(st.st_dev, st.st_ino)] = digest
            tree.update(
                "{}\0{}\n".format(rel.replace(os.sep, "/"), digest).encode("utf-8", "surrogateescape")
            )
            files += 1
            total += st.st_size  # a hard link's tar entry is empty: count the file it is
            _progress(
                op="archive.create", bytes=total, bytes_total=expected, files=files, files_total=regular
            )
    return {"digest": tree.hexdigest(), "files": files, "bytes": total}


def _tar_tree(
    src: str, members: list[tuple[str, os.stat_result]], target: str, tool: tuple[list[str], list[str]] | None
) -> dict[str, Any]:
    """tar of the members through the compressor into target: {sha256, size, tree, compressor, verified}."""
    archive = hashlib.sha256()
    with open(target, "wb") as raw:
        sink = _Hashing(raw, archive)
        if tool is None:
            import gzip

            with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0) as gz:
                tree = _write_tar(src, members, gz)
            how, verified = "gzip (Python)", "gzip read back"
        else:
            tree = _through(tool, sink, lambda stdin: _write_tar(src, members, stdin))
            how, verified = " ".join(tool[0][:-1]), " ".join(tool[1]) + " while writing"
        raw.flush()
        os.fsync(raw.fileno())
    if tool is None:  # no external tool tested the stream: read the file back once
        import gzip

        with gzip.open(target, "rb") as fh:
            while fh.read(CHUNK):
                pass
    return {
        "sha256": archive.hexdigest(),
        "size": sink.size,
        "tree": tree,
        "compressor": how,
        "verified": verified,
    }


def _pump(source: Any, write: Callable[[bytes], Any], finish: Callable[[], Any]) -> BaseException | None:
    """Copy `source` into `write` chunk by chunk to its end, then `finish()`; what stopped it, if anything."""
    try:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                return None
            write(chunk)
    except BaseException as exc:  # the caller decides what a stop means
        return exc
    finally:
        try:
            finish()
        except OSError:
            pass


def _through(tool: tuple[list[str], list[str]], sink: _Hashing, produce: Callable[[Any], Any]) -> Any:
    """Run `produce(stdin)` into the compressor; its output goes to `sink` and, at once, to the tester."""
    import subprocess

    compress = subprocess.Popen(tool[0], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    _CHILDREN.add(compress)
    test = subprocess.Popen(tool[1], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    _CHILDREN.add(test)
    failure = []

    def collect() -> None:
        def both(chunk: bytes) -> None:
            sink.write(chunk)
            test.stdin.write(chunk)

        stopped = _pump(compress.stdout, both, test.stdin.close)
        if stopped is not None:  # a full disk, a tester gone: the main thread reports it
            failure.append(stopped)
            compress.kill()

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    try:
        result = None
        try:
            result = produce(compress.stdin)
        except BrokenPipeError:
            pass  # the compressor stopped reading: why is in its exit status or the collector's failure
        finally:
            try:
                compress.stdin.close()
            except OSError:
                pass
        collector.join()
        for proc in (compress, test):
            proc.wait()
        if failure:
            raise failure[0]  # e.g. no space left on the disk (dispatch says `no_space`)
        for proc, what in ((compress, tool[0][0]), (test, " ".join(tool[1]))):
            if proc.returncode != 0:
                detail = _text(proc.stderr.read()).strip()[-500:]
                raise Fail("failed", f"{what} exited with {proc.returncode}: {detail or 'no message'}")
        if result is None:
            raise Fail("failed", f"{tool[0][0]} stopped reading the archive before its end")
        return result
    finally:
        for proc in (compress, test):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            _CHILDREN.discard(proc)


def _zip_tree(src: str, members: list[tuple[str, os.stat_result]], target: str) -> None:
    """Zip with directory entries (empty folders survive) and links stored as links."""
    import zipfile

    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for rel, st in members:
            full = os.path.join(src, rel)
            name = rel.replace(os.sep, "/")
            if stat.S_ISLNK(st.st_mode):
                info = zipfile.ZipInfo(name, time.localtime(st.st_mtime)[:6])
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                zf.write(full, name)


class _Member:
    """One archive member, normalised across zip and tar: name, kind, size, link target, mode."""

    __slots__ = ("name", "kind", "size", "link", "mode", "mtime", "raw", "packed")

    def __init__(
        self, name: str, kind: str, size: int, link: str | None, mode: int, mtime: float, raw: Any
    ) -> None:
        self.name, self.kind, self.size, self.link = name, kind, size, link
        self.mode, self.mtime, self.raw = mode, mtime, raw
        #: compressed size (zip members; a tar's members share one compressed stream: None)
        self.packed: int | None = None


def zip_members(zf: Any) -> list[_Member]:
    out = []
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if info.filename.endswith("/") or stat.S_ISDIR(mode):
            kind = "directory"
        elif stat.S_ISLNK(mode):
            kind = "link"
        elif mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
            kind = "device"
        else:
            kind = "file"
        link = zf.read(info).decode("utf-8", "surrogateescape") if kind == "link" else None
        mtime = time.mktime(info.date_time + (0, 0, -1))
        member = _Member(info.filename, kind, info.file_size, link, stat.S_IMODE(mode), mtime, info)
        member.packed = info.compress_size
        out.append(member)
    return out


def _tar_members(tar: Any) -> list[_Member]:
    out = []
    for info in tar.getmembers():
        if info.isdir():
            kind = "directory"
        elif info.issym():
            kind = "link"
        elif info.islnk():
            kind = "hardlink"
        elif info.isfile():
            kind = "file"
        else:
            kind = "device"
        out.append(_Member(info.name, kind, info.size, info.linkname or None, info.mode, info.mtime, info))
    return out


def _zstd() -> str:
    found = shutil.which("zstd")
    if not found:
        raise Fail(
            "unsupported", "reading a tar.zst needs the zstd command, which is not installed on this host"
        )
    return found


def _unzstd_to(path: str, out: Any) -> None:
    """Decompress a .tar.zst into the open file `out` (zstd checks its content checksum)."""
    import subprocess

    proc = subprocess.Popen([_zstd(), "-q", "-dc", "--", path], stdout=out, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    _CHILDREN.add(proc)
    try:
        err = proc.communicate()[1]
    finally:
        _CHILDREN.discard(proc)
    if proc.returncode != 0:
        raise Fail("invalid", f"{path} is not a valid tar.zst: {_text(err).strip()[-300:]}")


class _Archive:
    """An open zip, tar.gz or tar.zst with its normalised members; a context manager.

    A tar.zst is decompressed into a temporary tar in `scratch` first (extraction reads members
    out of order; zstd streams cannot seek). Listing and verifying use `_scan_tar` instead.
    """

    def __init__(self, path: str, scratch: str | None = None) -> None:
        self.path = path
        self.fmt = _format(path, None)
        self._tmp = None
        if self.fmt == "zip":
            import zipfile

            try:
                self.handle = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise Fail("invalid", f"{path} is not a valid zip: {exc}") from None
            self.members = zip_members(self.handle)
            return
        import tarfile

        source, mode = path, "r:gz"
        if self.fmt == "tar.zst":
            if not os.path.isfile(path):
                raise FileNotFoundError(errno.ENOENT, "No such file", path)
            fd, self._tmp = tempfile.mkstemp(dir=scratch, prefix=".cutover.", suffix=".tar")
            try:
                with os.fdopen(fd, "wb") as out:
                    _unzstd_to(path, out)
            except BaseException:
                os.unlink(self._tmp)
                raise
            source, mode = self._tmp, "r:"
        try:
            self.handle = tarfile.open(source, mode)
            self.members = _tar_members(self.handle)
        except (tarfile.TarError, EOFError, OSError) as exc:
            self._discard()
            if isinstance(exc, FileNotFoundError):
                raise
            raise Fail("invalid", f"{path} is not a valid {self.fmt}: {exc}") from None

    def check_stream(self) -> None:
        """A tar.gz read to its end, so gzip checks its CRC and length before anything is written
        (zip members are checked as they are read, a tar.zst by zstd when it was decompressed)."""
        if self.fmt != "tar.gz":
            return
        import zlib

        stream = self.handle.fileobj
        try:
            while stream.read(CHUNK):
                pass
        except (EOFError, OSError, zlib.error) as exc:
            raise Fail("invalid", f"{self.path} is not a valid tar.gz: {exc}; nothing written") from None

    def open(self, member: _Member) -> Any:
        if self.fmt == "zip":
            return self.handle.open(member.raw)
        return self.handle.extractfile(member.raw)

    def _discard(self) -> None:
        if self._tmp is not None:
            os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        self._discard()


def _scan_tar(path: str, fmt: str) -> tuple[list[_Member], str, int]:
    """(members, sha256, size) of a tar.gz/tar.zst in one read of the file, the compression's own
    check included (gzip's CRC and length, zstd's content checksum); Fail("invalid") when damaged."""
    import tarfile

    h = hashlib.sha256()
    with open(path, "rb") as raw:
        reader = _Hashing(raw, h)
        try:
            if fmt == "tar.gz":
                import gzip

                with gzip.GzipFile(fileobj=reader, mode="rb") as stream:
                    with tarfile.open(fileobj=stream, mode="r|") as tar:
                        members = _tar_members(tar)
                    while stream.read(CHUNK):  # on to the trailer: its CRC is checked at the end
                        pass
            else:
                members = _scan_zstd(reader)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise Fail("invalid", f"{path} is not a valid {fmt}: {exc}") from None
        while reader.read(CHUNK):
            pass
    return members, h.hexdigest(), reader.size


def _scan_zstd(reader: _Hashing) -> list[_Member]:
    """The members of a tar.zst read through `reader`, decompressed by zstd on the way."""
    import subprocess
    import tarfile

    proc = subprocess.Popen([_zstd(), "-q", "-dc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    _CHILDREN.add(proc)

    def feed() -> None:
        _pump(reader, proc.stdin.write, proc.stdin.close)  # zstd stopping early: its exit status says why

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            members = _tar_members(tar)
        while proc.stdout.read(CHUNK):  # to the end, so that zstd checks the whole stream
            pass
        feeder.join()
        err = proc.stderr.read()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        _CHILDREN.discard(proc)
    if proc.returncode != 0:
        raise OSError(_text(err).strip()[-300:] or f"zstd exited with {proc.returncode}")
    return members


def _parts(name: str) -> list[str]:
    """Path components of an archive name, splitting on both separators."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _absolute(name: str) -> bool:
    return name.startswith("/") or (len(name) > 1 and name[1] == ":")


def _unsafe(member: _Member, strip: int = 0) -> str | None:
    """Why a member could escape the destination (after `strip` leading parts), or None."""
    name = member.name.replace("\\", "/")
    if _absolute(name):
        return "absolute path"
    parts = _parts(name)
    if ".." in parts:
        return "'..' in path"
    if member.kind == "device":
        return "device or special file"
    if member.kind in ("link", "hardlink"):
        target = (member.link or "").replace("\\", "/")
        if not target:
            return "link without target"
        if _absolute(target):
            return f"link to absolute path {member.link}"
        if member.kind == "hardlink":
            return f"hard link out of the destination ({member.link})" if ".." in _parts(target) else None
        depth = len(parts[strip:-1])  # a symlink's target is relative to its own folder
        for part in _parts(target):
            depth += -1 if part == ".." else 1
            if depth < 0:
                return f"link out of the destination ({member.link})"
    return None


@op("archive.list", "path")
def archive_list(path: str) -> dict[str, Any]:
    _path(path)
    if _format(path, None) == "tar.zst":
        members = _scan_tar(path, "tar.zst")[0]
    else:
        with _Archive(path) as arc:
            members = arc.members
    entries = []
    for m in members:
        entry = {"name": m.name, "size": m.size, "type": m.kind}
        if m.link is not None:
            entry["target"] = m.link
        why = _unsafe(m)
        if why:
            entry["unsafe"] = why
        entries.append(entry)
    return {"entries": entries}


@op("archive.verify", "path")
def archive_verify(path: str) -> dict[str, Any]:
    """Read every member (zip CRCs; gzip's CRC, zstd's checksum) and report; a damaged archive is an
    answer, not an error. A tar is read once: hashed, decompressed and listed in the same pass."""
    _path(path)
    fmt = _format(path, None)
    if fmt != "zip":
        if not os.path.isfile(path):
            raise FileNotFoundError(errno.ENOENT, "No such file", path)
        try:
            members, digest, size = _scan_tar(path, fmt)
        except Fail as exc:
            if exc.kind == "unsupported":
                raise
            out = _sha_size(path)
            out.update(ok=False, entries=0, error=str(exc))
            return out
        return {"sha256": digest, "size": size, "entries": len(members), "ok": True}
    out = _sha_size(path)
    try:
        with _Archive(path) as arc:
            bad = arc.handle.testzip()
            if bad is not None:
                raise Fail("invalid", f"bad CRC in member {bad}")
            out["entries"] = len(arc.members)
        out["ok"] = True
    except FileNotFoundError:
        raise
    except Exception as exc:
        out.update(ok=False, entries=0, error=str(exc))
    return out


def _strip(name: str, strip: int) -> str | None:
    """The member's path below dest. Only '/' separates here: on posix a backslash is part of a
    name (the safety checks, stricter, treat it as a separator too)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts[strip:]) if len(parts) > strip else None


def _same_content(arc: _Archive, member: _Member, path: str) -> bool:
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) != member.size:
            return False
    except OSError:
        return False
    with arc.open(member) as a, open(path, "rb") as b:
        while True:
            x, y = a.read(CHUNK), b.read(CHUNK)
            if x != y:
                return False
            if not x:
                return True


def _inside(root: str, path: str) -> bool:
    """True when `path`'s existing parent really resolves inside root (no pre-existing link out)."""
    real = os.path.realpath(os.path.dirname(path))
    return real == root or real.startswith(root + os.sep)


#: The limits of archive.extract, each an argument of the call (0 turns one off). A 1CRM update
#: package (tens of thousands of files, a few hundred MB of PHP and images compressing 2-10:1)
#: passes them; a zip bomb (a 1 GB file of zeros deflated to 1 MB is 1000:1, 42.zip's members
#: are ~1000:1 at every layer) does not. Documented in docs/security.md, 8.
EXTRACT_LIMITS = {"max_size": 20 << 30, "max_members": 500_000, "max_ratio": 200, "max_total_ratio": 100}
#: Ratios are judged from this many uncompressed bytes on: a 100 KB file of spaces is no bomb.
RATIO_FLOOR = 1 << 20
#: Links followed while one path is resolved before it counts as a loop (Linux's MAXSYMLINKS).
_LINK_HOPS = 40


def _refuse(member: str, rule: str, kind: str = "unsafe") -> Fail:
    return Fail(kind, f"archive refused, nothing written: {member}: {rule}")


def check_limits(values: dict[str, Any]) -> dict[str, int]:
    for name, value in values.items():
        _need(value, int, name, "a whole number >= 0 (0: no limit)")
        if value < 0:
            raise Fail("invalid", f"argument {name!r} must be >= 0 (0: no limit)")
    return values


class _Tree:
    """What dest will hold, member after member: paths resolved as the kernel will resolve them.

    A symlink made by an earlier member is followed when a later member's path is resolved (a
    chain `a -> .`, `a/b -> ..` is caught), and what is already in dest counts where no member
    says otherwise. `resolve` answers the real path below dest, or None when it leaves dest.
    """

    def __init__(self, dest: str, windows: bool = False) -> None:
        self.dest = dest
        #: Windows: names equal but for case are one name, and dest is not read here (the simulation)
        self.windows = windows
        self.root = os.path.realpath(dest) if not windows and os.path.isdir(dest) else None
        self.entries: dict[tuple[str, ...], tuple[str, str | None]] = {}
        self._disk: dict[tuple[str, ...], tuple[str, str | None] | None] = {}

    def key(self, parts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        return tuple(p.casefold() for p in parts) if self.windows else tuple(parts)

    def get(self, parts: tuple[str, ...]) -> tuple[str, str | None] | None:
        """(kind, link target) of an entry, from the archive's members first, then from dest."""
        found = self.entries.get(self.key(parts))
        if found is not None or self.root is None:
            return found
        if parts not in self._disk:
            full = os.path.join(self.dest, *parts)
            try:
                st = os.lstat(full)
            except OSError:
                self._disk[parts] = None
            else:
                if stat.S_ISLNK(st.st_mode):
                    self._disk[parts] = ("link", os.readlink(full))
                else:
                    self._disk[parts] = ("directory" if stat.S_ISDIR(st.st_mode) else "file", None)
        return self._disk[parts]

    def resolve(self, parts: list[str] | tuple[str, ...]) -> tuple[str, ...] | None:
        """The real path below dest that `parts` names, links followed; None: it leaves dest."""
        stack: list[str] = []
        todo = list(parts)
        hops = 0
        while todo:
            name = todo.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if not stack:
                    return None
                stack.pop()
                continue
            here = (*stack, name)
            entry = self.get(here)
            if entry is None or entry[0] != "link":
                stack.append(name)
                continue
            hops += 1
            if hops > _LINK_HOPS:
                return None
            target = (entry[1] or "").replace("\\", "/")
            if target.startswith("/"):
                inside = self._below_root(target)
                if inside is None:
                    return None
                stack, todo = [], [*inside, *todo]
            else:
                todo = [*target.split("/"), *todo]
        return tuple(stack)

    def _below_root(self, absolute: str) -> list[str] | None:
        """An absolute link target already in dest, as parts below dest (None: elsewhere)."""
        for base in {self.root or "", os.path.abspath(self.dest)}:
            if base and (absolute == base or absolute.startswith(base + "/")):
                return _parts(absolute[len(base) :])
        return None


class _Listing:
    """An archive's path and members, listed without opening it for extraction (tar.zst)."""

    def __init__(self, path: str, members: list[_Member]) -> None:
        self.path, self.members = path, members


def check_members(
    arc: _Archive, dest: str, strip: int, limits: dict[str, int], windows: bool = False
) -> tuple[_Tree, list, int]:
    """Every member checked before anything is written: (tree, [(member, real path)], total bytes).

    Refused (one line naming the member and the rule): an unsafe name or link (`_unsafe`), a path
    that resolves through a link out of dest (links of earlier members count), a link whose chain
    ends outside dest, a hard link to anything but a file earlier in the archive, two members with
    the same path, and the limits (member count, total size, compression ratio per member and of
    the whole archive). `windows`: names equal but for case are the same path (the simulated
    Windows host uses these rules too, so all extractors refuse the same archives).
    """
    members = arc.members
    if limits["max_members"] and len(members) > limits["max_members"]:
        raise _refuse(arc.path, f"{len(members)} members, over max_members {limits['max_members']}")
    tree = _Tree(dest, windows)
    plan, total = [], 0
    for m in members:
        why = _unsafe(m, strip)
        if why:
            raise _refuse(m.name, why)
        rel = _strip(m.name, strip)
        if rel is None:
            continue
        parts = rel.split("/")
        parent = tree.resolve(parts[:-1])
        if parent is None:
            raise _refuse(m.name, f"its folder resolves through a link out of {dest}")
        real = (*parent, parts[-1])
        before = tree.entries.get(tree.key(real))
        if before is not None and not (before[0] == m.kind == "directory"):
            same = "the same path" + (" (names differ only by case)" if windows else "")
            raise _refuse(m.name, f"duplicate member name (an earlier member has {same})")
        if m.kind == "link":
            if tree.resolve([*parent, *(m.link or "").replace("\\", "/").split("/")]) is None:
                raise _refuse(m.name, f"link out of the destination ({m.link})")
        elif m.kind == "hardlink":
            linked = _strip(m.link or "", strip)
            source = tree.resolve(linked.split("/")) if linked else None
            if source is None or tree.entries.get(tree.key(source), ("",))[0] != "file":
                raise _refuse(m.name, f"hard link to {m.link}, which is not a file earlier in the archive")
            m.link = "/".join(source)
        elif m.kind == "file":
            total += m.size
            if limits["max_size"] and total > limits["max_size"]:
                raise _refuse(m.name, f"total uncompressed size over max_size {limits['max_size']} bytes")
            ratio = m.size / max(m.packed or 1, 1)
            if (
                m.packed is not None
                and limits["max_ratio"]
                and m.size >= RATIO_FLOOR
                and ratio > limits["max_ratio"]
            ):
                raise _refuse(
                    m.name,
                    f"compression ratio {ratio:.0f}:1 ({m.size} bytes from {m.packed}), over max_ratio {limits['max_ratio']}",
                )
        tree.entries[tree.key(real)] = (m.kind, m.link if m.kind == "link" else None)
        plan.append((m, real))
    for m, real in plan:  # a later link may have changed where an earlier one leads
        link = (m.link or "").replace("\\", "/")
        if m.kind == "link" and tree.resolve([*real[:-1], *link.split("/")]) is None:
            raise _refuse(m.name, f"link chain out of the destination ({m.link})")
    packed = os.path.getsize(arc.path)
    ratio = total / max(packed, 1)
    if limits["max_total_ratio"] and total >= RATIO_FLOOR and ratio > limits["max_total_ratio"]:
        raise _refuse(
            arc.path,
            f"compression ratio {ratio:.0f}:1 ({total} bytes from {packed}), over max_total_ratio {limits['max_total_ratio']}",
        )
    return tree, plan, total


def _existing_parent(path: str) -> str:
    """The nearest existing folder at or above `path` (where a scratch file can be written)."""
    probe = os.path.abspath(path)
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return probe


#: the least a member costs a file system beyond its bytes: an NTFS file record is 1 KiB (a small
#: file lives inside it), an ext4 inode 256 bytes
RECORD = 1024


def space_needed(total: int, entries: int) -> int:
    """What extracting `entries` members of `total` bytes needs free: 10% more and a record per member."""
    return total + total // 10 + RECORD * entries


def _check_space(src: str, dest: str, total: int, entries: int) -> None:
    """Refuse before writing when dest's volume cannot hold the declared size with a margin."""
    volume = _existing_parent(os.path.dirname(os.path.abspath(dest)))
    st = os.statvfs(volume)
    free = st.f_bavail * st.f_frsize
    needed = space_needed(total, entries)
    if needed > free:
        raise Fail(
            "no_space",
            f"archive refused, nothing written: {src} needs {needed} bytes ({total} uncompressed, 10% "
            f"and 1 KiB per member more) on the volume of {volume}, which has {free} bytes free",
        )


def _to_write(arc: _Archive, tree: _Tree, plan: list, dest: str, overwrite: bool) -> list:
    """The members that change dest (unchanged ones dropped); conflicts refused unless overwrite."""
    out, conflicts = [], []
    for m, real in plan:
        target = os.path.join(dest, *real)
        if m.kind == "directory":
            if os.path.lexists(target) and not os.path.isdir(target):
                raise Fail("exists", f"{target} is in the way of folder {m.name}")
            if not os.path.isdir(target):
                out.append((m, real))
            continue
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                raise Fail("exists", f"{target} is a directory in the way of {m.name}")
            if m.kind == "file" and _same_content(arc, m, target):
                continue
            source = os.path.join(dest, *m.link.split("/")) if m.kind == "hardlink" else ""
            if m.kind == "hardlink" and os.path.exists(source) and os.path.samefile(target, source):
                continue
            if m.kind == "link" and os.path.islink(target) and os.readlink(target) == m.link:
                continue
            if not overwrite:
                conflicts.append(target)
                continue
        out.append((m, real))
    if conflicts:
        raise Fail("exists", f"would overwrite {len(conflicts)} file(s), e.g. {conflicts[0]} (use overwrite)")
    return out


def _write_member(arc: _Archive, m: _Member, path: str, staging: str) -> None:
    """One member into the staging folder; a corrupt member (bad CRC, truncated) is Fail(invalid).
    A hard link to a file that dest already holds unchanged is made when staging moves in."""
    import zlib

    if m.kind == "directory":
        if not os.path.isdir(path):
            os.makedirs(path)
        return
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent)
    if m.kind == "link":
        os.symlink(m.link, path)
        return
    if m.kind == "hardlink":
        source = os.path.join(staging, *m.link.split("/"))
        if os.path.lexists(source):
            os.link(source, path)
        return
    try:
        with arc.open(m) as fh, open(path, "xb") as out:
            copied = 0
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > m.size:  # never more than the member declared (the limits judged that)
                    raise ValueError(f"more data than the {m.size} bytes declared")
                out.write(chunk)
        if copied != m.size:
            raise ValueError(f"{copied} bytes instead of the {m.size} declared")
    except (ValueError, EOFError, zlib.error) as exc:
        raise _refuse(m.name, f"corrupt member ({exc})", "invalid") from None
    except Exception as exc:  # zipfile.BadZipFile (bad CRC), tarfile.ReadError, gzip.BadGzipFile
        if type(exc).__name__ in ("BadZipFile", "ReadError", "BadGzipFile", "StreamError"):
            raise _refuse(m.name, f"corrupt member ({exc})", "invalid") from None
        raise
    os.chmod(path, (m.mode & 0o777) or 0o644)
    os.utime(path, (m.mtime, m.mtime))


def _beside(dest: str, what: str) -> str:
    """A new, empty folder next to dest (same file system, so moving from it is a rename)."""
    parent = os.path.dirname(os.path.abspath(dest))
    return tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(dest)}.cutover-{what}-")


def _commit(staging: str, dest: str, writes: list) -> None:
    """Move what staging holds into dest: all of it, or (on any failure) none of it.

    A missing dest is the staging folder renamed. Into an existing dest, each file replaced is
    first renamed into an aside folder, and a failure puts every moved file back before the aside
    folder goes: dest is as it was.
    """
    if not os.path.lexists(dest):
        os.chmod(staging, 0o777 & ~_umask())
        os.rename(staging, dest)
        return
    aside = _beside(dest, "old")
    done: list[tuple[str, str, str | None]] = []  # (kind, final path, aside copy)
    try:
        for m, real in writes:
            final = os.path.join(dest, *real)
            if m.kind == "directory":
                if not os.path.isdir(final):
                    os.mkdir(final)
                    done.append(("mkdir", final, None))
                continue
            for folder in _missing_folders(final):
                os.mkdir(folder)
                done.append(("mkdir", folder, None))
            old = None
            if os.path.lexists(final):
                old = os.path.join(aside, str(len(done)))
                os.rename(final, old)
            staged = os.path.join(staging, *real)
            if os.path.lexists(staged):
                os.rename(staged, final)
            else:  # a hard link to a file dest already holds
                os.link(os.path.join(dest, *m.link.split("/")), final)
            done.append(("file", final, old))
    except BaseException:
        for kind, final, old in reversed(done):
            if kind == "mkdir":
                os.rmdir(final)
                continue
            os.unlink(final)
            if old is not None:
                os.rename(old, final)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _missing_folders(path: str) -> list[str]:
    """The missing folders above `path`, outermost first."""
    made, probe = [], os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(probe):
        made.append(probe)
        probe = os.path.dirname(probe)
    return made[::-1]


def _make_parents(dest: str) -> list[str]:
    """Create dest's missing parents; the ones created, deepest first (to remove on failure)."""
    made = _missing_folders(dest)
    for folder in made:
        os.mkdir(folder)
    return made[::-1]


@op("archive.extract", "src", "dest", overwrite=False, strip=0, **EXTRACT_LIMITS)
def archive_extract(src: str, dest: str, overwrite: bool, strip: int, **limits: int) -> dict[str, Any]:
    """Extract all or nothing: members checked, then written into a staging folder beside dest,
    then moved in; on any failure the staging folder goes and dest is left exactly as it was."""
    _path(src, "src")
    _path(dest, "dest")
    overwrite = _flag(overwrite, "overwrite")
    _need(strip, int, "strip", "a non-negative integer")
    if strip < 0:
        raise Fail("invalid", "strip must be >= 0")
    limits = check_limits(limits)
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise Fail("exists", f"{dest} exists and is not a folder")
    if _format(src, None) == "tar.zst":  # decompressed into a scratch tar first: judge its listing before
        listed = _Listing(src, _scan_tar(src, "tar.zst")[0])
        _tree, plan, total = check_members(listed, dest, strip, limits)
        _check_space(src, dest, 2 * total, 2 * len(plan))  # the scratch tar, then the staging folder
    with _Archive(src, scratch=_existing_parent(dest)) as arc:
        tree, plan, total = check_members(arc, dest, strip, limits)
        _check_space(src, dest, total, len(plan))
        arc.check_stream()
        writes = _to_write(arc, tree, plan, dest, overwrite)
        if not writes and os.path.isdir(dest):
            return {"changed": False, "files": 0}
        made = _make_parents(dest)
        staging = _beside(dest, "new")
        try:
            files = written = 0
            wanted = sum(m.size for m, _r in writes if m.kind == "file")
            _started()
            for m, real in writes:
                _write_member(arc, m, os.path.join(staging, *real), staging)
                if m.kind != "directory":
                    files += 1
                    written += m.size if m.kind == "file" else 0
                _progress(
                    op="archive.extract",
                    bytes=written,
                    bytes_total=wanted,
                    files=files,
                    files_total=len(writes),
                )
            _commit(staging, dest, writes)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            for folder in made:
                os.rmdir(folder)
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return {"changed": True, "files": files}


# --------------------------------------------------------------------------- processes

# Popen objects of running commands. No lock: set.add/discard/copy are atomic under the GIL, and
# a lock could deadlock when the signal handler interrupts the main thread holding it.
_CHILDREN = set()


def _kill_children() -> None:
    """Kill the process group of every command still running (stdin closed, timeout, signal)."""
    for pid in [p.pid for p in _CHILDREN.copy()]:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def _env(env: Any) -> dict[str, str] | None:
    if env is None:
        return None
    _need(env, dict, "env", "an object of name: value")
    merged = dict(os.environ)
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        elif not isinstance(value, str) or not key or "=" in key or "\0" in key + value:
            raise Fail("invalid", f"env {key!r} must map to a string without NUL")
        else:
            merged[key] = value
    return merged


#: How often a running program's progress log is read for its last line.
LOG_POLL = 2.0
#: How much of the end of a progress log is read to find its last line.
LOG_TAIL = 4096


def _log_tail(path: str) -> str:
    """The last non-empty line of a log a program is writing ('' while it has none).

    Read from the end only (logs of long installs are large); UTF-16 when the file says so with
    its BOM (Windows installers often write it), UTF-8 otherwise, undecodable bytes replaced.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL))
            data = fh.read()
    except OSError:
        return ""
    if head in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16-le" if head == b"\xff\xfe" else "utf-16-be"
        data = data[len(data) % 2 :]
        text = data.decode(codec, "replace").lstrip("\ufeff")
    else:
        text = data.decode("utf-8", "replace")
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
    return lines[-1][:500] if lines else ""


def _communicate(proc: Any, data: bytes | None, timeout: float | None, log: str | None) -> tuple[Any, Any]:
    """`proc.communicate`, sending the last line of `log` as progress every LOG_POLL s meanwhile.

    communicate() may be called again after its timeout without losing output (the subprocess
    documentation says so); the input goes with the first call only.
    """
    import subprocess

    if log is None:
        return proc.communicate(data, timeout=timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    last = ""
    while True:
        wait = LOG_POLL if deadline is None else min(LOG_POLL, max(0.0, deadline - time.monotonic()))
        try:
            return proc.communicate(data, timeout=wait)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        data = None
        line = _log_tail(log)
        if line and line != last:
            last = line
            _PROGRESS["last"] = 0.0  # a new line is always worth a frame
            _progress(op="process.run", line=line)


@op("process.run", "argv", cwd=None, env=None, stdin_b64=None, timeout=None, shell=False, progress_log=None)
def process_run(
    argv: Any,
    cwd: str | None,
    env: Any,
    stdin_b64: str | None,
    timeout: float | None,
    shell: bool,
    progress_log: str | None = None,
) -> dict[str, Any]:
    """Run argv (a list; shell=true runs argv[0] with /bin/sh, the rest as $0 $1 ...) in its own group.

    With `progress_log`, the last line of that file goes to the controller as a progress frame
    while the program runs, and as `progress_last` in the answer (the one line a journal keeps).
    """
    import subprocess

    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise Fail("invalid", "argv must be a non-empty list of strings")
    for at, item in enumerate(argv):
        if "\0" in item:
            raise Fail("invalid", f"argv[{at}] contains a NUL character (\\0) at position {item.index(chr(0))}: "
                       "a program argument ends at NUL")  # fmt: skip
        try:
            item.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise Fail("invalid", f"argv[{at}] contains U+{ord(item[exc.start]):04X} at position {exc.start}: "
                       "a lone surrogate is not a character and cannot be passed to a program") from None
    command = argv[0]
    if _flag(shell, "shell"):
        argv = ["/bin/sh", "-c"] + argv
    if cwd is not None:
        _path(cwd, "cwd")
    if timeout is not None:
        _need(timeout, (int, float), "timeout", "a number of seconds")
    if progress_log is not None:
        _path(progress_log, "progress_log")
    data = None
    if stdin_b64 is not None:
        _need(stdin_b64, str, "stdin_b64", "a base64 string")
        data = base64.b64decode(stdin_b64)
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_env(env),
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = cwd if cwd is not None and not os.path.isdir(cwd) else argv[0]
        raise Fail("not_found", "not found: %s" % (exc.filename or missing)) from None
    _CHILDREN.add(proc)
    try:
        out, err = _communicate(proc, data, timeout, progress_log)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        raise Fail("timeout", f"command timed out after {timeout}s and was killed: {command}") from None
    finally:
        _CHILDREN.discard(proc)
    answer = {"rc": proc.returncode, "stdout": _text(out), "stderr": _text(err)}
    if progress_log is not None:
        answer["progress_last"] = _log_tail(progress_log)
    return answer


@op("disk.free", "path")
def disk_free(path: str) -> dict[str, int]:
    """Free space where `path` is, or would be: a missing path counts for its nearest existing parent."""
    probe = os.path.abspath(_path(path))
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    st = os.statvfs(probe)
    return {"free": st.f_bavail * st.f_frsize, "total": st.f_blocks * st.f_frsize}


# --------------------------------------------------------------------------- network


@op("http.get", "url", timeout=10, headers=None, max_bytes=None, validate_certs=True)
def http_get(
    url: str, timeout: float, headers: dict[str, str] | None, max_bytes: int | None, validate_certs: bool
) -> dict[str, Any]:
    import socket
    import ssl
    import urllib.error
    import urllib.request

    _need(url, str, "url", "a string")
    if not url.lower().startswith(("http://", "https://")):
        raise Fail("invalid", "only http:// and https:// URLs are allowed")
    _need(timeout, (int, float), "timeout", "a number of seconds")
    if headers is not None:
        _need(headers, dict, "headers", "an object of name: value")
    context = None
    if not _flag(validate_certs, "validate_certs"):
        context = ssl._create_unverified_context()
    request = urllib.request.Request(url, headers=dict(headers or {}))
    start = time.monotonic()
    try:
        resp = urllib.request.urlopen(request, timeout=timeout, context=context)
    except urllib.error.HTTPError as exc:
        resp = exc
    except (socket.timeout, TimeoutError):  # noqa: UP041 (distinct classes before python 3.10)
        raise Fail("timeout", f"no answer from {url} within {timeout}s") from None
    except urllib.error.URLError as exc:
        timed_out = isinstance(exc.reason, (socket.timeout, TimeoutError))  # noqa: UP041
        kind = "timeout" if timed_out else "failed"
        raise Fail(kind, f"{url}: {exc.reason}") from None
    with resp:
        body = resp.read() if max_bytes is None else resp.read(max_bytes + 1)
        charset = resp.headers.get_content_charset() or "utf-8"
        truncated = max_bytes is not None and len(body) > max_bytes
        return {
            "status": resp.status if hasattr(resp, "status") else resp.code,
            "headers": dict(resp.headers.items()),
            "body": body[:max_bytes].decode(charset, "replace")
            if truncated
            else body.decode(charset, "replace"),
            "truncated": truncated,
            "elapsed": round(time.monotonic() - start, 6),
        }


@op("net.port", "port", address="127.0.0.1", timeout=2)
def net_port(port: int, address: str, timeout: float) -> dict[str, bool]:
    import socket

    _need(port, int, "port", "an integer")
    if not 0 < port < 65536:
        raise Fail("invalid", "port must be between 1 and 65535")
    _need(address, str, "address", "a host name or address")
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return {"open": True}
    except OSError:
        return {"open": False}


# --------------------------------------------------------------------------- services (systemd)


def _systemctl() -> str:
    path = shutil.which("systemctl")
    if path is None or not os.path.isdir("/run/systemd/system"):
        raise Fail("unsupported", "services need systemd, which is not running on this host")
    return path


def _unit(name: str) -> str:
    _need(name, str, "name", "a unit name")
    if not name or name.startswith("-") or not all(c.isalnum() or c in ":_.@-\\" for c in name):
        raise Fail("invalid", f"{name!r} is not a valid service name")
    return name


def _service_state(systemctl: str, name: str) -> dict[str, Any]:
    import subprocess

    props = "LoadState,ActiveState,UnitFileState,FragmentPath"
    out = subprocess.run(
        [systemctl, "show", "--property=" + props, "--", name],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, LC_ALL="C"),
    )
    values = dict(line.partition("=")[::2] for line in _text(out.stdout).splitlines())
    if out.returncode != 0 or values.get("LoadState") in (None, "not-found"):
        return {"exists": False, "state": "unknown", "start_mode": "unknown"}
    active = values.get("ActiveState", "")
    state = {"active": "running", "inactive": "stopped", "failed": "stopped"}.get(active, "unknown")
    file_state = values.get("UnitFileState", "")
    mode = {"enabled": "auto", "enabled-runtime": "auto", "disabled": "disabled", "masked": "disabled"}
    start = mode.get(file_state, "manual" if file_state in ("static", "indirect", "generated") else "unknown")
    answer = {"exists": True, "state": state, "start_mode": start}
    if values.get("FragmentPath"):
        answer["path"] = values["FragmentPath"]
    return answer


@op("service.get", "name")
def service_get(name: str) -> dict[str, Any]:
    return _service_state(_systemctl(), _unit(name))


@op("service.set", "name", state=None, start_mode=None, timeout=None)
def service_set(
    name: str, state: str | None, start_mode: str | None, timeout: float | None
) -> dict[str, Any]:
    import subprocess

    systemctl, name = _systemctl(), _unit(name)
    if state not in (None, "running", "stopped", "restarted"):
        raise Fail("invalid", "state must be running, stopped or restarted")
    if start_mode not in (None, "auto", "manual", "disabled"):
        raise Fail("invalid", "start_mode must be auto, manual or disabled")
    before = _service_state(systemctl, name)
    if not before["exists"]:
        raise Fail("not_found", f"service {name} does not exist")
    actions = []
    if start_mode == "auto" and before["start_mode"] != "auto":
        actions.append("enable")
    elif start_mode in ("manual", "disabled") and before["start_mode"] == "auto":
        actions.append("disable")
    if state == "restarted":
        actions.append("restart")
    elif state == "running" and before["state"] != "running":
        actions.append("start")
    elif state == "stopped" and before["state"] == "running":
        actions.append("stop")
    for action in actions:
        try:
            done = subprocess.run(
                [systemctl, action, "--", name],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise Fail("timeout", f"systemctl {action} {name} did not finish within {timeout}s") from None
        if done.returncode != 0:
            raise Fail("failed", f"systemctl {action} {name}: {_text(done.stderr).strip()}")
    return {"changed": bool(actions), "before": before, "after": _service_state(systemctl, name)}


# --------------------------------------------------------------------------- estate lock markers
# One marker file per estate (engine/execute/estate_markers.py says where): its content is the
# holder's JSON. It is created complete under a temporary name and hard-linked into place: link(2)
# fails with EEXIST when the marker exists, atomically, so of two concurrent takes exactly one wins
# and no reader ever sees a half-written marker (O_EXCL would show an empty file for a moment).


def _marker_path(path: object) -> str:
    """The marker's absolute path; `~` is the helper's account's home (a marker of an account that
    may not write the shared folder)."""
    return os.path.abspath(os.path.expanduser(_path(path)))


def _marker_holder(path: str) -> dict[str, Any] | None:
    """The marker's holder; None when there is no marker, {unreadable: true} when it is not JSON."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(65536)
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(data.decode("utf-8"))
    except ValueError:
        return {"unreadable": True}
    return holder if isinstance(holder, dict) else {"unreadable": True}


def _marker_temp(path: str, holder: dict[str, Any]) -> str:
    """The holder written and synced under a temporary name beside `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(json.dumps(holder, sort_keys=True).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    return tmp


@op("lock.take", "path", "holder")
def lock_take(path: str, holder: Any) -> dict[str, Any]:
    path = _marker_path(path)
    holder = _need(holder, dict, "holder", "an object")
    run_id = _need(holder.get("run_id"), str, "holder.run_id", "a string")
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    tmp = _marker_temp(path, holder)
    try:
        try:
            os.link(tmp, path)
            again = False
        except FileExistsError:
            found = _marker_holder(path)
            if found is not None and found.get("run_id") != run_id:
                return {"taken": False, "again": False, "holder": found, "path": path}
            os.replace(tmp, path)  # our own marker (a resume), or one removed in between
            tmp = None
            again = found is not None
        _fsync_dir(os.path.dirname(path))
        return {"taken": True, "again": again, "holder": holder, "path": path}
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


@op("lock.beat", "path", "run_id", "heartbeat")
def lock_beat(path: str, run_id: str, heartbeat: str) -> dict[str, Any]:
    path = _marker_path(path)
    found = _marker_holder(path)
    if found is None or found.get("run_id") != run_id:
        return {"beat": False, "holder": found}
    found["heartbeat"] = _need(heartbeat, str, "heartbeat", "a string")
    os.replace(_marker_temp(path, found), path)
    return {"beat": True, "holder": found}


@op("lock.inspect", "path")
def lock_inspect(path: str) -> dict[str, Any]:
    found = _marker_holder(_marker_path(path))
    return {"exists": found is not None, "holder": found}


@op("lock.release", "path", "run_id", force=False)
def lock_release(path: str, run_id: str, force: bool) -> dict[str, Any]:
    path = _marker_path(path)
    found = _marker_holder(path)
    if found is None:
        return {"changed": False, "holder": None}
    if found.get("run_id") != run_id and not _flag(force, "force"):
        raise Fail("exists", "{} is held by run {}, not {}".format(path, found.get("run_id"), run_id))
    try:
        os.unlink(path)
    except FileNotFoundError:
        return {"changed": False, "holder": found}
    return {"changed": True, "holder": found}


# --------------------------------------------------------------------------- the frame loop


#: where progress frames go (the protocol stream, once the hello is out) and when the last went
_PROGRESS = {"out": None, "last": 0.0}
PROGRESS_EVERY = 1.0


def _progress(**values: Any) -> None:
    """A `{"progress": {...}}` frame before the batch's answer, at most once a second.

    Long primitives (archives) call this as they go; the controller passes the values to
    whoever watches the call (a module showing MB/s and the time left) and reads on. Called only
    from the thread answering the batch, so frames never interleave.
    """
    out, now = _PROGRESS["out"], time.monotonic()
    if out is None or now - _PROGRESS["last"] < PROGRESS_EVERY:
        return
    _PROGRESS["last"] = now
    _write_frame(out, {"progress": values})


def _started() -> None:
    """A long primitive begins: its first progress frame comes a full interval later."""
    _PROGRESS["last"] = time.monotonic()


def _read_frame(stream: Any) -> bytes | None:
    header = stream.readline()
    if not header:
        return None
    return stream.read(int(header))


def _write_frame(stream: Any, obj: object) -> None:
    body = json.dumps(obj, separators=(",", ":")).encode("ascii")
    stream.write(b"%d\n%s" % (len(body), body))
    stream.flush()


def _reader(stream: Any, inbox: Any) -> None:
    """Read requests as they come; on EOF the controller is gone: kill our commands and exit."""
    try:
        while True:
            frame = _read_frame(stream)
            if frame is None:
                break
            inbox.put(frame)
    except Exception:
        pass
    _kill_children()
    os._exit(0)


def _on_signal(signum: int, frame: object) -> None:
    _kill_children()
    os._exit(128 + signum)


def _serve(stdin: Any, stdout: Any) -> None:
    import queue

    inbox = queue.Queue()
    threading.Thread(target=_reader, args=(stdin, inbox), daemon=True).start()
    stdout.write(MARK)
    hello = {
        "hello": PROTOCOL,
        "pid": os.getpid(),
        "python": ".".join(map(str, sys.version_info[:3])),
        "executable": sys.executable,
    }
    _write_frame(stdout, hello)
    _PROGRESS["out"] = stdout
    while True:
        try:
            calls = json.loads(inbox.get())
        except ValueError as exc:
            calls = f"bad request frame: {exc}"
        if isinstance(calls, list):
            _write_frame(stdout, [dispatch(c) for c in calls])
        else:
            _write_frame(stdout, {"error": calls if isinstance(calls, str) else "a request must be a list"})


def main() -> None:
    """Serve batches until stdin closes; whatever ends the loop, our commands die with us."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Our stdout is the protocol channel: anything else printing to it would corrupt frames.
    sys.stdout = sys.stderr
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    status = 0
    try:
        _serve(stdin, stdout)
    except BaseException:  # e.g. a broken stdout pipe: the controller is gone
        status = 1
    _kill_children()
    os._exit(status)


if __name__ == "__main__":
    main()
