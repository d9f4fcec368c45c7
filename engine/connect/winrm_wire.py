"""Send and Receive for one helper process, without rebuilding the envelope every time.

A batch costs one Send and one Receive. pywinrm builds each envelope from a dict with xmltodict,
which costs more client CPU than the whole exchange with a nearby server. The envelopes of one
(shell, command) pair differ only in the MessageID, the OperationTimeout, the stdin bytes and
the End flag, so `HelperWire` asks pywinrm for each envelope ONCE, with placeholders in those
places, and fills them in per request. The shape on the wire is exactly pywinrm's; faults still
go through `Protocol.send_message`, which turns them into pywinrm's exceptions.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import xmltodict
from winrm.protocol import Protocol

from engine.connect import b64

RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
_MID, _TIMEOUT, _END, _DATA = "@@MID@@", "@@TIMEOUT@@", "@@END@@", "@@DATA@@"
#: Bytes kept free below a server's MaxEnvelopeSize besides the envelope itself (a server may
#: count its own re-serialisation of the XML declaration or namespace prefixes).
ENVELOPE_SLACK = 256


class HelperWire:
    """Send/Receive envelopes of one command in one shell, rendered from pywinrm's own shape."""

    def __init__(self, protocol: Protocol, shell_id: str, command_id: str) -> None:
        self.protocol = protocol
        self.command_id = command_id
        send = self._request(shell_id, "Send")
        stream = send["env:Envelope"]["env:Body"].setdefault("rsp:Send", {}).setdefault("rsp:Stream", {})
        stream.update({"@CommandId": command_id, "@Name": "stdin", "@End": _END})
        stream["@xmlns:rsp"] = SHELL_NS
        stream["#text"] = _DATA
        receive = self._request(shell_id, "Receive")
        desired = receive["env:Envelope"]["env:Body"].setdefault("rsp:Receive", {})
        desired["rsp:DesiredStream"] = {"@CommandId": command_id, "#text": "stdout stderr"}
        self._send = self._render(send)
        self._receive = self._render(receive)
        #: the Send envelope without its stdin bytes, with the longest timeout it is given
        self.send_overhead = len(
            self._fill(self._send, 99999).replace(_END, "false").replace(_DATA, "").encode()
        )

    def piece_for(self, envelope: int) -> int:
        """Most stdin bytes one Send can carry within an `envelope`-byte limit (base64: 4 per 3)."""
        return max(0, (envelope - self.send_overhead - ENVELOPE_SLACK) // 4 * 3)

    def _request(self, shell_id: str, action: str) -> dict[str, Any]:
        header = self.protocol.build_wsman_header(
            action=f"{SHELL_NS}/{action}", resource_uri=RESOURCE_CMD, shell_id=shell_id, message_id=_MID
        )
        return {"env:Envelope": {**header, "env:Body": {}}}

    def _render(self, request: dict[str, Any]) -> str:
        text = xmltodict.unparse(request)
        timeout = f"<w:OperationTimeout>PT{int(self.protocol.operation_timeout_sec)}S</w:OperationTimeout>"
        if text.count(timeout) != 1 or text.count(_MID) != 1:
            raise RuntimeError("pywinrm's envelope shape changed; update engine/connect/winrm_wire.py")
        return text.replace(timeout, f"<w:OperationTimeout>{_TIMEOUT}</w:OperationTimeout>")

    def _fill(self, template: str, wait: int) -> str:
        return template.replace(_MID, str(uuid.uuid4()), 1).replace(_TIMEOUT, f"PT{wait}S", 1)

    def send(self, data: bytes | memoryview, end: bool, wait: int) -> None:
        """Send stdin bytes (End closes stdin); raises what `Protocol.send_message` raises."""
        envelope = self._fill(self._send, wait).replace(_END, "true" if end else "false", 1)
        self.protocol.send_message(envelope.replace(_DATA, b64.encode(data).decode("ascii"), 1))

    def receive(self, wait: int) -> tuple[bytes, bytes, int, bool]:
        """One Receive with a server-side wait of `wait` s: (stdout, stderr, exit code, done).

        A server-side timeout raises WinRMOperationTimeoutError ("still running").
        """
        answer = self.protocol.send_message(self._fill(self._receive, wait))
        return parse_receive(answer)


def parse_receive(answer: bytes) -> tuple[bytes, bytes, int, bool]:
    """What pywinrm's get_command_output_raw reads from a ReceiveResponse, parsed once."""
    root = ET.fromstring(answer)
    out: list[bytes] = []
    err: list[bytes] = []
    done = False
    code = -1
    for node in root.iter():
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "Stream" and node.text:
            (out if node.get("Name") == "stdout" else err).append(b64.decode(node.text))
        elif tag == "CommandState" and node.get("State", "").endswith("CommandState/Done"):
            done = True
        elif tag == "ExitCode" and node.text:
            code = int(node.text)
    return b"".join(out), b"".join(err), code, done
