"""Windows' WinRM faults, through the real pywinrm client, against the project's WinRM test endpoint.

Each fault is sent with the code and text Windows sends (tests/support/winrm_soap.py), and each
test shows what the connection does with it. The sources:
- MS-WSMV, "Web Services Management Protocol Extensions for Windows Vista",
  https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/ : 2.2.4.42 WinrsType (the
  winrs defaults: IdleTimeout 180000 ms, MaxShellsPerUser 30, MaxMemoryPerShellMB 1024) and
  3.1.4.5.2.1 wsman:QuotaLimit (the f:Message of a Create past MaxShellsPerUser);
- the ERROR_WSMAN_* codes of wsman.h (Windows SDK): ERROR_WSMAN_OPERATION_TIMEDOUT 0x80338029,
  ERROR_WSMAN_INVALID_SELECTORS 0x8033805B, ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS 0x80338111,
  ERROR_WSMAN_QUOTA_MAX_SHELLS 0x803381A5;
- "Specify idle Timeout" (Windows Remote Shell policy): "the server will wait for the specified
  amount of time since the last received message from the client before terminating the open shell";
- Send to a powershell.exe that has ended: "The pipe has been ended." (ERROR_BROKEN_PIPE, as
  pywinrm's maintainer explains in https://github.com/ansible/ansible/issues/69595);
- AllowUnencrypted=false (the service default) refuses messages sent in clear over HTTP with
  HTTP 500 (https://github.com/diyan/pywinrm/issues/129).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
from winrm.exceptions import WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from engine.api.primitives import Remote
from engine.connect.winrm import POWERSHELL, WinRMConnection, bootstrap_arguments
from engine.connect.winrm_errors import FAULT_MAX_SHELLS, FAULT_OPERATION_TIMEOUT
from engine.core.errors import ConnectionFailed, RemoteError
from tests.support.winrm_client import in_background, winrm_connect_fixture  # noqa: F401 - fixture
from tests.support.winrm_endpoint import WinRMEndpoint, winrm_endpoint_fixture  # noqa: F401 - fixture


def raw_protocol(endpoint: WinRMEndpoint, **options: object) -> Protocol:
    """pywinrm's own client, as an operator's script would use it."""
    return Protocol(
        endpoint.url,
        transport=endpoint.auth,
        username=endpoint.user,
        password=endpoint.password,
        ca_trust_path=None,
        proxy=None,
        **options,  # type: ignore[arg-type]
    )


def writes_of(endpoint: WinRMEndpoint, path: str) -> int:
    return sum(1 for event in endpoint.sim.events() if event["event"] == f"write {path}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- w:TimedOut on Receive ---------------------------------------------------------------------


def test_a_receive_with_no_output_within_the_operation_timeout_is_the_timedout_fault(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    protocol = raw_protocol(endpoint, operation_timeout_sec=1, read_timeout_sec=5)
    shell = protocol.open_shell()
    command = protocol.run_command(shell, POWERSHELL, bootstrap_arguments(), console_mode_stdin=False)

    with pytest.raises(WinRMOperationTimeoutError):  # pywinrm maps code 2150858793 to this
        protocol.get_command_output_raw(shell, command)
    envelope = protocol.build_wsman_header(
        action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
        resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        shell_id=shell,
    )
    protocol.close_shell(shell)

    assert endpoint.stats["receive_timeout"] == 1
    assert envelope["env:Header"]["w:OperationTimeout"] == "PT1S"
    assert FAULT_OPERATION_TIMEOUT == 0x80338029


def test_a_batch_running_past_the_operation_timeout_is_polled_until_it_answers(
    winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    conn = connect(endpoint, operation_timeout=1, read_timeout=2)
    # the command runs twice as long as the client's HTTP read timeout: no read timeout may end it
    endpoint.sim.add_fault({"op": "host.facts", "latency": 4, "mode": "once"})

    answer = Remote(conn).call("host.facts")  # no step timeout: it may run as long as it runs

    assert answer["os"] == "windows"
    assert endpoint.stats["receive_timeout"] >= 3  # each was "still running", and polled again
    assert endpoint.stats["terminate"] == 0 and endpoint.stats["command"] == 1


# --- MaxEnvelopeSizekb -------------------------------------------------------------------------------


def test_an_envelope_limit_below_the_smallest_piece_names_the_quota_and_how_to_raise_it(
    winrm_endpoint,
) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_envelope_size=4_000)
    conn = WinRMConnection(endpoint.host())

    with pytest.raises(ConnectionFailed) as caught:
        conn.open()
    conn.close()

    message = str(caught.value)
    assert "WinRM quota MaxEnvelopeSizekb reached" in message and "fault 2150859025" in message
    assert 'winrm set winrm/config @{MaxEnvelopeSizekb="500"}' in message
    assert endpoint.stats["envelope_rejected"] >= 1


# --- MaxShellsPerUser --------------------------------------------------------------------------------


def test_a_create_past_max_shells_per_user_is_the_quotalimit_fault_of_ms_wsmv(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_shells_per_user=1)
    protocol = raw_protocol(endpoint)
    held = protocol.open_shell()

    with pytest.raises(WSManFaultError) as caught:
        raw_protocol(endpoint).open_shell()
    protocol.close_shell(held)

    fault = caught.value
    assert (fault.wsman_fault_code, fault.fault_subcode) == (FAULT_MAX_SHELLS, "w:QuotaLimit")
    assert fault.reason == (
        "The Windows Remote Shell cannot process the request. The server is already executing the maximum "
        "number of concurrent shells a user can remotely open on the same system. Retry later."
    )
    assert endpoint.stats["shell_quota_rejected"] == 1


def test_the_connection_names_max_shells_per_user_and_the_command_that_raises_it(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm", max_shells_per_user=1)
    protocol = raw_protocol(endpoint)
    held = protocol.open_shell()  # another session of the same account holds the only shell
    conn = WinRMConnection(endpoint.host())

    with pytest.raises(ConnectionFailed) as caught:
        conn.open()
    conn.close()
    protocol.close_shell(held)

    message = str(caught.value)
    assert message.startswith("web1: WinRM quota MaxShellsPerUser reached at http://127.0.0.1:")
    assert "the default is 30" in message
    assert 'winrm set winrm/config/winrs @{MaxShellsPerUser="60"}' in message
    assert endpoint.password not in message


# --- IdleTimeout ---------------------------------------------------------------------------------


def test_a_shell_left_idle_past_the_idle_timeout_is_reopened_and_the_helper_sent_again(
    winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    remote = Remote(connect(endpoint))
    remote.call("file.write", path="C:\\done.txt", content_b64=b64(b"step recorded as done"))

    endpoint.advance(endpoint.idle_timeout + 1)  # an operator at a gate for longer than the IdleTimeout
    read = remote.call("file.read", path="C:\\done.txt")

    assert base64.b64decode(read["content_b64"]) == b"step recorded as done"
    assert endpoint.stats["idle_expired"] == 1 and endpoint.stats["shell_not_found"] == 1
    assert endpoint.stats["create"] == 2 and endpoint.stats["command"] == 2  # new shell, helper sent again
    assert writes_of(endpoint, "C:\\done.txt") == 1  # the step done before is not run again


def test_a_shell_kept_busy_never_expires(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    remote = Remote(connect(endpoint))
    for _ in range(4):
        endpoint.advance(endpoint.idle_timeout - 1)
        remote.call("host.facts")

    assert endpoint.stats["idle_expired"] == 0 and endpoint.stats["create"] == 1


# --- "The pipe has been ended" -----------------------------------------------------------------------


def test_a_send_to_an_ended_powershell_is_the_pipe_has_been_ended_fault(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    protocol = raw_protocol(endpoint)
    shell = protocol.open_shell()
    command = protocol.run_command(shell, POWERSHELL, bootstrap_arguments(), console_mode_stdin=False)
    assert endpoint.end_processes() == 1

    with pytest.raises(WSManFaultError) as caught:
        protocol.send_command_input(shell, command, b"more input\n")
    protocol.close_shell(shell)

    detail = ET.fromstring(caught.value.response).find(".//{*}ProviderFault")
    assert (caught.value.wsman_fault_code, caught.value.reason.strip()) == (109, "The pipe has been ended.")
    assert detail is not None and detail.get("provider") == "Shell cmd plugin"


def test_a_helper_that_ended_between_batches_is_replaced_and_the_batch_runs_once(
    winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    remote = Remote(connect(endpoint))
    remote.call("host.facts")
    endpoint.end_processes()  # antivirus, or someone, ends powershell.exe on the server

    remote.call("file.write", path="C:\\after.txt", content_b64=b64(b"x"))
    again = remote.call("file.stat", path="C:\\after.txt")

    assert again["exists"] is True
    assert endpoint.stats["pipe_ended"] == 1
    assert endpoint.stats["command"] == 2 and endpoint.stats["create"] == 1  # a new helper, same shell
    assert writes_of(endpoint, "C:\\after.txt") == 1


def test_a_helper_that_ends_during_a_batch_is_an_unknown_outcome_and_the_next_call_works(
    winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    endpoint.sim.add_fault({"op": "service.get", "latency": 30, "mode": "once"})

    worker, caught = in_background(lambda: Remote(conn).call("service.get", name="W3SVC"))
    while worker.is_alive() and not endpoint.sim.faults()[0]["hits"]:  # until the batch runs
        worker.join(0.05)
    ended = endpoint.end_processes(exit_code=0xC0000005)  # STATUS_ACCESS_VIOLATION: it crashed
    worker.join()

    assert ended == 1

    assert len(caught) == 1 and isinstance(caught[0], RemoteError)
    assert "the PowerShell helper exited (rc 3221225477) without answering" in str(caught[0])
    assert Remote(conn).call("host.facts")["os"] == "windows"


# --- the profile ---------------------------------------------------------------------------------


def test_the_shell_loads_the_accounts_profile_for_installers(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    connect(endpoint)

    (shell,) = endpoint.shells.values()

    assert shell.options["WINRS_NOPROFILE"] == "FALSE"
    assert shell.options["WINRS_CODEPAGE"] == "65001"


# --- NTLM sealing, AllowUnencrypted ------------------------------------------------------------------


def test_every_ntlm_message_over_http_is_sealed(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    remote = Remote(connect(endpoint))
    remote.call("file.write", path="C:\\secret.txt", content_b64=b64(b"Secr3t-value"))

    assert endpoint.stats["sealed"] >= endpoint.stats["send"] + endpoint.stats["create"]
    assert endpoint.stats["unencrypted_rejected"] == 0


def test_a_message_in_clear_is_refused_as_allow_unencrypted_false_does(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    protocol = raw_protocol(endpoint, message_encryption="never")

    with pytest.raises(WinRMTransportError) as caught:
        protocol.open_shell()

    assert caught.value.code == 500
    assert endpoint.stats["unencrypted_rejected"] == 1 and endpoint.stats["create"] == 0


def test_the_connection_says_why_a_message_in_clear_was_refused(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    conn = WinRMConnection(endpoint.host(message_encryption="never"))

    with pytest.raises(ConnectionFailed) as caught:
        conn.open()
    conn.close()

    assert "the WinRM service refuses unencrypted messages (AllowUnencrypted=false, its default)" in str(
        caught.value
    )
