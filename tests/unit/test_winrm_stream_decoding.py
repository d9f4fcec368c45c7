"""A Send's stdin is read the same whether the endpoint takes the fast path or parses it whole.

The WinRM test endpoint cuts a long base64 `rsp:Stream` text out of the envelope before the XML
parser sees it and decodes it with engine/connect/b64.py (SIMD when pybase64 is installed). That
must change nothing a client can observe: the stream is xs:base64Binary (MS-WSMV 3.1.4.1.31.1
I/O Streams, https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/
2629bd02-7269-4d7a-9c6c-a0e5e8ade2bc), whose lexical space allows whitespace between the
characters (XML Schema Part 2, 3.2.16 base64Binary, https://www.w3.org/TR/xmlschema-2/#base64Binary),
and XML lets any character be written as a character reference; such texts take the whole parse.
"""

from __future__ import annotations

import base64
import os

import pytest

from engine.connect import b64
from tests.support import winrm_soap as soap

SEND = (
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><env:Header>'
    "<a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send</a:Action>"
    "<a:MessageID>uuid:1</a:MessageID><w:OperationTimeout>PT20S</w:OperationTimeout>"
    '<w:SelectorSet><w:Selector Name="ShellId">S1</w:Selector></w:SelectorSet></env:Header>'
    '<env:Body><rsp:Send><rsp:Stream Name="stdin" CommandId="C1" End="false">{text}</rsp:Stream>'
    "</rsp:Send></env:Body></env:Envelope>"
)


def _stdin(request: soap.WsmanRequest) -> bytes:
    """What the endpoint's Send handler feeds the process (winrm_endpoint._on_send)."""
    stream = request.find("rsp:Send/rsp:Stream")
    assert stream is not None and stream.get("CommandId") == "C1"
    return request.stream_data if request.stream_data is not None else b64.decode(stream.text or "")


def test_a_long_plain_base64_stream_is_cut_out_and_decoded_once() -> None:
    data = os.urandom(300_000)
    request = soap.parse_request(SEND.format(text=base64.b64encode(data).decode()).encode())

    assert request.stream_data == data
    assert request.find("rsp:Send/rsp:Stream").text is None  # the parser never saw it
    assert request.action == "Send" and request.shell_id == "S1" and request.operation_timeout == 20


@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda t: "\r\n".join(t[i : i + 76] for i in range(0, len(t), 76)), id="folded-lines"),
        pytest.param(lambda t: t.replace("+", "&#43;"), id="character-references"),
        pytest.param(lambda t: t[:5000] + "<!-- a comment -->" + t[5000:], id="comment-inside"),
    ],
)
def test_other_spellings_of_the_same_stream_are_parsed_whole_to_the_same_bytes(spell) -> None:
    data = os.urandom(300_000)
    text = spell(base64.b64encode(data).decode())
    request = soap.parse_request(SEND.format(text=text).encode())

    assert request.stream_data is None
    assert _stdin(request) == data


def test_the_codec_gives_the_stdlib_bytes() -> None:
    for size in (0, 1, 2, 3, 1000, 370_001):
        data = os.urandom(size)
        assert b64.encode(data) == base64.b64encode(data)
        assert b64.decode(base64.b64encode(data)) == data == b64.decode_strict(base64.b64encode(data))
    assert b64.decode(b"QU JD\r\n") == base64.b64decode(b"QU JD\r\n") == b"ABC"  # lenient, as the stdlib
    with pytest.raises(ValueError):
        b64.decode_strict(b"QU JD")
