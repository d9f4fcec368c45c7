"""Commands per second over WinRM: cutover's persistent helper vs pywinrm's `Session.run_ps`.

`run_ps` opens a shell, starts powershell.exe, waits for it, terminates it and deletes the
shell for every command (and closes its HTTP session, so NTLM re-authenticates each time).
`WinRMConnection` keeps one shell and one helper per host and pays one Send and one Receive
per batch. Both run against the project's WinRM test endpoint on 127.0.0.1 (Basic, and NTLM
with message encryption), which answers the connection's batches from the simulated host and
run_ps's trivial script directly. The endpoint starts no real process, so on a Windows server,
where starting powershell.exe costs hundreds of milliseconds, the gap is far wider.

A benchmark, not a test: it prints numbers and asserts nothing.

    python bench/winrm_bench.py [--calls 200] [--run-ps-calls 60]   (best of 3 rounds each)
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import winrm  # noqa: E402

import engine.connect.remote  # noqa: E402
from engine.connect.winrm import WinRMConnection  # noqa: E402
from engine.core.model import Host  # noqa: E402
from tests.support.winrm_endpoint import WinRMEndpoint  # noqa: E402

PRIMITIVES = Path(engine.connect.remote.__file__).with_name("powershell")


@dataclass(frozen=True)
class Served:
    """Where an endpoint in another process listens, and who may log in."""

    auth: str
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wsman"

    def host(self) -> Host:
        settings = {"port": self.port, "user": self.user, "password": self.password}
        settings["winrm"] = {"transport": self.auth, "scheme": "http"}
        return Host("bench1", "127.0.0.1", "winrm", settings=settings)


def _serve(auth: str, state_dir: str, pipe: Pipe) -> None:
    with WinRMEndpoint("bench1", auth=auth, state_dir=state_dir) as endpoint:
        pipe.send((endpoint.port, endpoint.user, endpoint.password))
        pipe.recv()  # until the parent is done


@contextmanager
def served(auth: str, state_dir: str) -> Iterator[Served]:
    """The endpoint in a child process, so client and server do not share one GIL."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(auth, state_dir, child), daemon=True)
    process.start()
    try:
        port, user, password = parent.recv()
        yield Served(auth, port, user, password)
    finally:
        parent.send("stop")
        process.join(10)


def rate(count: int, action: Callable[[], object], rounds: int = 3) -> float:
    """Calls per second of `action`: the best of `rounds` (the machine may be shared), after a warm-up."""
    action()
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            action()
        best = max(best, count / (time.perf_counter() - start))
    return best


def connection_rate(endpoint: Served, calls: int, script: str | None, persistent: bool) -> float:
    conn = WinRMConnection(endpoint.host(), script_path=script, persistent=persistent)
    conn.open()
    try:
        return rate(calls, lambda: conn.call([{"op": "host.facts", "args": {}}]))
    finally:
        conn.close()


def run_ps_rate(endpoint: Served, calls: int) -> float:
    session = winrm.Session(
        endpoint.url,
        auth=(endpoint.user, endpoint.password),
        transport=endpoint.auth,
        ca_trust_path=None,
        proxy=None,
    )

    def once() -> None:
        result = session.run_ps("Write-Output 1")
        if result.status_code != 0 or result.std_out.strip() != b"1":
            raise SystemExit(f"run_ps answered {result!r}")

    return rate(calls, once)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="batches per round through WinRMConnection")
    parser.add_argument(
        "--run-ps-calls", type=int, default=60, help="commands per round through Session.run_ps"
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="winrm-bench-") as tmp:
        script: str | None = None
        if not PRIMITIVES.exists():  # the endpoint only checks the entry point is defined
            stand_in = Path(tmp) / "primitives.ps1"
            stand_in.write_text("function Invoke-CutoverBatch([string]$Json) { }\n", encoding="utf-8")
            script = str(stand_in)
        rows = []
        for auth in ("basic", "ntlm"):
            with served(auth, str(Path(tmp) / auth)) as endpoint:
                persistent = connection_rate(endpoint, options.calls, script, persistent=True)
                one_shot = connection_rate(endpoint, options.run_ps_calls, script, persistent=False)
                run_ps = run_ps_rate(endpoint, options.run_ps_calls)
            rows.append((auth, persistent, one_shot, run_ps))

    label = {"basic": "Basic", "ntlm": "NTLM + encryption"}
    print(
        "WinRM commands per second against the test endpoint (127.0.0.1, own process; one host, one thread)"
    )
    print(f"{'auth':<18} {'persistent':>11} {'one-shot':>9} {'run_ps':>8} {'persistent/run_ps':>18}")
    for auth, persistent, one_shot, run_ps in rows:
        print(
            f"{label[auth]:<18} {persistent:>11.0f} {one_shot:>9.0f} {run_ps:>8.0f} {persistent / run_ps:>17.1f}x"
        )
    print("persistent: WinRMConnection (one shell, one helper); one-shot: its fallback (helper per batch);")
    print("run_ps: winrm.Session.run_ps('Write-Output 1') (new shell and process per command).")


if __name__ == "__main__":
    main()
