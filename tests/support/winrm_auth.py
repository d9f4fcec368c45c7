"""Server side of WinRM authentication for the test endpoint: Basic, and NTLM with sealing.

NTLM authenticates a TCP connection, not a request, so one `NtlmServerAuth` lives per
connection (per request-handler instance). pyspnego is the acceptor: it reads the accepted
credentials from the file named by env NTLM_USER_FILE (`DOMAIN:user:password` per line).
After the handshake every body is sealed: `multipart/encrypted` parts as pywinrm's
winrm/encryption.py writes them, mirrored here for both directions.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import spnego
import spnego.exceptions

BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{SPNEGO_ENCRYPTED}";boundary="Encrypted Boundary"'
_OCTET_HEADER = b"\tContent-Type: application/octet-stream\r\n"


def split_user(user: str) -> tuple[str, str]:
    """('DOMAIN', 'user') from 'DOMAIN\\user'; a UPN or bare name has an empty domain."""
    domain, _, name = user.rpartition("\\")
    return domain, name


def ntlm_user_line(user: str, password: str) -> str:
    """One NTLM_USER_FILE line in the `DOMAIN:user:password` form pyspnego reads."""
    if ":" in user or ":" in password or "\n" in password:
        raise ValueError("NTLM test credentials cannot contain ':' or newlines (file format)")
    domain, name = split_user(user)
    return f"{domain}:{name}:{password}\n"


def register_ntlm_user(path: Path, user: str, password: str) -> str | None:
    """Add a credential to `path` and point NTLM_USER_FILE at it; returns the previous value."""
    line = ntlm_user_line(user, password)
    existing = path.read_text("utf-8") if path.exists() else ""
    if line not in existing.splitlines(keepends=True):
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)
    previous = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(path)
    return previous


def restore_ntlm_user_file(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("NTLM_USER_FILE", None)
    else:
        os.environ["NTLM_USER_FILE"] = previous


def basic_ok(header: str | None, user: str, password: str) -> bool:
    """Whether an `Authorization: Basic ...` header carries exactly these credentials."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except ValueError:
        return False
    return given == f"{user}:{password}"


class NtlmServerAuth:
    """One connection's NTLM acceptor: handshake, then seal and unseal every message."""

    def __init__(self, user: str) -> None:
        domain, name = split_user(user)
        self._expected = (domain.upper(), name.upper())
        self._context: spnego.ContextProxy | None = None
        self.complete = False
        #: Whether the last step refused a token (wrong password, or another server's user).
        self.rejected = False

    def step(self, header: str | None) -> tuple[int, str | None]:
        """Process an Authorization header: (200, None) done, (401, WWW-Authenticate) otherwise."""
        scheme, _, token = (header or "").partition(" ")
        self.rejected = False
        if scheme not in ("Negotiate", "NTLM") or not token:
            self._context, self.complete = None, False
            return 401, "Negotiate"
        if self._context is None:
            self._context = spnego.server(hostname="localhost", service="http", protocol="ntlm")
        try:
            answer = self._context.step(base64.b64decode(token))
        except (spnego.exceptions.SpnegoError, ValueError):
            self._context, self.complete, self.rejected = None, False, True
            return 401, "Negotiate"
        if not self._context.complete:
            return 401, f"{scheme} {base64.b64encode(answer or b'').decode()}"
        principal = split_user(self._context.client_principal or "")
        if (principal[0].upper(), principal[1].upper()) != self._expected:
            self._context, self.complete, self.rejected = None, False, True  # another server's user
            return 401, "Negotiate"
        self.complete = True
        return 200, None

    def unseal(self, body: bytes) -> bytes:
        """The SOAP text of a `multipart/encrypted` request body."""
        assert self._context is not None
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        message = b""
        for header, payload in zip(parts[0::2], parts[1::2], strict=True):
            expected = int(header.split(b"Length=")[1].strip())
            if payload.endswith(BOUNDARY + b"--\r\n"):
                payload = payload[: -len(BOUNDARY + b"--\r\n")]
            payload = payload.replace(_OCTET_HEADER, b"", 1)
            sig_len = struct.unpack("<i", payload[:4])[0]
            plain = self._context.unwrap(payload[4 : 4 + sig_len] + payload[4 + sig_len :]).data
            if len(plain) != expected:
                raise ValueError("sealed request length does not match its header")
            message += plain
        return message

    def seal(self, message: bytes) -> bytes:
        """A `multipart/encrypted` body for `message`, as pywinrm expects a response."""
        assert self._context is not None
        wrapped = self._context.wrap(message, encrypt=True).data
        signature, sealed = wrapped[:16], wrapped[16:]
        return (
            BOUNDARY + b"\r\n"
            b"\tContent-Type: " + SPNEGO_ENCRYPTED.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(message)).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n"
            + _OCTET_HEADER
            + struct.pack("<i", len(signature))
            + signature
            + sealed
            + BOUNDARY
            + b"--\r\n"
        )
