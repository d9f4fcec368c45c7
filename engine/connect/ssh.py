"""SSH hosts: the OpenSSH client as one persistent subprocess per host, the posix helper behind it.

Using the operator's own `ssh` (not a Python SSH library) means ~/.ssh/config, the agent,
ProxyJump, known_hosts and certificates behave exactly as they do in a terminal. The engine
adds safe defaults that user options cannot weaken (OpenSSH keeps the first value it sees, and
ours come first): BatchMode=yes (never wait on a prompt), strict host key checking unless the
inventory says otherwise, no agent/X11/port forwarding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.connect.base import unknown_settings
from engine.connect.helper_channel import HelperConnection, remote_command
from engine.core.errors import UserError
from engine.core.model import Host

#: host_key_checking values -> StrictHostKeyChecking (YAML booleans are accepted too).
HOST_KEY_CHECKING = {"strict": "yes", "accept-new": "accept-new", "off": "no", True: "yes", False: "no"}
SSH_SETTINGS = (
    "config_file",
    "key_file",
    "host_key_checking",
    "known_hosts_file",
    "options",
    "python",
    "connect_timeout",
)
#: ssh's stderr lines that explain a failure better than whatever came last.
_TELLING = (
    "Host key verification failed",
    "Permission denied",
    "Could not resolve hostname",
    "Connection refused",
    "Connection timed out",
    "No route to host",
    "Connection closed",
    "Connection reset",
)


@dataclass(frozen=True, slots=True)
class SSHSettings:
    """A host's SSH settings, checked once when the connection is made."""

    address: str
    port: int | None = None
    user: str | None = None
    config_file: str | None = None
    key_file: str | None = None
    host_key_checking: str = "yes"
    known_hosts_file: str | None = None
    options: tuple[str, ...] = ()
    python: str = "python3"
    connect_timeout: int = 10

    @classmethod
    def from_host(cls, host: Host) -> SSHSettings:
        """Read `host.settings`; a mistake is a UserError pointing at the host's definition."""
        settings = host.settings
        ssh = settings.get("ssh") or {}

        def bad(message: str, hint: str | None = None) -> UserError:
            return UserError(f"host {host.name!r}: {message}", host.location, hint)

        if not isinstance(ssh, Mapping):
            raise bad("`ssh` must be a mapping of settings")
        unknown = unknown_settings(host, "ssh", ssh, SSH_SETTINGS)
        if unknown:
            raise UserError.many(unknown)
        if settings.get("password") and not ssh.get("key_file"):
            raise bad(
                "SSH password authentication is not supported (the engine never types passwords)",
                "use a key: set ssh.key_file, or load the key into ssh-agent and remove `password`",
            )
        checking = ssh.get("host_key_checking", "strict")
        if not isinstance(checking, str | bool) or checking not in HOST_KEY_CHECKING:
            raise bad(f"ssh.host_key_checking {checking!r} is not one of strict, accept-new, off")
        options = ssh.get("options") or ()
        if not isinstance(options, list | tuple) or not all(isinstance(o, str) and "=" in o for o in options):
            raise bad("ssh.options must be a list of 'Name=value' strings")
        timeout = ssh.get("connect_timeout", 10)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise bad("ssh.connect_timeout must be a positive number of seconds")
        port = settings.get("port")
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise bad(f"port {port!r} is not between 1 and 65535")
        for key in ("config_file", "key_file", "known_hosts_file", "python"):
            if ssh.get(key) is not None and (not isinstance(ssh[key], str) or '"' in ssh[key]):
                raise bad(f"ssh.{key} must be a path (without double quotes)")
        return cls(
            address=str(settings.get("address") or host.address),
            port=port,
            user=settings.get("user"),
            config_file=ssh.get("config_file"),
            key_file=ssh.get("key_file"),
            host_key_checking=HOST_KEY_CHECKING[checking],
            known_hosts_file=ssh.get("known_hosts_file"),
            options=tuple(options),
            python=ssh.get("python") or "python3",
            connect_timeout=timeout,
        )

    def argv(self) -> list[str]:
        """The ssh command line: engine defaults first (they win), then the operator's options."""
        argv = ["ssh", "-T", "-x", "-a"]
        for option in (
            "BatchMode=yes",
            f"StrictHostKeyChecking={self.host_key_checking}",
            f"ConnectTimeout={self.connect_timeout}",
            "ClearAllForwardings=yes",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
            "LogLevel=ERROR",
        ):
            argv += ["-o", option]
        if self.known_hosts_file:
            argv += ["-o", f'UserKnownHostsFile="{self.known_hosts_file}"']
        elif self.host_key_checking == "no":
            argv += ["-o", "UserKnownHostsFile=/dev/null"]
        if self.config_file:
            argv += ["-F", self.config_file]
        if self.key_file:
            argv += ["-i", self.key_file]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.user:
            argv += ["-l", str(self.user)]
        for option in self.options:
            argv += ["-o", option]
        return [*argv, "--", self.address, remote_command(self.python)]


class SSHConnection(HelperConnection):
    """One `ssh` subprocess per host for the whole run; the posix helper answers at the far end."""

    label = "ssh"
    compressed_helper = True  # `remote_command` reads it so: 76 KB on the wire instead of 179 KB

    def __init__(self, host: Host, **_options: Any):
        super().__init__(host)
        self.settings = SSHSettings.from_host(host)

    @classmethod
    def check_settings(cls, host: Host) -> None:
        SSHSettings.from_host(host)

    @property
    def open_timeout(self) -> float:
        # Handshake, authentication and the interpreter's start, on a controller that may be
        # opening a hundred hosts at once.
        return max(30.0, 3.0 * self.settings.connect_timeout)

    def command(self) -> list[str]:
        return self.settings.argv()

    def describe_failure(self, stderr: str, returncode: int | None) -> str:
        """ssh's own words: the line that says why, e.g. 'Permission denied (publickey).'"""
        lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
        for phrase in _TELLING:
            for line in lines:
                if phrase in line:
                    return line
        reason = super().describe_failure(stderr, returncode)
        if returncode == 127 or "not found" in reason:
            reason += f" (is {self.settings.python!r} installed on the host? set ssh.python)"
        return reason
