"""A real OpenSSH server on 127.0.0.1 for tests and benchmarks, with keys and a client config.

Everything lives in a temporary directory: host key, client key, authorized_keys, a
known_hosts that trusts the host key, an `ssh_config` whose aliases `h1`..`hN` all point at the
server, and sshd's log. Usable as a pytest fixture (`sshd_server`, session scope) or from a
plain script:

    with SSHD(100) as server:
        host = server.ssh_host("h1")          # an engine.core.model.Host with connection "ssh"

Where OpenSSH is not installed the fixture skips, and fails instead under
`CUTOVER_REQUIRE_SERVERS=1` (CI: tests/support/required.py); an installed sshd that does not
start is always a failure. The one file outside the temporary directory is sshd's privilege
separation directory `/run/sshd` (a run-time directory on tmpfs that sshd refuses to start
without when run as root), created empty when missing.

Sessions get `HOME=<empty dir>`: root's .bashrc runs `pyenv init`, which would add ~0.15 s to
every session start and distort both tests and benchmarks.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.core.model import Host

SSHD_BIN = "/usr/sbin/sshd"


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, comment: str) -> Path:
    """An ed25519 key pair without passphrase; returns the private key's path."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


class SSHD:
    """A running sshd with generated keys and `n_aliases` client aliases (`h1`..`hN`)."""

    def __init__(self, n_aliases: int = 4, base_dir: str | None = None, fast_kex: bool = False):
        self.n_aliases = n_aliases
        #: Client config uses curve25519 instead of OpenSSH 9's default post-quantum sntrup761
        #: exchange, which costs ~85 ms of client CPU per connection (for benchmarks; every
        #: OpenSSH-based tool reading this config gets the same setting).
        self.fast_kex = fast_kex
        self.dir = Path(tempfile.mkdtemp(prefix="cutover-sshd-", dir=base_dir))
        self.port = 0
        self.user = getpass.getuser()
        self.aliases = [f"h{i}" for i in range(1, n_aliases + 1)]
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "client_key"
        #: A key the server does not accept, for "Permission denied" tests.
        self.wrong_key = self.dir / "wrong_key"
        self.known_hosts = self.dir / "known_hosts"
        self.config_path = self.dir / "ssh_config"
        self.log_path = self.dir / "sshd.log"
        self.home = self.dir / "home"
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SSHD:
        """Generate keys and configs, start sshd and wait until it accepts connections."""
        self.home.mkdir()
        keygen(self.host_key, "cutover-test-host")
        keygen(self.client_key, "cutover-test-client")
        keygen(self.wrong_key, "cutover-test-wrong")
        shutil.copy(self.client_key.with_suffix(".pub"), self.dir / "authorized_keys")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        for _attempt in range(5):
            self.port = free_port()
            self._write_configs()
            if self._launch():
                return self
        raise RuntimeError(f"sshd did not start; see {self.log_path}")

    def _launch(self) -> bool:
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [SSHD_BIN, "-D", "-e", "-f", str(self.dir / "sshd_config")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        """Stop sshd (sessions still open are cut) and remove the temporary directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> SSHD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ configuration files

    def _write_configs(self) -> None:
        d = self.dir
        (d / "sshd_config").write_text(
            f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile {d / "sshd.pid"}
AuthorizedKeysFile {d / "authorized_keys"}
PermitRootLogin yes
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 1000
MaxSessions 1000
MaxAuthTries 10
LoginGraceTime 60
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv none
SetEnv HOME={self.home}
LogLevel INFO
"""
        )
        pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        self.config_path.write_text(
            f"""\
Host {" ".join(self.aliases)}
    HostName 127.0.0.1
    Port {self.port}
    User {self.user}
    IdentityFile {self.client_key}
    IdentitiesOnly yes
    UserKnownHostsFile {self.known_hosts}
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
"""
            + ("    KexAlgorithms curve25519-sha256\n" if self.fast_kex else "")
        )

    # ------------------------------------------------------------------ hosts for the engine

    def ssh_host(self, alias: str = "h1", name: str | None = None, **ssh: Any) -> Host:
        """A Host reaching `alias` through this server's client config; `ssh` adds/overrides settings."""
        settings = {
            "connection": "ssh",
            "address": alias,
            "ssh": {"config_file": str(self.config_path), **ssh},
        }
        return Host(name=name or alias, address=alias, connection="ssh", settings=settings)

    def direct_host(self, name: str = "direct", **ssh: Any) -> Host:
        """A Host with explicit address/port/user and no client config (`-F none`): for key tests."""
        settings = {
            "connection": "ssh",
            "address": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "ssh": {"config_file": "none", **ssh},
        }
        return Host(name=name, address="127.0.0.1", connection="ssh", settings=settings)


try:
    import pytest
except ImportError:  # plain scripts (the benchmark harness) need no pytest
    pytest = None


def missing_programs() -> list[str]:
    """The OpenSSH programs the test server needs that this machine lacks."""
    missing = [] if Path(SSHD_BIN).is_file() else [SSHD_BIN]
    return missing + [program for program in ("ssh", "ssh-keygen") if shutil.which(program) is None]


if pytest is not None:
    from tests.support.required import server_unavailable

    def require_openssh() -> None:
        """Skip the test (fail it under CUTOVER_REQUIRE_SERVERS=1) when OpenSSH is not installed."""
        missing = missing_programs()
        if missing:
            server_unavailable(
                "sshd", f"{', '.join(missing)} missing (apt-get install openssh-server openssh-client)"
            )

    @pytest.fixture(scope="session")
    def sshd_server() -> Iterator[SSHD]:
        """One sshd for the whole test session, with 8 aliases."""
        require_openssh()
        with SSHD(8) as server:
            yield server
