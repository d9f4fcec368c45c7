"""What pywinrm, requests and pyspnego raise, turned into one plain sentence for the operator.

The executor shows `ConnectionFailed` messages as they are, so each says what failed, against
which endpoint, and (where there is one) what to change. Passwords never appear: pywinrm's
own messages do not carry them and we add only the user name and the transport.
"""

from __future__ import annotations

import re

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from engine.connect.winrm_settings import WinRMSettings
from engine.core.errors import ConnectionFailed

#: MS-WSMV fault codes (the `Code` attribute of `f:WSManFault`).
FAULT_OPERATION_TIMEOUT = 2150858793  # 0x80338029: Receive had no output within OperationTimeout
FAULT_SHELL_NOT_FOUND = 2150858843  # 0x8033805B: unknown ShellId (dropped, idle timeout, restart)
FAULT_ENVELOPE_TOO_LARGE = 2150859025  # 0x80338111: request exceeded MaxEnvelopeSize
FAULT_MAX_SHELLS = 2150859173  # 0x803381A5: MaxShellsPerUser reached
FAULT_MAX_OPERATIONS = 2150859174  # 0x803381A6: MaxConcurrentOperationsPerUser reached
#: Faults after which the shell is useless but a new one may work.
SHELL_GONE_FAULTS = frozenset({FAULT_SHELL_NOT_FOUND, FAULT_MAX_OPERATIONS})

_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>: ")


def is_shell_gone(exc: BaseException) -> bool:
    """The server no longer has our shell, or refuses more work in it: open a new one."""
    if not isinstance(exc, WSManFaultError):
        return False
    if exc.wsman_fault_code in SHELL_GONE_FAULTS:
        return True
    return bool(exc.fault_subcode and exc.fault_subcode.endswith("InvalidSelectors"))


def is_envelope_limit(exc: BaseException) -> bool:
    """The server refused a request for its size: send smaller pieces."""
    if not isinstance(exc, WSManFaultError):
        return False
    return exc.wsman_fault_code == FAULT_ENVELOPE_TOO_LARGE or bool(
        exc.fault_subcode and exc.fault_subcode.endswith("EncodingLimit")
    )


def is_transport_failure(exc: BaseException) -> bool:
    """The HTTP channel itself broke (not a WS-Man answer): the session must be rebuilt."""
    return isinstance(exc, requests.RequestException | InvalidCredentialsError | WinRMTransportError)


def translate(exc: BaseException, s: WinRMSettings) -> ConnectionFailed:
    """One `ConnectionFailed` with a plain reason for anything the WinRM stack raised."""
    return ConnectionFailed(_reason(exc, s), host=s.host)


def _reason(exc: BaseException, s: WinRMSettings) -> str:
    url = s.endpoint
    if isinstance(exc, InvalidCredentialsError):
        if "rejected by the server" not in str(exc):
            return f"WinRM client settings refused for {url}: {exc}"  # e.g. cert_pem file missing
        return f"authentication failed for user {s.user} (transport {s.transport}) at {url}"
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            f"TLS check of {url} failed ({_root_cause(exc)}); trust the server's CA with "
            "winrm.ca_bundle, or (test machines only) set winrm.validate_certs: false"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer from {url} within {s.read_timeout} s (winrm.read_timeout)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"cannot connect to {url}: {_root_cause(exc)}"
    if isinstance(exc, WSManFaultError):
        code = f" {exc.wsman_fault_code}" if exc.wsman_fault_code is not None else ""
        return f"WinRM fault{code} from {url}: {exc.reason.strip()}"
    if isinstance(exc, WinRMOperationTimeoutError):
        return f"{url} did not complete a WinRM operation within {s.operation_timeout} s"
    if isinstance(exc, WinRMTransportError):
        return f"{url} answered HTTP {exc.code}"
    if isinstance(exc, WinRMError):
        if "is not installed" in str(exc):
            return f"transport {s.transport} needs an extra package: pip install 'pywinrm[{s.transport}]' ({exc})"
        return f"WinRM error with {url}: {exc}"
    return f"WinRM exchange with {url} failed: {type(exc).__name__}: {exc}"


def _root_cause(exc: BaseException) -> str:
    """The innermost useful reason ('[Errno 111] Connection refused'), not urllib3's reprs."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip()
    inner = exc
    while inner.__cause__ or inner.__context__:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    reason = getattr(getattr(exc, "args", [None])[0], "reason", None) or inner
    return _OBJECT_REPR.sub("", str(reason)) or type(exc).__name__
