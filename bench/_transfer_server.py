"""The far end of the WinRM transfer benchmark: the project's WinRM test endpoint, taught three
more "programs", all writing into one plain folder that stands for the Windows host's disk.

The endpoint (tests/support/winrm_endpoint.py) speaks real WS-Management (HTTP keep-alive,
Basic over HTTPS, or NTLM with message encryption over HTTP) and runs no PowerShell: it
recognises the scripts it is sent. cutover's own helper answers its batches here through
`dispatch` (the primitives a transfer uses: `file.stat`, `file.move`, `file.remove`,
`file.mkdir`, `file.read`, `archive.extract`) and writes its raw-stdin transfers with the endpoint's own
receiver (tests/support/winrm_receive.py) into the folder. The endpoint is also taught what the
other methods' scripts do, each re-implemented from the method's own source and doing the same
work per byte as the real script:

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
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import zipfile
from functools import partial
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from engine.connect import b64
from tests.support import winrm_endpoint, winrm_shells
from tests.support.winrm_endpoint import WinRMEndpoint
from tests.support.winrm_shells import Process, Shell

ANSIBLE_PUT = (
    "# ansible winrm_put_file.ps1: [Convert]::FromBase64String($InputObject) per line, SHA1, FileStream.Write"
)
ANSIBLE_EXPLODE = "# ansible.windows win_copy _copy_mode=explode: extract source.zip (names base64) into dest"
PSRP_COPY = "# pypsrp copy.ps1: PSRP input objects (base64 strings), SHA1 checked at the end"
SCRIPTS = (ANSIBLE_PUT, ANSIBLE_EXPLODE, PSRP_COPY)
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
            data = b64.decode(line)  # [Convert]::FromBase64String: native, as the endpoint's own
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
            data = b64.decode(strings[0])
            sha1.update(data)
            out.write(data)
            if len(strings) > 1:
                expected = base64.b64decode(strings[1]).decode()
    if expected != sha1.hexdigest():
        process.write(b"Transfer failed: hash mismatch\r\n", "stderr")
        process.exit(1)
        return
    _finish(process, params["path"])


_RUNNERS = {ANSIBLE_PUT: _ansible_put, ANSIBLE_EXPLODE: _ansible_explode, PSRP_COPY: _psrp_copy}


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
        receive: Any = None,
    ) -> Process:
        command_line = f"{command} {arguments}".strip()
        script = (winrm_shells._encoded_script(command_line) or "").strip()
        if script in _RUNNERS:
            process = Process(command_line, options)
            target = partial(_guarded, _RUNNERS[script], process, disk)
        else:  # cutover's helper and anything else: the endpoint's own
            return original(shell, command, arguments, options, host, run, runtime, receive)
        shell.processes[process.id] = process
        shell.commands_started += 1
        threading.Thread(target=target, daemon=True).start()
        return process

    winrm_endpoint.start_process = start_process


def dispatcher(disk: Disk) -> Any:
    """cutover's primitives that a transfer uses, answered on the plain folder."""

    def one(op: str, args: dict[str, Any]) -> dict[str, Any]:
        real = disk.real(args.get("path") or args.get("src") or "")
        if op == "file.stat":
            exists = real.exists()
            return {"ok": True, "value": {"exists": exists, "size": real.stat().st_size if exists else 0,
                                          "type": "directory" if real.is_dir() else "file"}}  # fmt: skip
        if op == "file.move":
            os.replace(real, disk.real(args["dest"]))
            return {"ok": True, "value": {"changed": True}}
        if op == "file.remove":
            existed = real.exists()
            real.unlink(missing_ok=True)
            return {"ok": True, "value": {"changed": existed}}
        if op == "archive.extract":  # what archives.ps1 does, member names checked by zipfile
            dest = disk.real(args["dest"])
            with zipfile.ZipFile(real) as archive:
                archive.extractall(dest)
                files = sum(1 for info in archive.infolist() if not info.is_dir())
            return {"ok": True, "value": {"changed": True, "files": files}}
        if op == "file.write":
            disk.write(args["path"], base64.b64decode(args["content_b64"]))
            return {"ok": True, "value": {"changed": True}}
        if op == "file.read":  # a range's checkpoint (a few bytes) when a transfer resumes
            if not real.is_file():
                return {"ok": False, "error": f"{args['path']} does not exist", "kind": "not_found"}
            data = real.read_bytes()[: int(args.get("max_bytes") or 1 << 20)]
            return {"ok": True, "value": {"content_b64": base64.b64encode(data).decode("ascii")}}
        if op == "file.mkdir":
            disk.real(args["path"]).mkdir(parents=True, exist_ok=True)
            return {"ok": True, "value": {"changed": True}}
        if op == "file.hash":
            data = disk.real(args["path"]).read_bytes()
            return {"ok": True, "value": {"digest": hashlib.sha256(data).hexdigest(), "size": len(data)}}
        return {"ok": False, "error": f"{op} is not served by the transfer bench", "kind": "unsupported"}

    return lambda host, calls: [one(c["op"], c.get("args") or {}) for c in calls]


def serve(auth: str, state_dir: str, disk_dir: str, pipe: Pipe) -> None:
    """Run one endpoint (in a child process, so that client and server do not share a GIL).

    `auth` basic: Basic over HTTPS (how Basic is deployed); ntlm: NTLM sealing every message over HTTP.
    """
    disk = Disk(Path(disk_dir))
    _teach(disk)
    with WinRMEndpoint("win1", auth=auth, state_dir=state_dir, dispatch=dispatcher(disk), locate=disk.real,
                       tls=auth == "basic") as endpoint:  # fmt: skip
        pipe.send((endpoint.url, endpoint.port, endpoint.user, endpoint.password, str(endpoint.certificate)))
        pipe.recv()
        pipe.send(_peak_rss_mb())


def _peak_rss_mb() -> tuple[float, float]:
    """The endpoint's peak RSS (MiB) and the CPU seconds it has used (user + system)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


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
