"""What pywinrm, requests and pyspnego raise, turned into one plain sentence for the operator.

The executor shows `ConnectionFailed` messages as they are, so each says what failed, against
which endpoint, and (where there is one) what to change. Passwords never appear: pywinrm's
own messages do not carry them and we add only the user name and the transport.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

#: MS-WSMV fault codes (the `Code` attribute of `f:WSManFault`; the ERROR_WSMAN_* values of wsman.h).
FAULT_OPERATION_TIMEOUT = 2150858793  # 0x80338029: Receive had no output within OperationTimeout
FAULT_SHELL_NOT_FOUND = 2150858843  # 0x8033805B: unknown ShellId (dropped, idle timeout, restart)
FAULT_ENVELOPE_TOO_LARGE = 2150859025  # 0x80338111: request exceeded MaxEnvelopeSize
FAULT_MAX_SHELLS = 2150859173  # 0x803381A5: MaxShellsPerUser reached
FAULT_MAX_OPERATIONS = 2150859174  # 0x803381A6: MaxConcurrentOperationsPerUser reached
#: Faults after which the shell is useless but a new one may work.
SHELL_GONE_FAULTS = frozenset({FAULT_SHELL_NOT_FOUND, FAULT_MAX_OPERATIONS})
#: Send to a command whose process exited: ERROR_BROKEN_PIPE ("The pipe has been ended."), as the
#: shell plug-in's Win32 code or as its HRESULT 0x8007006D.
PIPE_ENDED_FAULTS = frozenset({109, 0x8007006D})


@dataclass(frozen=True, slots=True)
class Quota:
    """A WinRM service setting whose limit a fault reports, and how an administrator raises it."""

    name: str
    default: str
    path: str

    def command(self, value: str) -> str:
        return f'winrm set {self.path} @{{{self.name}="{value}"}}'


#: fault code -> (the quota it reports, a value to suggest); defaults from MS-WSMV 2.2.4.
QUOTAS = {
    FAULT_ENVELOPE_TOO_LARGE: (Quota("MaxEnvelopeSizekb", "500 (150 on older Windows)", "winrm/config"), "500"),
    FAULT_MAX_SHELLS: (Quota("MaxShellsPerUser", "30", "winrm/config/winrs"), "60"),
    FAULT_MAX_OPERATIONS: (
        Quota("MaxConcurrentOperationsPerUser", "1500", "winrm/config/service"),
        "4294967295",
    ),
}

#: winrs MaxMemoryPerShellMB: memory of a shell and every process it starts. Windows sends no
#: WS-Man fault for it: "the remote operation is terminated when a new allocation exceeds the
#: specified quota" (Group Policy "Specify maximum amount of memory in MB per Shell",
#: WindowsRemoteShell.admx); the allocation fails inside the process, which sees an
#: OutOfMemoryException (.NET, so the helper) or a Win32 error (native programs), as
#: https://github.com/ansible/ansible/issues/39327 shows. 1024 is the default of
#: https://learn.microsoft.com/windows/win32/winrm/quotas and MS-WSMV 2.2.4.42 WinrsType.
MEMORY_QUOTA = Quota(
    "MaxMemoryPerShellMB",
    "1024 MB (Windows Server 2012 and later show 2048; WinRM 2.0 used 150)",
    "winrm/config/winrs",
)
#: Texts that say an allocation was refused: .NET's exception, ERROR_COMMITMENT_LIMIT (1455) and
#: ERROR_NOT_ENOUGH_QUOTA (1816, 0x80070718), as Windows words them.
OUT_OF_MEMORY_MARKS = (
    "OutOfMemoryException",
    "The paging file is too small for this operation to complete",
    "Not enough quota is available to process this command",
)

_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>: ")


def is_shell_gone(exc: BaseException) -> bool:
    """The server no longer has our shell, or refuses more work in it: open a new one."""
    if not isinstance(exc, WSManFaultError):
        return False
    if exc.wsman_fault_code in SHELL_GONE_FAULTS:
        return True
    return bool(exc.fault_subcode and exc.fault_subcode.endswith("InvalidSelectors"))


def is_pipe_ended(exc: BaseException) -> bool:
    """The command's process has exited (killed, crashed): its stdin pipe is gone."""
    if not isinstance(exc, WSManFaultError):
        return False
    return exc.wsman_fault_code in PIPE_ENDED_FAULTS or "pipe has been ended" in (exc.reason or "").lower()


def is_envelope_limit(exc: BaseException) -> bool:
    """The server refused a request for its size: send smaller pieces."""
    if not isinstance(exc, WSManFaultError):
        return False
    return exc.wsman_fault_code == FAULT_ENVELOPE_TOO_LARGE or bool(
        exc.fault_subcode and exc.fault_subcode.endswith("EncodingLimit")
    )


def out_of_memory_reason(what: str, detail: str, url: str) -> str | None:
    """The operator's line when `detail` (a helper's stderr or failure frame) says an allocation
    was refused; None otherwise. Windows puts no value in the error, so the line says where the
    value in force is shown (`cutover probe` reports it: modules/sagecrm/_probe.py) and the default."""
    if not any(mark.lower() in detail.lower() for mark in OUT_OF_MEMORY_MARKS):
        return None
    return (
        f"WinRM quota {MEMORY_QUOTA.name} reached at {url}: {what} ran out of memory ({detail}); "
        "Windows does not say the value in force ('winrm get winrm/config/winrs' on the server, or "
        "`cutover probe`, shows it); "
        f"the default is {MEMORY_QUOTA.default}; an administrator raises it on the server with: "
        f"{MEMORY_QUOTA.command('4096')}"
    )


def is_transport_failure(exc: BaseException) -> bool:
    """The HTTP channel itself broke (not a WS-Man answer): the session must be rebuilt."""
    return isinstance(exc, requests.RequestException | InvalidCredentialsError | WinRMTransportError)


#: The `kind` of a ConnectionFailed that the credentials caused: trying again cannot help, and each
#: try counts towards the account's lockout threshold, so the run does not try again.
AUTH_FAILED = "auth"


def translate(exc: BaseException, s: WinRMSettings) -> ConnectionFailed:
    """One `ConnectionFailed` with a plain reason for anything the WinRM stack raised."""
    refused = (isinstance(exc, InvalidCredentialsError) and "rejected by the server" in str(exc)) or (
        _kerberos_reason(exc, s) is not None
    )
    return ConnectionFailed(_reason(exc, s), host=s.host, kind=AUTH_FAILED if refused else "connection")


def _reason(exc: BaseException, s: WinRMSettings) -> str:
    url = s.endpoint
    if isinstance(exc, InvalidCredentialsError):
        if "rejected by the server" not in str(exc):
            return f"WinRM client settings refused for {url}: {exc}"  # e.g. cert_pem file missing
        return (
            f"authentication failed for user {s.user} (transport {s.transport}) at {url}: the password is "
            "wrong or has expired, or the account is locked out or disabled (Windows answers 401 to each; "
            "the server's Security log, event 4625, says which); no other attempt is made, so the "
            "account is not locked out by retries"
        )
    kerberos = _kerberos_reason(exc, s)
    if kerberos is not None:
        return kerberos
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
        quota = QUOTAS.get(exc.wsman_fault_code or 0)
        if quota is not None:
            setting, value = quota
            return (
                f"WinRM quota {setting.name} reached at {url} (fault{code}: {exc.reason.strip()}); "
                f"the default is {setting.default}; an administrator raises it on the server with: "
                f"{setting.command(value)}"
            )
        return f"WinRM fault{code} from {url}: {exc.reason.strip()}"
    if isinstance(exc, WinRMOperationTimeoutError):
        return f"{url} did not complete a WinRM operation within {s.operation_timeout} s"
    if isinstance(exc, WinRMTransportError):
        if exc.code == 500 and s.scheme == "http" and not _body(exc):
            return (
                f"{url} answered HTTP 500 to a message it was sent in clear: the WinRM service refuses "
                "unencrypted messages (AllowUnencrypted=false, its default); use transport ntlm, "
                "kerberos or credssp with winrm.message_encryption auto, or scheme https"
            )
        return f"{url} answered HTTP {exc.code}"
    if isinstance(exc, WinRMError):
        if "is not installed" in str(exc):
            return f"transport {s.transport} needs an extra package: pip install 'pywinrm[{s.transport}]' ({exc})"
        return f"WinRM error with {url}: {exc}"
    return f"WinRM exchange with {url} failed: {type(exc).__name__}: {exc}"


#: Kerberos (MIT krb5 / GSSAPI) error texts -> the operator's reason; each KDC error named as RFC 4120.
_KERBEROS_REASONS = (
    (re.compile(r"KDC_ERR_KEY_EXPIRED|password has expired", re.I), "the password has expired"),
    (
        re.compile(r"KDC_ERR_CLIENT_REVOKED|credentials have been revoked", re.I),
        "the account is locked out or disabled",
    ),
    (re.compile(r"KDC_ERR_PREAUTH_FAILED|preauthentication failed", re.I), "the password is wrong"),
    (re.compile(r"KDC_ERR_C_PRINCIPAL_UNKNOWN|not found in Kerberos database", re.I), "the user is unknown"),
    (re.compile(r"No Kerberos credentials available|No credentials cache", re.I),
     "there is no Kerberos ticket (run kinit, or give a password)"),
)


def _kerberos_reason(exc: BaseException, s: WinRMSettings) -> str | None:
    """One line for a Kerberos failure whose cause the KDC named; None for anything else."""
    if s.transport != "kerberos":
        return None
    text = " ".join(str(e) for e in _chain(exc))
    for pattern, reason in _KERBEROS_REASONS:
        if pattern.search(text):
            return f"Kerberos authentication failed for user {s.user or '(ticket)'} at {s.endpoint}: {reason}"
    return None


def _body(exc: WinRMTransportError) -> str:
    """The answer's body (pywinrm keeps it as the third argument), stripped; '' when there is none."""
    body = exc.args[2] if len(exc.args) > 2 else ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body or "").strip()


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    inner: BaseException | None = exc
    while inner is not None and inner not in found:
        found.append(inner)
        inner = inner.__cause__ or inner.__context__
    return found


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
