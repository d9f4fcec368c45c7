"""A WinRM host's connection settings, checked once, before anything goes on the wire.

`host.settings` comes from the inventory: `address`, `port`, `user`, `password` and the dict
`winrm`. The listener's port may be written either as the host's `port:` or as `winrm.port`
(where an operator looking at the other WinRM settings expects it); written both ways, the two
must agree. Mistakes there are the operator's, so they become `UserError`s that point at the host's
line in the inventory, with a hint; pywinrm would otherwise fail later with a bare ValueError.

The defaults are the safe ones: HTTPS, certificate checks on, NTLM with message encryption
whenever the channel is plain HTTP, and no proxy taken from the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.errors import Location, Problem, UserError, closest, key_location
from engine.core.model import Host

TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic", "certificate")
SCHEMES = ("https", "http")
ENCRYPTION_MODES = ("auto", "always", "never")
DEFAULT_PORTS = {"http": 5985, "https": 5986}
DEFAULT_OPERATION_TIMEOUT = 20
#: Keys the `winrm` dict may hold; anything else is a typo the operator should hear about.
KNOWN_KEYS = (
    "port",
    "transport",
    "scheme",
    "validate_certs",
    "ca_bundle",
    "cert_pem",
    "cert_key_pem",
    "message_encryption",
    "proxy",
    "operation_timeout",
    "read_timeout",
    "persistent",
)


def insecure_notes(hosts: Iterable[Host]) -> list[str]:
    """One warning per WinRM host whose settings turn a protection off, for every run's console,
    journal and report: an unchecked server certificate, or messages (and Basic's password) in clear."""
    notes: list[str] = []
    for host in hosts:
        if host.connection != "winrm":
            continue
        raw = (host.settings or {}).get("winrm") or {}
        winrm = raw if isinstance(raw, Mapping) else {}
        scheme = str(winrm.get("scheme") or "https").lower()
        if winrm.get("validate_certs") is False and scheme == "https":
            notes.append(f"INSECURE: host {host.name}: winrm.validate_certs is false, so the server's TLS "
                         "certificate is not checked (anyone between here and it can read the session)")  # fmt: skip
        if scheme == "http" and str(winrm.get("transport") or "ntlm").lower() == "basic":
            notes.append(f"INSECURE: host {host.name}: Basic authentication over http sends the password and "
                         "every message in clear")  # fmt: skip
        elif scheme == "http" and str(winrm.get("message_encryption") or "auto").lower() == "never":
            notes.append(f"INSECURE: host {host.name}: winrm.message_encryption is never over http, so every "
                         "message travels in clear")  # fmt: skip
    return notes


@dataclass(frozen=True, slots=True)
class WinRMSettings:
    """Everything needed to build a pywinrm `Protocol` for one host."""

    host: str
    address: str
    port: int
    scheme: str
    transport: str
    user: str | None
    password: str | None
    validate_certs: bool
    ca_bundle: str | None
    cert_pem: str | None
    cert_key_pem: str | None
    message_encryption: str
    proxy: str | None
    operation_timeout: int
    read_timeout: int
    persistent: bool

    @property
    def endpoint(self) -> str:
        """The WS-Management URL; IPv6 literals get their brackets."""
        address = (
            f"[{self.address}]" if ":" in self.address and not self.address.startswith("[") else self.address
        )
        return f"{self.scheme}://{address}:{self.port}/wsman"

    def protocol_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `winrm.protocol.Protocol` (the password is in here: never log it)."""
        return {
            "endpoint": self.endpoint,
            "transport": self.transport,
            "username": self.user,
            "password": self.password,
            "server_cert_validation": "validate" if self.validate_certs else "ignore",
            # None, not pywinrm's default 'legacy_requests': REQUESTS_CA_BUNDLE in the environment
            # must not silently change which CAs a production run trusts.
            "ca_trust_path": self.ca_bundle,
            "cert_pem": self.cert_pem,
            "cert_key_pem": self.cert_key_pem,
            "message_encryption": self.message_encryption,
            # None disables proxies entirely; pywinrm's default would read HTTP(S)_PROXY.
            "proxy": self.proxy,
            "operation_timeout_sec": self.operation_timeout,
            "read_timeout_sec": self.read_timeout,
        }

    @classmethod
    def from_host(cls, host: Host) -> WinRMSettings:
        """Read and check `host.settings`; a UserError names the host's inventory line."""
        return _Reader(host).read()


class _Reader:
    """Collects every problem in one host's settings so the operator fixes them in one pass."""

    def __init__(self, host: Host):
        self.host = host
        self.settings: Mapping[str, Any] = host.settings or {}
        raw = self.settings.get("winrm") or {}
        self.winrm: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        self.problems: list[tuple[str, str | None, Location | None]] = []
        if not isinstance(raw, Mapping):
            self.fail("setting 'winrm' must be a mapping", "e.g. winrm: {transport: ntlm}")

    def fail(self, message: str, hint: str | None = None, where: Location | None = None) -> None:
        self.problems.append((message, hint, where or self.host.location))

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.winrm.get(key, default)
        if value is None:
            return default
        text = str(value).lower()
        if text not in choices:
            guess = closest(text, choices)
            hint = f"did you mean {guess!r}?" if guess else f"one of: {', '.join(choices)}"
            self.fail(f"winrm.{key} is {value!r}", hint, key_location(self.winrm, key))
            return default
        return text

    def flag(self, key: str, default: bool) -> bool:
        value = self.winrm.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(
                f"winrm.{key} must be true or false, not {value!r}", where=key_location(self.winrm, key)
            )
            return default
        return value

    def number(self, mapping: Mapping[str, Any], key: str, label: str, default: int | None) -> int | None:
        value = mapping.get(key)
        if value is None or value == "":
            return default
        try:
            number = int(str(value))
        except ValueError:
            self.fail(f"{label} must be a whole number, not {value!r}", where=key_location(mapping, key))
            return default
        if number < 1:
            self.fail(f"{label} must be at least 1, not {number}", where=key_location(mapping, key))
            return default
        return number

    def port(self, default: int) -> int:
        """`port:` or `winrm.port` (the same setting, two spellings); the scheme's port otherwise."""
        plain = self.number(self.settings, "port", "port", None)
        nested = self.number(self.winrm, "port", "winrm.port", None)
        if plain is not None and nested is not None and plain != nested:
            self.fail(
                f"port {plain} and winrm.port {nested} disagree",
                "give the WinRM listener's port once: `port:` or `winrm: {port: ...}`",
            )
        return plain or nested or default

    def text(self, mapping: Mapping[str, Any], key: str) -> str | None:
        value = mapping.get(key)
        return None if value is None or value == "" else str(value)

    def read(self) -> WinRMSettings:
        for key in self.winrm:
            if key not in KNOWN_KEYS:
                guess = closest(str(key), KNOWN_KEYS)
                self.fail(
                    f"unknown WinRM setting {key!r}",
                    f"did you mean {guess!r}?" if guess else f"known: {', '.join(KNOWN_KEYS)}",
                    key_location(self.winrm, key),
                )
        transport = self.choice("transport", TRANSPORTS, "ntlm")
        scheme = self.choice("scheme", SCHEMES, "https")
        operation_timeout = self.number(
            self.winrm, "operation_timeout", "winrm.operation_timeout", DEFAULT_OPERATION_TIMEOUT
        )
        read_timeout = self.number(self.winrm, "read_timeout", "winrm.read_timeout", None)
        operation_timeout = operation_timeout or DEFAULT_OPERATION_TIMEOUT
        if read_timeout is None:
            read_timeout = operation_timeout + 10
        elif read_timeout <= operation_timeout:
            self.fail(
                f"winrm.read_timeout ({read_timeout}) must exceed winrm.operation_timeout ({operation_timeout})",
                "the server may hold a Receive for the whole operation timeout before it answers",
            )
        settings = WinRMSettings(
            host=self.host.name,
            address=self.text(self.settings, "address") or self.host.address,
            port=self.port(DEFAULT_PORTS[scheme]),
            scheme=scheme,
            transport=transport,
            user=self.text(self.settings, "user"),
            password=self.text(self.settings, "password"),
            validate_certs=self.flag("validate_certs", True),
            ca_bundle=self.text(self.winrm, "ca_bundle"),
            cert_pem=self.text(self.winrm, "cert_pem"),
            cert_key_pem=self.text(self.winrm, "cert_key_pem"),
            message_encryption=self.choice("message_encryption", ENCRYPTION_MODES, "auto"),
            proxy=self.text(self.winrm, "proxy"),
            operation_timeout=operation_timeout,
            read_timeout=read_timeout,
            persistent=self.flag("persistent", True),
        )
        self.check_credentials(settings)
        if self.problems:
            raise UserError.many(
                Problem(f"host {self.host.name!r}: {msg}", where, hint) for msg, hint, where in self.problems
            )
        return settings

    def check_credentials(self, s: WinRMSettings) -> None:
        """What each transport needs, said before pywinrm raises something vaguer."""
        if s.transport == "certificate":
            if not (s.cert_pem and s.cert_key_pem):
                self.fail("transport 'certificate' needs winrm.cert_pem and winrm.cert_key_pem")
            if s.scheme != "https":
                self.fail("transport 'certificate' works only over https", "set winrm.scheme: https")
            return
        if s.transport == "kerberos":
            return  # a ticket from the credential cache is enough
        if not s.user:
            self.fail(f"transport {s.transport!r} needs a user", "set `user:` on the host or its group")
        if s.password is None:
            self.fail(
                f"transport {s.transport!r} needs a password", "keep it in the vault: password: !vault ..."
            )
        if s.message_encryption == "always" and s.transport == "basic":
            self.fail(
                "winrm.message_encryption 'always' is impossible with transport 'basic'",
                "use transport ntlm, kerberos or credssp, or scheme https",
            )
