"""Where backup files live and dump tools run: a host through its primitives, or the controller.

MariaDB/PostgreSQL dumps and SQL Server backup files are on the database host, so commands run
and files are hashed there through `ctx.remote` (process.run, file.hash, ...). SQLite files are
on the controller. Operations take a `HostFiles` and do not care which of the two it is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ntpath
import os
import posixpath
import subprocess
from dataclasses import dataclass
from typing import Any, Protocol

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect import host_kind
from engine.db.errors import DbError


@dataclass(slots=True)
class RunResult:
    """Exit code and output of a command (text)."""

    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class ToolMissing(DbError):
    """The command to run is not installed on the host."""


class HostFiles(Protocol):
    """File and process access on the machine that holds the backups."""

    #: inventory host name, or None for the controller
    host: str | None
    #: `posix` or `windows`: decides path syntax
    platform: str

    def run(
        self, argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> RunResult:
        """Run a command (argv list, never a shell string)."""
        ...

    def hash(self, path: str) -> tuple[str, int]:
        """(sha256 hex digest, size in bytes) of a file."""
        ...

    def stat(self, path: str) -> dict[str, Any]:
        """file.stat's answer: {exists, type, size, mtime, ...}."""
        ...

    def list(self, path: str, pattern: str | None = None) -> list[dict[str, Any]]:
        """Files directly in a directory: [{path (relative), type, size, mtime}]."""
        ...

    def remove(self, path: str) -> bool:
        """Delete a file; whether it existed."""
        ...

    def mkdir(self, path: str) -> None:
        """Create a directory with its parents (no error when it exists)."""
        ...

    def tail(self, path: str, size: int) -> str:
        """The last `size` bytes of a text file, decoded leniently."""
        ...


def join(files: HostFiles, directory: str, name: str) -> str:
    """Path join with the host's own syntax (a Windows DB server wants backslashes)."""
    return (ntpath if files.platform == "windows" else posixpath).join(directory, name)


class RemoteFiles:
    """HostFiles through a host's primitives (`ctx.remote`)."""

    def __init__(self, remote: Remote):
        self.remote = remote
        self.host: str | None = remote.host_name
        self.platform = host_kind(remote.connection.host).platform

    def run(
        self, argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> RunResult:
        args: dict[str, Any] = {"argv": list(argv)}
        if env:
            args["env"] = dict(env)
        if timeout:
            args["timeout"] = timeout
        try:
            value = self.remote.call("process.run", **args)
        except PrimitiveFailed as exc:
            if exc.kind == "not_found":
                raise ToolMissing(f"{argv[0]} is not installed on {self.host}") from None
            raise DbError(f"{argv[0]} on {self.host}: {exc}") from None
        return RunResult(
            int(value.get("rc", -1)), str(value.get("stdout") or ""), str(value.get("stderr") or "")
        )

    def hash(self, path: str) -> tuple[str, int]:
        value = self._call("file.hash", path=path, algorithm="sha256")
        return str(value["digest"]).lower(), int(value["size"])

    def stat(self, path: str) -> dict[str, Any]:
        return dict(self._call("file.stat", path=path))

    def list(self, path: str, pattern: str | None = None) -> list[dict[str, Any]]:
        args: dict[str, Any] = {"path": path}
        if pattern:
            args["pattern"] = pattern
        try:
            entries = self.remote.call("file.list", **args).get("entries", [])
        except PrimitiveFailed as exc:
            if exc.kind == "not_found":
                return []
            raise DbError(str(exc)) from None
        return [e for e in entries if e.get("type") == "file"]

    def remove(self, path: str) -> bool:
        return bool(self._call("file.remove", path=path).get("changed"))

    def mkdir(self, path: str) -> None:
        self._call("file.mkdir", path=path, parents=True)

    def tail(self, path: str, size: int) -> str:
        if self.platform == "windows":
            raise DbError("reading the end of a dump is only supported on POSIX database hosts")
        result = self.run(["tail", "-c", str(int(size)), path])
        if not result.ok:
            raise DbError(f"cannot read {path} on {self.host}: {result.stderr.strip()}")
        return result.stdout

    def _call(self, op: str, **args: Any) -> Any:
        try:
            return self.remote.call(op, **args)
        except PrimitiveFailed as exc:
            raise DbError(str(exc)) from None


class LocalFiles:
    """HostFiles on the controller itself (SQLite files, which the controller opens directly)."""

    host: str | None = None
    platform = "windows" if os.name == "nt" else "posix"

    def run(
        self, argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> RunResult:
        try:
            done = subprocess.run(
                argv, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
            )
        except FileNotFoundError:
            raise ToolMissing(f"{argv[0]} is not installed on the controller") from None
        except subprocess.TimeoutExpired:
            raise DbError(f"{argv[0]} ran longer than {timeout} s and was stopped") from None
        return RunResult(done.returncode, done.stdout, done.stderr)

    def hash(self, path: str) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            raise DbError(f"cannot read {path}: {exc.strerror}") from None
        return h.hexdigest(), size

    def stat(self, path: str) -> dict[str, Any]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return {"exists": False}
        return {
            "exists": True,
            "type": "directory" if os.path.isdir(path) else "file",
            "size": st.st_size,
            "mtime": st.st_mtime,
        }

    def list(self, path: str, pattern: str | None = None) -> list[dict[str, Any]]:
        try:
            names = sorted(os.listdir(path))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            full = os.path.join(path, name)
            if os.path.isfile(full) and (pattern is None or fnmatch.fnmatch(name, pattern)):
                st = os.stat(full)
                out.append({"path": name, "type": "file", "size": st.st_size, "mtime": st.st_mtime})
        return out

    def remove(self, path: str) -> bool:
        try:
            os.remove(path)
        except FileNotFoundError:
            return False
        return True

    def mkdir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def tail(self, path: str, size: int) -> str:
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode("utf-8", "replace")
        except OSError as exc:
            raise DbError(f"cannot read {path}: {exc.strerror}") from None
