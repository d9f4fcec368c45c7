"""The far end of the WinRM transfer benchmark: the project's WinRM test endpoint, taught three
more "programs", all writing into one plain folder that stands for the Windows host's disk.

The endpoint (tests/support/winrm_endpoint.py) speaks real WS-Management (HTTP keep-alive,
Basic or NTLM with message encryption) and runs no PowerShell: it recognises the scripts it is
sent. Besides cutover's own helper (answered here by `dispatch`, the primitives `file.write`,
`file.mkdir`, `file.hash`), it is taught what the other methods' scripts do, each re-implemented
from the method's own source and doing the same work per byte as the real script:

- ANSIBLE_PUT: ansible-core's `winrm_put_file.ps1` (ansible/executor/powershell/, 2.21): the
  first stdin line carries the script's parameters (ansible's bootstrap), every further line is
  the base64 of a 250,000-byte chunk: decode, SHA-1, write; at the end `{"sha1": "..."}`.
- ANSIBLE_EXPLODE: ansible.windows' `win_copy` module in `_copy_mode: explode` (the action
  plugin zips a folder with base64-encoded member names, puts the zip, and the module extracts
  it): stdin one JSON line {src, dest}; the zip is extracted, names decoded.
- PSRP_COPY: pypsrp's `Client.copy` (`copy.ps1` in a PowerShell pipeline): every stdin line
  here is one PSRP fragment as pypsrp sends it (a 21-byte fragment header, a 40-byte message
  header, and the chunk's base64 in a CLIXML string), the newline only marks where it ends; the
  last fragment carries the SHA-1 the script compares.
- RAW_COPY / RAW_TREE: what cutover could do instead (the proposal measured against them): the
  file's bytes (a range of them per command, two commands at once), or a gzip-1 tar stream of a
  folder, straight on stdin, so the only encoding is the base64 WS-Management itself puts
  around stdin; hashed (SHA-256) and written while they arrive.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import threading
import zipfile
from functools import partial
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from tests.support import winrm_endpoint, winrm_shells
from tests.support.winrm_endpoint import WinRMEndpoint
from tests.support.winrm_shells import Process, Shell

ANSIBLE_PUT = (
    "# ansible winrm_put_file.ps1: [Convert]::FromBase64String($InputObject) per line, SHA1, FileStream.Write"
)
ANSIBLE_EXPLODE = "# ansible.windows win_copy _copy_mode=explode: extract source.zip (names base64) into dest"
PSRP_COPY = "# pypsrp copy.ps1: PSRP input objects (base64 strings), SHA1 checked at the end"
RAW_COPY = "# cutover proposal: stdin bytes straight into the file, sha256 while writing"
RAW_TREE = "# cutover proposal: a tar stream on stdin extracted while it arrives"
SCRIPTS = (ANSIBLE_PUT, ANSIBLE_EXPLODE, PSRP_COPY, RAW_COPY, RAW_TREE)
PSRP_HEADER = 21 + 40 + 3  # fragment header, message header, UTF-8 BOM of the CLIXML


class Disk:
    """The host's disk: Windows paths (`C:\\Transfer\\x`) mapped below one real folder."""

    def __init__(self, root: Path):
        self.root = root

    def real(self, path: str) -> Path:
        parts = [p for p in path.replace("\\", "/").split("/") if p and not p.endswith(":")]
        return self.root.joinpath(*parts)

    def write(self, path: str, data: bytes) -> None:
        target = self.real(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


class StreamProcess(Process):
    """A Process whose stdin can also be read in raw pieces, and whose lines are found in linear time.

    The endpoint's own `read_line` looks for the newline from the start of the buffer each time a
    Send adds to it: fine for the batches it was made for, quadratic for a line of hundreds of
    megabytes (cutover's `file.write` of a package is one such line). Windows reads a long line
    in linear time, so the bench's endpoint does too, for every method alike.
    """

    _scanned = 0

    def read_line(self) -> bytes | None:
        with self._cond:
            while True:
                if self.cancel.is_set():
                    return None
                end = self._stdin.find(b"\n", self._scanned)
                if end >= 0:
                    line = bytes(self._stdin[:end])
                    del self._stdin[: end + 1]
                    self._scanned = 0
                    return line.rstrip(b"\r")
                self._scanned = len(self._stdin)
                if self._stdin_closed:
                    return None
                self._cond.wait()

    def read_chunk(self, limit: int = 1 << 20) -> bytes | None:
        with self._cond:
            while True:
                if self.cancel.is_set():
                    return None
                if self._stdin:
                    data = bytes(self._stdin[:limit])
                    del self._stdin[:limit]
                    self._scanned = 0
                    return data
                if self._stdin_closed:
                    return None
                self._cond.wait()


class _Raw(io.RawIOBase):
    """A process's stdin as a file object (for tarfile's stream mode)."""

    def __init__(self, process: StreamProcess):
        self.process, self.pending = process, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            self.pending = self.process.read_chunk(len(buffer)) or b""
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def _finish(process: Process, text: str) -> None:
    process.write(text.encode() + b"\r\n")
    process.exit(0)


def _ansible_put(process: Process, disk: Disk) -> None:
    params = json.loads(process.read_line() or b"{}")
    sha1 = hashlib.sha1()
    target = disk.real(params["Path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while (line := process.read_line()) is not None:
            data = base64.b64decode(line)
            sha1.update(data)
            out.write(data)
    _finish(process, json.dumps({"sha1": sha1.hexdigest()}))


def _ansible_explode(process: Process, disk: Disk) -> None:
    params = json.loads(process.read_line() or b"{}")
    dest = disk.real(params["dest"])
    with zipfile.ZipFile(disk.real(params["src"])) as archive:
        for info in archive.infolist():
            name = base64.b64decode(info.filename).decode("utf-8")
            target = dest / name.replace("\\", "/")
            if info.is_dir() or name.endswith(("/", "\\")):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
    _finish(process, json.dumps({"changed": True, "dest": params["dest"]}))


def _psrp_copy(process: Process, disk: Disk) -> None:
    params = json.loads(process.read_line() or b"{}")
    sha1 = hashlib.sha1()
    target = disk.real(params["path"])
    target.parent.mkdir(parents=True, exist_ok=True)  # (pypsrp users create the folders first)
    expected = None
    with open(target, "wb") as out:
        while (line := process.read_line()) is not None:
            xml = line[PSRP_HEADER:].decode("utf-8")
            strings = [s.split("</S>")[0] for s in xml.split("<S>")[1:]]
            data = base64.b64decode(strings[0])
            sha1.update(data)
            out.write(data)
            if len(strings) > 1:
                expected = base64.b64decode(strings[1]).decode()
    if expected != sha1.hexdigest():
        process.write(b"Transfer failed: hash mismatch\r\n", "stderr")
        process.exit(1)
        return
    _finish(process, params["path"])


def _raw_copy(process: StreamProcess, disk: Disk) -> None:
    """One range of the file (`offset`; the whole file from 0 by default), hashed as it arrives."""
    params = json.loads(process.read_line() or b"{}")
    target = disk.real(params["path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        if not target.exists():
            target.touch()
    sha = hashlib.sha256()
    with open(target, "r+b") as out:
        out.seek(int(params.get("offset", 0)))
        while (chunk := process.read_chunk()) is not None:
            sha.update(chunk)
            out.write(chunk)
    _finish(process, json.dumps({"sha256": sha.hexdigest()}))


_LOCK = threading.Lock()


def _raw_tree(process: StreamProcess, disk: Disk) -> None:
    params = json.loads(process.read_line() or b"{}")
    dest = disk.real(params["path"])
    files = 0
    with tarfile.open(fileobj=io.BufferedReader(_Raw(process), 1 << 20), mode="r|gz") as tar:
        for member in tar:
            target = dest / member.name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
                files += 1
    _finish(process, json.dumps({"files": files}))


_RUNNERS = {ANSIBLE_PUT: _ansible_put, ANSIBLE_EXPLODE: _ansible_explode, PSRP_COPY: _psrp_copy,
            RAW_COPY: _raw_copy, RAW_TREE: _raw_tree}  # fmt: skip


def _guarded(runner: Any, process: Process, disk: Disk) -> None:
    """A runner that fails ends its process with the error, as a failing script would."""
    try:
        runner(process, disk)
    except Exception as exc:  # noqa: BLE001 - reported to the client, which fails the bench
        process.write(f"{type(exc).__name__}: {exc}\r\n".encode(), "stderr")
        process.exit(1)


def _teach(disk: Disk) -> None:
    """Let the endpoint's process factory recognise the bench's scripts too."""
    original = winrm_endpoint.start_process

    def start_process(
        shell: Shell,
        command: str,
        arguments: str,
        options: dict[str, str],
        host: str,
        run: Any,
        runtime: Any = None,
    ) -> Process:
        command_line = f"{command} {arguments}".strip()
        script = (winrm_shells._encoded_script(command_line) or "").strip()
        if script == winrm_shells.BOOTSTRAP_SCRIPT.strip():  # cutover's helper, on a linear-time stdin
            process = StreamProcess(command_line, options)
            target: Any = partial(
                winrm_shells._run_helper, process, host, run, runtime or winrm_shells.HostRuntime()
            )
        elif script in _RUNNERS:
            process = StreamProcess(command_line, options)
            target = partial(_guarded, _RUNNERS[script], process, disk)
        else:  # anything else: the endpoint's own
            return original(shell, command, arguments, options, host, run, runtime)
        shell.processes[process.id] = process
        shell.commands_started += 1
        threading.Thread(target=target, daemon=True).start()
        return process

    winrm_endpoint.start_process = start_process


def dispatcher(disk: Disk) -> Any:
    """cutover's primitives that a transfer uses, answered on the plain folder."""

    def one(op: str, args: dict[str, Any]) -> dict[str, Any]:
        if op == "file.write":
            disk.write(args["path"], base64.b64decode(args["content_b64"]))
            return {"ok": True, "value": {"changed": True}}
        if op == "file.mkdir":
            disk.real(args["path"]).mkdir(parents=True, exist_ok=True)
            return {"ok": True, "value": {"changed": True}}
        if op == "file.hash":
            data = disk.real(args["path"]).read_bytes()
            return {"ok": True, "value": {"digest": hashlib.sha256(data).hexdigest(), "size": len(data)}}
        return {"ok": False, "error": f"{op} is not served by the transfer bench", "kind": "unsupported"}

    return lambda host, calls: [one(c["op"], c.get("args") or {}) for c in calls]


def serve(auth: str, state_dir: str, disk_dir: str, pipe: Pipe) -> None:
    """Run one endpoint (in a child process, so that client and server do not share a GIL)."""
    disk = Disk(Path(disk_dir))
    _teach(disk)
    with WinRMEndpoint("win1", auth=auth, state_dir=state_dir, dispatch=dispatcher(disk)) as endpoint:
        pipe.send((endpoint.port, endpoint.user, endpoint.password))
        pipe.recv()
        pipe.send(_peak_rss_mb())


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def file_digest(path: Path, algorithm: str = "sha256", start: int = 0, end: int | None = None) -> str:
    """The digest of a file (or of bytes [start, end) of it), read in pieces: memory stays flat."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        fh.seek(start)
        left = (end if end is not None else os.path.getsize(path)) - start
        while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def tree_digests(root: Path) -> dict[str, str]:
    """rel path -> sha256 of every file below root (what every method must have written)."""
    out = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            out[path.relative_to(root).as_posix()] = file_digest(path)
    return out
