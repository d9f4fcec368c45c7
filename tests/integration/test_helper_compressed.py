"""The helper travels compressed over SSH and as it is over a local pipe; both answer the same.

Over the real OpenSSH client against the tests' sshd: the command line the far side runs is the
compressed bootstrap, and the helper it starts says hello and answers a batch; a local helper
still reads the uncompressed payload (compressing it would only cost the controller's CPU).
"""

from __future__ import annotations

import zlib

from engine.connect.helper_channel import BOOTSTRAP, BOOTSTRAP_COMPRESSED, helper_source
from engine.connect.local import LocalConnection
from engine.connect.ssh import SSHConnection
from engine.core.model import Host
from tests.support.sshd import SSHD, sshd_server  # noqa: F401 - fixture


def _blobs(payload: bytes) -> tuple[bytes, bytes]:
    header, rest = payload.split(b"\n", 1)
    _magic, code, source = header.split()
    return rest[: int(code)], rest[int(code) : int(code) + int(source)]


def test_the_ssh_helper_is_sent_compressed_and_answers(sshd_server: SSHD) -> None:  # noqa: F811
    plain, packed = helper_source(), helper_source(True)
    assert len(packed) < len(plain) / 2
    code, source = _blobs(packed)
    assert zlib.decompress(code) == _blobs(plain)[0] and zlib.decompress(source) == _blobs(plain)[1]
    connection = SSHConnection(sshd_server.ssh_host("h1"))
    try:
        assert BOOTSTRAP_COMPRESSED in connection.command()[-1]  # quoted whole, one word of the line
        connection.open()
        answer = connection.call([{"op": "host.facts", "args": {}}])
        assert answer[0]["ok"] is True and answer[0]["value"]["os"] == "posix"
    finally:
        connection.close()


def test_a_local_helper_reads_the_payload_as_it_is() -> None:
    connection = LocalConnection(Host(name="local", address="localhost", connection="local"))
    try:
        assert connection.command()[-1] == BOOTSTRAP and "zlib" not in BOOTSTRAP
        answer = connection.call([{"op": "host.facts", "args": {}}])
        assert answer[0]["ok"] is True
    finally:
        connection.close()
