"""WinRM file transfer: MB/s moving a package and a file tree to a Windows host, by three methods.

    python bench/transfer_bench.py [--scale 1] [--auth basic,ntlm] [--methods ...]

At scale 1: a 200 MB package (incompressible, like a zipped installer) and a 10,000-file tree
of 200 MB (text pages and binaries), each moved to the project's WinRM test endpoint
(bench/_transfer_server.py; real HTTP, real SOAP; Basic over HTTPS, or NTLM with message
encryption over HTTP) by:

- cutover: its WinRMConnection and `modules/windows/_transfer.py` as `win_copy` uses them: the
  file streamed on the helper's raw stdin (base64 once, Sends filled to just under the
  server's 500 KB MaxEnvelopeSize, written with a running sha256, resumable; from 32 MiB two
  ranges at once, each written at its offset of the one file); a tree as one zip stream
  (deflate level 1, members whose first 4 KiB do not deflate stored) built while it is sent,
  then `archive.extract`;
- ansible: the message pattern of ansible-core's WinRM `put_file` (one command, stdin lines of
  base64 250,000-byte chunks, one Send each) through pywinrm, as ansible does; a tree the way
  ansible.windows' `win_copy` action does it (local SHA-1 of every file, a zip with base64
  member names, the zip put, then the module's `explode`);
- pypsrp: the message pattern of pypsrp's `Client.copy` (a runspace pool per copy: shell,
  pipeline, one PSRP input fragment per chunk, each base64 inside CLIXML inside the base64 of
  WS-Management, the chunk size computed by pypsrp itself: `WSMan(...).max_payload_size` of the
  installed pypsrp at its default 153,600-byte envelope, then Client.copy's own formula); a tree
  is one copy per file, as pypsrp has no folder copy. The endpoint cannot speak PSRP: these are
  faithful re-implementations of each method's messages (sizes, counts, encodings), not the
  libraries' own wire code.

The endpoint decodes every Send's stdin with engine/connect/b64.py (SIMD pybase64 when
installed), whichever client sent it, and the re-implemented scripts decode their own base64
lines with it too (.NET's `[Convert]::FromBase64String` is native code); the report says which
codec ran.

Each measurement runs in its own process (peak memory is the client's own) against its own
endpoint process (peak memory reported too). Every file that arrives is checked (sha256)
against the source: a method that did not move the bytes exactly fails the bench.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from winrm.protocol import Protocol  # noqa: E402

from bench import _transfer_server as far  # noqa: E402
from bench._env import BENCH, load_average  # noqa: E402

METHODS = ("cutover", "ansible", "pypsrp")
POWERSHELL = "powershell.exe"
ANSIBLE_CHUNK = 250_000  # ansible's _put_file_stdin_iterator buffer_size
PSRP_ENVELOPE = 153_600  # pypsrp WSMan's default max_envelope_size
SERVER_ENVELOPE = 500 * 1024  # Windows' default MaxEnvelopeSizekb, the endpoint's too


def make_payloads(root: Path, scale: float) -> tuple[Path, Path]:
    """The package (one incompressible file) and the tree (code pages and binaries)."""
    rng = random.Random(7)
    package = root / "package.zip"
    with open(package, "wb") as out:
        left = int(200_000_000 * scale)
        while left > 0:
            out.write(rng.randbytes(min(left, 1 << 22)))
            left -= 1 << 22
    tree = root / "tree"
    count = max(50, round(10_000 * scale))
    per_file = int(200_000_000 * scale) // count
    for i in range(count):
        folder = tree / f"module{i % 97:02d}" / ("views" if i % 3 else "lib")
        folder.mkdir(parents=True, exist_ok=True)
        size = max(16, int(rng.lognormvariate(0, 1.0) * per_file * 0.6))
        if i % 4:
            data = (f"<% Response.Write('page {i}') %>\n" * (size // 32 + 1)).encode()[:size]
        else:
            data = rng.randbytes(size)
        (folder / f"file{i}.{'asp' if i % 4 else 'dll'}").write_bytes(data)
    return package, tree


def files_of(tree: Path) -> list[tuple[str, Path]]:
    return sorted((p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file())


def win(*parts: str) -> str:
    return "C:\\Transfer\\" + "\\".join(p.replace("/", "\\") for p in parts)


# --- the methods --------------------------------------------------------------------------------------
class Wire:
    """pywinrm's Protocol on the endpoint, as the other methods' clients use WS-Management."""

    def __init__(self, endpoint: dict[str, Any], auth: str):
        self.protocol = Protocol(endpoint["url"], transport=auth, username=endpoint["user"],
                                 password=endpoint["password"], message_encryption="auto",
                                 ca_trust_path=endpoint["certificate"] if auth == "basic" else None)  # fmt: skip
        self.shell = self.protocol.open_shell(codepage=65001)

    def command(self, script: str, lines: Iterator[bytes], templated: bool = False) -> bytes:
        """Run `script` (as an -EncodedCommand), sending each item of `lines` as one Send.

        `templated`: the Sends go through cutover's HelperWire (envelopes rendered once, then
        filled in), as cutover's connection sends; otherwise through pywinrm's
        `send_command_input`, which builds every envelope anew (as ansible's plugin does).
        """
        encoded = base64.b64encode(script.encode("utf-16-le")).decode()
        command = self.protocol.run_command(self.shell, POWERSHELL, ["-NoProfile", "-EncodedCommand", encoded],
                                            console_mode_stdin=False, skip_cmd_shell=True)  # fmt: skip
        if templated:
            from engine.connect.winrm_wire import HelperWire

            wire = HelperWire(self.protocol, self.shell, command)
            send = lambda data, end: wire.send(data, end, 20)  # noqa: E731
        else:
            send = lambda data, end: self.protocol.send_command_input(self.shell, command, data, end=end)  # noqa: E731
        previous = None
        for line in lines:
            if previous is not None:
                send(previous, False)
            previous = line
        send(previous or b"", True)
        out, err, code = self.protocol.get_command_output(self.shell, command)
        self.protocol.cleanup_command(self.shell, command)
        if code != 0:
            raise SystemExit(
                f"the endpoint's {script[:40]!r} failed ({code}): {err.decode(errors='replace')}"
            )
        return out

    def close(self) -> None:
        self.protocol.close_shell(self.shell)


def _json_line(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode() + b"\n"


def ansible_put(wire: Wire, src: Path, dest: str) -> None:
    def lines() -> Iterator[bytes]:
        yield _json_line({"Path": dest})  # ansible's bootstrap sends the script's parameters first
        with open(src, "rb") as fh:
            while chunk := fh.read(ANSIBLE_CHUNK):
                yield base64.b64encode(chunk) + b"\r\n"

    answer = json.loads(wire.command(far.ANSIBLE_PUT, lines()))
    if answer["sha1"] != far.file_digest(src, "sha1"):  # ansible compares the SHA-1
        raise SystemExit("ansible put_file: sha1 mismatch")


def ansible_tree(wire: Wire, tree: Path, dest: str, scratch: Path) -> None:
    files = files_of(tree)
    for _rel, path in files:  # `force: true` (the default): the action checksums every file locally
        far.file_digest(path, "sha1")
    # (the module's `query` run, which compares those with the host's files, is left out: it
    # would only add to ansible's time)
    archive = scratch / "win_copy.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, True) as zf:
        for rel, path in files:
            zf.write(path, base64.b64encode(rel.encode()).decode(), zipfile.ZIP_DEFLATED)
    ansible_put(wire, archive, win("tmp", "source.zip"))
    wire.command(far.ANSIBLE_EXPLODE, iter([_json_line({"src": win("tmp", "source.zip"), "dest": dest})]))


def psrp_chunk(endpoint: dict[str, Any], auth: str) -> int:
    """Client.copy's buffer size, from pypsrp's own WSMan at its default envelope (no request made)."""
    from pypsrp.wsman import WSMan

    wsman = WSMan("127.0.0.1", port=endpoint["port"], username=endpoint["user"], password=endpoint["password"],
                  ssl=auth == "basic", auth=auth, cert_validation=False, max_envelope_size=PSRP_ENVELOPE)  # fmt: skip
    return int((wsman.max_payload_size - 82) / 4 * 3)  # pypsrp/client.py Client.copy


def psrp_copy(endpoint: dict[str, Any], auth: str, src: Path, dest: str) -> None:
    payload = endpoint.setdefault("psrp_chunk", psrp_chunk(endpoint, auth))

    def fragments() -> Iterator[bytes]:
        yield _json_line({"path": dest})
        sha1 = hashlib.sha1()
        size, offset = src.stat().st_size, 0
        with open(src, "rb") as fh:
            while chunk := fh.read(payload):
                offset += len(chunk)
                sha1.update(chunk)
                strings = f"<S>{base64.b64encode(chunk).decode()}</S>"
                if offset == size:
                    strings += f"<S>{base64.b64encode(sha1.hexdigest().encode()).decode()}</S>"
                yield bytes(far.PSRP_HEADER) + f'<Obj RefId="0">{strings}</Obj>'.encode() + b"\n"

    wire = Wire(endpoint, auth)  # a runspace pool per copy, as Client.copy opens one
    try:
        wire.command(far.PSRP_COPY, fragments())
    finally:
        wire.close()


def psrp_tree(endpoint: dict[str, Any], auth: str, tree: Path, dest: str) -> None:
    for rel, path in files_of(tree):
        psrp_copy(endpoint, auth, path, dest + "\\" + rel.replace("/", "\\"))


def cutover_connection(endpoint: dict[str, Any], auth: str, work: Path) -> Any:
    from engine.connect.winrm import WinRMConnection
    from engine.core.model import Host

    tls = {"scheme": "https", "ca_bundle": endpoint["certificate"]} if auth == "basic" else {"scheme": "http"}
    settings = {"port": endpoint["port"], "user": endpoint["user"], "password": endpoint["password"],
                "winrm": {"transport": auth, **tls}}  # fmt: skip
    conn = WinRMConnection(Host("win1", "127.0.0.1", "winrm", settings=settings), script_path=_stand_in(work))
    conn.open()
    return conn


def cutover(conn: Any, payload: str, source: Path, dest: str) -> None:
    """What `win_copy` does with a large `src` (and a folder: one zip stream, then extract)."""
    from engine.api.primitives import Remote
    from modules.windows import _transfer

    remote = Remote(conn)
    remote.call("file.mkdir", path=dest.rpartition("\\")[0], parents=True)
    if payload == "package":
        _transfer.upload_file(remote, source, dest, progress=_say)
    else:
        _transfer.upload_tree(remote, source, dest, progress=_say)


def _say(line: str) -> None:
    print(f"[transfer]   {line}", file=sys.stderr, flush=True)


# --- one measurement, in its own process -------------------------------------------------------------
def measure(method: str, auth: str, payload: str, source: Path, work: Path) -> dict[str, Any]:
    disk = work / "disk"
    shutil.rmtree(disk, ignore_errors=True)
    disk.mkdir(parents=True)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=far.serve, args=(auth, str(work / "state"), str(disk), child), daemon=True
    )
    server.start()
    url, port, user, password, certificate = parent.recv()
    endpoint = {"url": url, "user": user, "password": password, "port": port, "certificate": certificate}
    dest = win(method, payload)
    size = (
        source.stat().st_size if payload == "package" else sum(p.stat().st_size for _r, p in files_of(source))
    )
    start = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    try:
        if method == "cutover":
            conn = cutover_connection(endpoint, auth, work)
            cutover(conn, payload, source, dest)
            conn.close()
        elif method == "pypsrp":
            (psrp_copy if payload == "package" else psrp_tree)(endpoint, auth, source, dest)
        else:
            wire = Wire(endpoint, auth)
            if payload == "package":
                ansible_put(wire, source, dest)
            else:
                ansible_tree(wire, source, dest, work)
            wire.close()
        took = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = usage.ru_utime + usage.ru_stime - cpu_before
    finally:
        parent.send("stop")
        server_rss, server_cpu = parent.recv() if parent.poll(30) else (0.0, 0.0)
        server.join(10)
    arrived = disk.joinpath("Transfer", method, payload)
    if payload == "package":
        same = far.file_digest(arrived) == far.file_digest(source)
    else:
        same = far.tree_digests(arrived) == far.tree_digests(source)
    if not same:
        raise SystemExit(f"{method} ({auth}, {payload}): what arrived differs from the source")
    return {"method": method, "auth": auth, "payload": payload, "bytes": size, "seconds": took,
            "mb_s": size / 1e6 / took, "client_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "server_rss_mb": server_rss, "client_cpu": client_cpu, "server_cpu": server_cpu,
            "load": load_average()}  # fmt: skip


def _stand_in(work: Path) -> str:
    """A primitives script for the helper's first line (the endpoint only checks the entry point)."""
    path = work / "primitives.ps1"
    path.write_text("function Invoke-CutoverBatch([string]$Json) { }\n", encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: a 200 MB package, 10,000 files / 200 MB")
    parser.add_argument("--auth", default="basic,ntlm")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--payloads", default="package,tree", help="package, tree or both")
    parser.add_argument(
        "--one", nargs=5, metavar=("METHOD", "AUTH", "PAYLOAD", "SOURCE", "WORK"), help=argparse.SUPPRESS
    )
    options = parser.parse_args()
    if options.one:
        method, auth, payload, source, work = options.one
        print(json.dumps(measure(method, auth, payload, Path(source), Path(work))))
        return
    (BENCH / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="transfer-", dir=BENCH / "out") as tmp:
        root = Path(tmp)
        package, tree = make_payloads(root, options.scale)
        rows = []
        chosen = options.payloads.split(",")
        for payload, source in [(n, s) for n, s in (("package", package), ("tree", tree)) if n in chosen]:
            for auth in options.auth.split(","):
                for method in options.methods.split(","):
                    work = root / f"{method}-{auth}-{payload}"
                    work.mkdir()
                    done = subprocess.run([sys.executable, __file__, "--one", method, auth, payload, str(source), str(work)],
                                          capture_output=True, text=True)  # fmt: skip
                    if done.returncode != 0:
                        raise SystemExit(
                            f"{method} {auth} {payload} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
                        )
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                    shutil.rmtree(work, ignore_errors=True)
                    print(f"[transfer] {method} {auth} {payload}: {rows[-1]['mb_s']:.1f} MB/s (load {load_average()})",
                          file=sys.stderr, flush=True)  # fmt: skip
        files = len(files_of(tree))
        print(report(rows, package.stat().st_size, files))


def report(rows: list[dict[str, Any]], package_bytes: int, files: int) -> str:
    label = {"basic": "Basic over HTTPS", "ntlm": "NTLM + encryption"}
    from engine.connect import b64

    codec = "pybase64 (SIMD)" if b64.FAST else "the stdlib's binascii"
    lines = [f"package {package_bytes / 1e6:.0f} MB; tree {files:,} files; base64 by {codec}", "",
             "| payload | auth | method | seconds | MB/s | vs best other | CPU s client + endpoint | CPU vs best other "
             "| client peak RSS | endpoint peak RSS | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        others = [o["mb_s"] for o in rows if o["payload"] == r["payload"] and o["auth"] == r["auth"]
                  and o["method"] in ("ansible", "pypsrp")]  # fmt: skip
        mine = r["method"] == "cutover"
        versus = f"{r['mb_s'] / max(others):.2f}x" if others and mine else ""
        cpus = [o["client_cpu"] + o["server_cpu"] for o in rows if o["payload"] == r["payload"]
                and o["auth"] == r["auth"] and o["method"] in ("ansible", "pypsrp")]  # fmt: skip
        cpu = r["client_cpu"] + r["server_cpu"]
        cheaper = f"{min(cpus) / cpu:.2f}x less" if cpus and mine and cpu else ""
        lines.append(f"| {r['payload']} | {label[r['auth']]} | {r['method']} | {r['seconds']:.2f} | {r['mb_s']:.1f} | "
                     f"{versus} | {r['client_cpu']:.2f} + {r['server_cpu']:.2f} | {cheaper} | "
                     f"{r['client_rss_mb']:.0f} MiB | {r['server_rss_mb']:.0f} MiB | {r['load']} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
