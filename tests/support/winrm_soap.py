"""WS-Management SOAP for the WinRM test endpoint: read what pywinrm sends, answer what it parses.

Requests are parsed with xml.etree (pywinrm builds them with xmltodict); answers are small
templates shaped like Windows' own (MS-WSMV), including the `RelatesTo` pywinrm checks on
Signal and Delete and the `f:WSManFault Code=...` it reads from faults.
"""

from __future__ import annotations

import binascii
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from engine.connect import b64

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TRANSFER_URI = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
CMD_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
STATE_RUNNING = f"{SHELL_URI}/CommandState/Running"
STATE_DONE = f"{SHELL_URI}/CommandState/Done"
SIGNAL_TERMINATE = f"{SHELL_URI}/signal/terminate"
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


class SoapError(Exception):
    """A request the endpoint cannot read; answered with a WS-Man fault."""


@dataclass
class WsmanRequest:
    """The parts of a request envelope the endpoint acts on."""

    action: str  # last segment of the Action URI: Create, Command, Send, Receive, Signal, Delete
    message_id: str
    shell_id: str | None
    operation_timeout: float
    max_envelope: int | None
    body: ET.Element
    options: dict[str, str] = field(default_factory=dict)
    #: a Send's stdin bytes, decoded from the text taken out before parsing, else None
    stream_data: bytes | None = None

    def find(self, path: str) -> ET.Element | None:
        return self.body.find(path, NS)


#: A `Stream` element's start tag (any namespace prefix).
_STREAM_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Stream\b[^<>]*>")
#: Texts shorter than this are parsed as they are (nothing to gain).
_CUT_FROM = 4096


def parse_request(data: bytes) -> WsmanRequest:
    """Parse one envelope; SoapError when it is not a WS-Man request.

    A Send's stdin (up to ~500 KB of base64) is taken out before the XML parser sees it (expat
    would copy it several times, the endpoint's largest cost per Send after TLS) and decoded
    into `stream_data`, when it is strict base64 (no markup, entity or whitespace: cutting it
    out leaves the same document) and the parsed Send's Stream is where it was cut.
    """
    start, end, stream_data = _stream_span(data)
    document = data if stream_data is None else data[:start] + data[end:]
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise SoapError(f"malformed XML: {exc}") from None
    if stream_data is not None:
        stream = root.find("s:Body/rsp:Send/rsp:Stream", NS)
        if stream is None or stream.text:  # not the Send's stream (a comment?): parse it whole
            root, stream_data = ET.fromstring(data), None
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise SoapError("not a SOAP 1.2 envelope")
    action = _text(header, "a:Action")
    selector = header.find("w:SelectorSet/w:Selector[@Name='ShellId']", NS)
    options = {o.get("Name", ""): (o.text or "") for o in header.findall("w:OptionSet/w:Option", NS)}
    max_env = _text(header, "w:MaxEnvelopeSize")
    return WsmanRequest(
        action=action.rsplit("/", 1)[-1],
        message_id=_text(header, "a:MessageID"),
        shell_id=selector.text if selector is not None else None,
        operation_timeout=parse_duration(_text(header, "w:OperationTimeout") or "PT60S"),
        max_envelope=int(max_env) if max_env.isdigit() else None,
        body=body,
        options=options,
        stream_data=stream_data,
    )


def _stream_span(data: bytes) -> tuple[int, int, bytes | None]:
    """(start, end, bytes) of a long strict-base64 Stream text, or (0, 0, None)."""
    found = _STREAM_TAG.search(data)
    if found is None:
        return 0, 0, None
    start = found.end()
    end = data.find(b"<", start)
    if end - start < _CUT_FROM:
        return 0, 0, None
    try:
        return start, end, b64.decode_strict(memoryview(data)[start:end])
    except binascii.Error:
        return 0, 0, None


def parse_duration(text: str) -> float:
    """Seconds of an xs:duration such as PT20S or PT1.500S (the forms WS-Man clients send)."""
    found = _DURATION.match(text.strip())
    if not found:
        raise SoapError(f"bad OperationTimeout {text!r}")
    hours, minutes, seconds = found.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _text(parent: ET.Element, path: str) -> str:
    node = parent.find(path, NS)
    return (node.text or "").strip() if node is not None else ""


def envelope(action: str, relates_to: str, body: str) -> bytes:
    """A response envelope with the addressing headers Windows sends."""
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:x="{NS["x"]}" '
        f'xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}">'
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def create_response(relates_to: str, address: str, shell_id: str) -> bytes:
    sid = escape(shell_id)
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{CMD_RESOURCE}</w:ResourceURI>"
        f'<w:SelectorSet><w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet>'
        f"</a:ReferenceParameters></x:ResourceCreated>"
        f"<rsp:Shell><rsp:ShellId>{sid}</rsp:ShellId><rsp:ResourceUri>{CMD_RESOURCE}</rsp:ResourceUri>"
        f"<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
        f"</rsp:Shell>"
    )
    return envelope(f"{TRANSFER_URI}/CreateResponse", relates_to, body)


def command_response(relates_to: str, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{escape(command_id)}</rsp:CommandId></rsp:CommandResponse>"
    return envelope(f"{SHELL_URI}/CommandResponse", relates_to, body)


def send_response(relates_to: str) -> bytes:
    return envelope(f"{SHELL_URI}/SendResponse", relates_to, "<rsp:SendResponse/>")


def signal_response(relates_to: str) -> bytes:
    return envelope(f"{SHELL_URI}/SignalResponse", relates_to, "<rsp:SignalResponse/>")


def delete_response(relates_to: str) -> bytes:
    return envelope(f"{TRANSFER_URI}/DeleteResponse", relates_to, "")


def receive_response(
    relates_to: str, command_id: str, stdout: str, stderr: str, exit_code: int | None
) -> bytes:
    """Output as base64 stream text (already encoded); `exit_code` None while still running."""
    cid = quoteattr(command_id)
    end = ' End="true"' if exit_code is not None else ""
    parts = ["<rsp:ReceiveResponse>"]
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        if text or exit_code is not None:
            parts.append(f'<rsp:Stream Name="{name}" CommandId={cid}{end}>{text}</rsp:Stream>')
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_RUNNING}"/>')
    else:
        parts.append(
            f'<rsp:CommandState CommandId={cid} State="{STATE_DONE}">'
            f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>"
        )
    parts.append("</rsp:ReceiveResponse>")
    return envelope(f"{SHELL_URI}/ReceiveResponse", relates_to, "".join(parts))


@dataclass(frozen=True)
class Fault:
    """A WS-Man fault as Windows words it: SOAP code/subcode, reason and the MS fault code.

    `provider` names the WinRM plug-in that raised it (the shell's own errors come from the "Shell
    cmd plugin", `%systemroot%\\system32\\winrscmd.dll`), wrapped in f:ProviderFault as Windows does.
    """

    subcode: str
    reason: str
    wsman_code: int
    code: str = "s:Receiver"
    provider: tuple[str, str] | None = None

    def render(self, relates_to: str, machine: str) -> bytes:
        message = escape(self.reason)
        if self.provider is not None:
            message = (
                f"<f:ProviderFault provider={quoteattr(self.provider[0])} path={quoteattr(self.provider[1])}>"
                f"{message}</f:ProviderFault>"
            )
        body = (
            f"<s:Fault><s:Code><s:Value>{self.code}</s:Value>"
            f"<s:Subcode><s:Value>{self.subcode}</s:Value></s:Subcode></s:Code>"
            f'<s:Reason><s:Text xml:lang="en-US">{escape(self.reason)}</s:Text></s:Reason>'
            f'<s:Detail><f:WSManFault xmlns:f="{NS["f"]}" Code="{self.wsman_code}" Machine={quoteattr(machine)}>'
            f"<f:Message>{message}</f:Message></f:WSManFault></s:Detail></s:Fault>"
        )
        return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


#: The plug-in that runs commands in a cmd shell (what Windows names in its provider faults).
SHELL_CMD_PLUGIN = ("Shell cmd plugin", "%systemroot%\\system32\\winrscmd.dll")


# Fault codes are the ERROR_WSMAN_* values of wsman.h (Windows SDK) and the texts those Windows
# sends; MS-WSMV is https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/.


def timeout_fault() -> Fault:
    return Fault(
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        2150858793,
    )


def shell_not_found_fault(shell_id: str) -> Fault:
    return Fault(
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not "
        "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
        "exists on the server. Provide the correct ShellId or create a new shell and retry the operation.",
        2150858843,
        code="s:Sender",
    )


def envelope_too_large_fault(size: int, limit: int) -> Fault:
    return Fault(
        "w:EncodingLimit",
        f"The WS-Management service cannot process the request because the request size ({size}) exceeds "
        f"the configured MaxEnvelopeSize quota ({limit}).",
        2150859025,
        code="s:Sender",
    )


def max_shells_fault() -> Fault:
    """Create past winrm/config/winrs/MaxShellsPerUser: MS-WSMV 3.1.4.5.2.1 wsman:QuotaLimit ("A
    wsman:QuotaLimit fault SHOULD be returned by the wst:Create operation when a quota limit is
    exceeded"), with the f:Message text it gives; ERROR_WSMAN_QUOTA_MAX_SHELLS (0x803381A5)."""
    return Fault(
        "w:QuotaLimit",
        "The Windows Remote Shell cannot process the request. The server is already executing the maximum "
        "number of concurrent shells a user can remotely open on the same system. Retry later.",
        2150859173,
    )


def pipe_ended_fault() -> Fault:
    """Send to a command whose process has exited: the shell plug-in cannot write to its stdin pipe
    and answers with the Win32 error ERROR_BROKEN_PIPE (109, "The pipe has been ended.", System Error
    Codes), as a provider fault of the Shell cmd plugin."""
    return Fault("w:InternalError", "The pipe has been ended. ", 109, provider=SHELL_CMD_PLUGIN)


def max_operations_fault(limit: int) -> Fault:
    return Fault(
        "w:QuotaLimit",
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
        f"{limit} concurrent operations, which has been exceeded. Close existing operations for this user, "
        "or raise the quota for this user.",
        2150859174,
    )


def invalid_request_fault(reason: str) -> Fault:
    return Fault("w:InvalidParameter", reason, 2150858882, code="s:Sender")
