"""WinRMConnection against the WinRM test endpoint: real pywinrm on the wire, Basic and NTLM+sealing.

The endpoint answers batches from the simulated host (simulation.host), so what a test reads
back went through the connection, pywinrm, HTTP, (NTLM sealing,) the endpoint's stdin/stdout
model and the sim, and back.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from winrm.exceptions import WSManFaultError
from winrm.protocol import Protocol

import engine.connect.remote
from engine.api.primitives import Remote
from engine.connect import connection_for
from engine.connect.winrm import WinRMConnection
from engine.connect.winrm_errors import FAULT_ENVELOPE_TOO_LARGE
from engine.connect.winrm_settings import WinRMSettings
from engine.core.errors import ConnectionFailed, Location, RemoteError, TaskTimeout, UserError
from engine.core.model import Host
from tests.support.winrm_endpoint import WinRMEndpoint, winrm_endpoint_fixture  # noqa: F401 - fixture

AUTHS = pytest.mark.parametrize("auth", ["basic", "ntlm"])
PRIMITIVES = Path(engine.connect.remote.__file__).with_name("powershell")
Connect = Callable[..., WinRMConnection]


@pytest.fixture(scope="module")
def script_path(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    """The real primitives script when it is installed; until then a stand-in defining the entry point."""
    if PRIMITIVES.exists():
        return None
    path = tmp_path_factory.mktemp("ps") / "primitives.ps1"
    path.write_text("function Invoke-CutoverBatch([string]$Json) { '[]' }\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def connect(script_path: str | None) -> Iterator[Connect]:
    """Factory: an opened WinRMConnection to an endpoint, closed at the end of the test."""
    opened: list[WinRMConnection] = []

    def make(endpoint: WinRMEndpoint, **options: object) -> WinRMConnection:
        host = options.pop("host", None) or endpoint.host()
        conn = WinRMConnection(host, script_path=script_path, **options)  # type: ignore[arg-type]
        opened.append(conn)
        conn.open()
        return conn

    yield make
    for conn in opened:
        conn.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- transport ---------------------------------------------------------------------------------


@AUTHS
def test_a_600_kb_payload_round_trips_byte_identical(auth: str, winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    remote = Remote(connect(endpoint))
    payload = os.urandom(600 * 1024)
    written = remote.call("file.write", path=r"C:\big.bin", content_b64=b64(payload))
    sends_after_write = endpoint.stats["send"]
    read = remote.call("file.read", path=r"C:\big.bin")

    assert written["sha256"] == hashlib.sha256(payload).hexdigest()
    assert base64.b64decode(read["content_b64"]) == payload
    assert read["size"] == len(payload) and read["truncated"] is False
    # 600 KB, base64 twice (JSON field, then the stdin line): ~1.07 MB in pieces of <= 100 KB
    assert sends_after_write >= 11
    assert endpoint.stats["create"] == 1


@AUTHS
def test_utf8_survives_both_ways(auth: str, winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    remote = Remote(connect(endpoint))
    path = r"C:\Données\café-ü-✓.txt"
    text = "Société Générale — é, ü, ✓, 日本"
    remote.call("file.mkdir", path=r"C:\Données", parents=True)
    remote.call("file.write", path=path, content_b64=b64(text.encode("utf-8")))

    listing = remote.call("file.list", path=r"C:\Données")
    read = remote.call("file.read", path=path)

    assert [entry["path"] for entry in listing["entries"]] == ["café-ü-✓.txt"]
    assert base64.b64decode(read["content_b64"]).decode("utf-8") == text


@AUTHS
def test_many_calls_reuse_one_shell_and_one_helper(auth: str, winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    remote = Remote(connect(endpoint))
    sends_at_open = endpoint.stats["send"]
    names = {remote.call("host.facts")["hostname"] for _ in range(40)}
    answers = remote.batch([("file.stat", {"path": rf"C:\nothing-{i}"}) for i in range(5)])

    (helper,) = endpoint.processes()
    (shell,) = endpoint.shells.values()

    assert len(names) == 1
    assert [a["value"]["exists"] for a in answers] == [False] * 5
    assert helper.command_line.startswith("powershell.exe -NoProfile -NonInteractive -EncodedCommand ")
    assert helper.options == {"WINRS_CONSOLEMODE_STDIN": "FALSE", "WINRS_SKIP_CMD_SHELL": "TRUE"}
    assert shell.codepage == "65001"
    assert endpoint.stats["create"] == 1
    assert endpoint.stats["command"] == 1
    assert endpoint.stats["send"] - sends_at_open == 41  # one Send per batch


@AUTHS
def test_a_dropped_shell_is_reopened_transparently(auth: str, winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    remote = Remote(connect(endpoint))
    remote.call("file.write", path=r"C:\a.txt", content_b64=b64(b"before"))

    assert endpoint.drop_shells() == 1
    read = remote.call("file.read", path=r"C:\a.txt")

    assert base64.b64decode(read["content_b64"]) == b"before"
    assert endpoint.stats["shell_not_found"] == 1
    assert endpoint.stats["create"] == 2


@AUTHS
def test_a_timeout_stops_the_helper_and_the_next_call_works(auth: str, winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = connect(endpoint)
    endpoint.sim.add_fault({"op": "service.get", "latency": 120, "mode": "once"})

    with pytest.raises(TaskTimeout) as caught:
        Remote(conn, timeout=1).call("service.get", name="W3SVC")
    facts = Remote(conn, timeout=30).call("host.facts")

    assert "no answer within 1 s" in str(caught.value) and caught.value.host == "web1"
    assert facts["simulated"] is True
    assert endpoint.stats["terminate"] == 1
    assert endpoint.stats["command"] == 2  # a new helper, in the same shell
    assert endpoint.stats["create"] == 1


def test_interrupt_stops_the_call_in_flight(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    endpoint.sim.add_fault({"op": "service.get", "latency": 120, "mode": "once"})
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            Remote(conn).call("service.get", name="W3SVC")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        conn.interrupt()
        worker.join(0.05)

    assert len(outcome) == 1 and isinstance(outcome[0], TaskTimeout)
    assert "interrupted" in str(outcome[0])
    assert endpoint.stats["terminate"] == 1
    assert Remote(conn).call("host.facts")["os"] == "windows"


@AUTHS
def test_wrong_credentials_give_a_clear_connection_failure(auth: str, winrm_endpoint, script_path) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = WinRMConnection(endpoint.host(password="not-the-password"), script_path=script_path)

    with pytest.raises(ConnectionFailed) as caught:
        conn.open()
    conn.close()

    message = str(caught.value)
    assert f"authentication failed for user cutover (transport {auth})" in message
    assert "not-the-password" not in message
    assert endpoint.stats["auth_rejected"] >= 1
    assert endpoint.stats["create"] == 0


def test_an_unreachable_port_is_a_connection_failure_with_the_reason(winrm_endpoint) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = Host(
        "db1",
        "127.0.0.1",
        "winrm",
        settings={
            "port": port,
            "user": "u",
            "password": "p",
            "winrm": {"transport": "basic", "scheme": "http"},
        },
    )

    with pytest.raises(ConnectionFailed) as caught:
        WinRMConnection(host).open()

    assert (
        str(caught.value)
        == f"db1: cannot connect to http://127.0.0.1:{port}/wsman: [Errno 111] Connection refused"
    )


def test_https_against_a_plain_http_server_fails_the_tls_check(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    host = endpoint.host(scheme="https")

    with pytest.raises(ConnectionFailed) as caught:
        WinRMConnection(host).open()

    assert f"TLS check of https://127.0.0.1:{endpoint.port}/wsman failed" in str(caught.value)


def test_environment_proxies_are_ignored(winrm_endpoint, connect, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard port: any use of it fails
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    assert Remote(connect(endpoint)).call("host.facts")["os"] == "windows"


# --- WS-Man faults -------------------------------------------------------------------------------


def test_the_endpoint_refuses_an_oversized_envelope_with_the_wsman_fault(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_envelope_size=60_000)
    protocol = Protocol(
        endpoint.url,
        transport="basic",
        username=endpoint.user,
        password=endpoint.password,
        ca_trust_path=None,
        proxy=None,
    )
    shell = protocol.open_shell()
    command = protocol.run_command(shell, "powershell.exe", ["-NoProfile"], console_mode_stdin=False)

    with pytest.raises(WSManFaultError) as caught:
        protocol.send_command_input(shell, command, b"x" * 100_000)
    protocol.close_shell(shell)

    assert caught.value.wsman_fault_code == FAULT_ENVELOPE_TOO_LARGE
    assert caught.value.fault_subcode == "w:EncodingLimit"


@AUTHS
def test_the_connection_sends_smaller_pieces_when_the_envelope_limit_is_low(
    auth: str, winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth=auth, max_envelope_size=60_000)
    remote = Remote(connect(endpoint))
    payload = os.urandom(150 * 1024)
    remote.call("file.write", path=r"C:\mid.bin", content_b64=b64(payload))

    read = remote.call("file.read", path=r"C:\mid.bin")

    assert base64.b64decode(read["content_b64"]) == payload
    assert endpoint.stats["envelope_rejected"] >= 1


def test_a_quota_fault_on_a_new_helper_opens_a_new_shell(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_commands_per_shell=1)
    conn = connect(endpoint)
    endpoint.sim.add_fault({"op": "service.get", "latency": 120, "mode": "once"})
    with pytest.raises(TaskTimeout):
        Remote(conn, timeout=1).call("service.get", name="W3SVC")

    assert Remote(conn).call("host.facts")["os"] == "windows"
    assert endpoint.stats["quota_rejected"] == 1
    assert endpoint.stats["create"] == 2


def test_a_shell_lost_during_a_batch_is_reported_not_silently_rerun(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    conn = connect(endpoint)
    endpoint.sim.add_fault({"op": "service.get", "kind": "connection", "mode": "once"})

    with pytest.raises(ConnectionFailed) as caught:
        Remote(conn).call("service.get", name="W3SVC")
    after = Remote(conn).call("host.facts")

    assert "outcome is unknown" in str(caught.value)
    assert after["os"] == "windows"
    assert endpoint.stats["create"] == 2


def test_a_helper_without_the_entry_point_says_so(winrm_endpoint, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    broken = tmp_path / "broken.ps1"
    broken.write_text("function Something-Else { }\n", encoding="utf-8")
    conn = WinRMConnection(endpoint.host(), script_path=str(broken))
    conn.open()

    with pytest.raises(RemoteError) as caught:
        conn.call([{"op": "host.facts", "args": {}}])
    conn.close()

    assert "loading the primitives failed" in str(caught.value)


# --- modes, estates ----------------------------------------------------------------------------


@AUTHS
def test_the_fallback_starts_one_helper_per_batch(auth: str, winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    remote = Remote(connect(endpoint, persistent=False))
    remote.call("file.write", path=r"C:\x.txt", content_b64=b64("ü".encode()))
    read = remote.call("file.read", path=r"C:\x.txt")

    assert base64.b64decode(read["content_b64"]).decode() == "ü"
    assert endpoint.stats["command"] == 2
    assert endpoint.stats["create"] == 1
    assert endpoint.processes() == []  # each helper released with Signal terminate


def test_a_three_server_estate_with_one_ntlm_user_each(winrm_endpoint, connect) -> None:
    names = ("db1", "web1", "web2")
    endpoints = {n: winrm_endpoint(n, auth="ntlm", user=f"CRM\\svc-{n}", password=f"Pw-{n}-1") for n in names}
    conns = {n: connect(endpoints[n]) for n in names}
    seen: dict[str, str] = {}

    def work(name: str) -> None:
        remote = Remote(conns[name])
        for _ in range(10):
            seen[name] = remote.call("host.facts")["hostname"]

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stranger = endpoints["db1"].host(password="Pw-web1-1")
    stranger_settings = dict(stranger.settings, user="CRM\\svc-web1")
    with pytest.raises(ConnectionFailed, match="authentication failed for user CRM\\\\svc-web1"):
        WinRMConnection(Host("db1", "127.0.0.1", "winrm", settings=stranger_settings)).open()

    assert {n: seen[n].lower() for n in names} == {n: n for n in names}
    assert all(endpoints[n].stats["create"] == 1 for n in names)


def test_connection_for_builds_a_winrm_connection(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")

    conn = connection_for(endpoint.host())

    assert isinstance(conn, WinRMConnection) and conn.platform == "windows"


# --- settings ----------------------------------------------------------------------------------


def _host(winrm: dict | None = None, **settings: object) -> Host:
    base = {"user": "CRM\\admin", "password": "pw", "winrm": winrm or {}}
    base.update(settings)
    return Host("web1", "web1.crm.local", "winrm", settings=base, location=Location("inv.yml", 7, 5))


def test_settings_default_to_https_ntlm_and_certificate_checks() -> None:
    settings = WinRMSettings.from_host(_host())
    kwargs = settings.protocol_kwargs()

    assert settings.endpoint == "https://web1.crm.local:5986/wsman"
    assert (settings.transport, settings.message_encryption, settings.persistent) == ("ntlm", "auto", True)
    assert kwargs["server_cert_validation"] == "validate"
    assert kwargs["ca_trust_path"] is None and kwargs["proxy"] is None
    assert (kwargs["operation_timeout_sec"], kwargs["read_timeout_sec"]) == (20, 30)


def test_settings_mistakes_name_the_inventory_line_with_a_hint() -> None:
    with pytest.raises(UserError) as caught:
        WinRMSettings.from_host(_host({"transprot": "ntlm", "scheme": "htps", "read_timeout": 5}))

    text = str(caught.value)
    assert "inv.yml:7:5: host 'web1': unknown WinRM setting 'transprot'" in text
    assert "hint: did you mean 'transport'?" in text
    assert "winrm.scheme is 'htps'" in text and "did you mean 'https'?" in text
    assert "winrm.read_timeout (5) must exceed winrm.operation_timeout (20)" in text


def test_certificate_auth_needs_its_files_and_https() -> None:
    with pytest.raises(UserError) as caught:
        WinRMSettings.from_host(_host({"transport": "certificate", "scheme": "http"}))

    assert "needs winrm.cert_pem and winrm.cert_key_pem" in str(caught.value)
    assert "works only over https" in str(caught.value)


def test_http_defaults_to_port_5985_and_ipv6_gets_brackets() -> None:
    settings = WinRMSettings.from_host(_host({"scheme": "http"}, address="fe80::1"))

    assert settings.endpoint == "http://[fe80::1]:5985/wsman"


def test_the_port_may_be_written_under_winrm_and_must_agree_with_port() -> None:
    nested = WinRMSettings.from_host(_host({"scheme": "http", "port": 15985}))
    same = WinRMSettings.from_host(_host({"port": "5986"}, port=5986))
    with pytest.raises(UserError) as caught:
        WinRMSettings.from_host(_host({"port": 5986}, port=5985))

    assert nested.endpoint == "http://web1.crm.local:15985/wsman"
    assert same.endpoint == "https://web1.crm.local:5986/wsman"
    assert "inv.yml:7:5: host 'web1': port 5985 and winrm.port 5986 disagree" in str(caught.value)
