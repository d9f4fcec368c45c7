"""winrs MaxMemoryPerShellMB, through the real pywinrm client against the project's WinRM endpoint.

Windows sends no WS-Man fault for this quota: the shell's processes run in a job whose memory is
capped, and "the remote operation is terminated when a new allocation exceeds the specified
quota" (Group Policy "Specify maximum amount of memory in MB per Shell", WindowsRemoteShell.admx,
HKLM\\Software\\Policies\\Microsoft\\Windows\\WinRM\\Service\\WinRS\\MaxMemoryPerShellMB). The
allocation fails inside the process: .NET raises System.OutOfMemoryException, a native program
gets "The paging file is too small for this operation to complete." (pywinrm's maintainer shows
both in https://github.com/ansible/ansible/issues/39327). The default is 1024 MB
(https://learn.microsoft.com/windows/win32/winrm/quotas, MS-WSMV 2.2.4.42 WinrsType).
"""

from __future__ import annotations

import base64

import pytest

from engine.api.primitives import Remote
from engine.core.errors import RemoteError
from tests.support.winrm_client import winrm_connect_fixture  # noqa: F401 - fixture
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture
from tests.support.winrm_shells import HELPER_COMMIT_MB


def test_a_helper_past_max_memory_per_shell_names_the_quota_and_the_command_that_raises_it(
    winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm", max_memory_per_shell_mb=HELPER_COMMIT_MB + 1)
    remote = Remote(connect(endpoint))
    big = base64.b64encode(b"x" * (400 << 10)).decode("ascii")  # a 400 KB file.write: > 1 MB to read

    with pytest.raises(RemoteError) as caught:
        remote.call("file.write", path="C:\\big.bin", content_b64=big)

    message = str(caught.value)
    assert message.startswith("web1: WinRM quota MaxMemoryPerShellMB reached at http://127.0.0.1:")
    assert "the PowerShell helper (rc 1) ran out of memory" in message
    assert "System.OutOfMemoryException" in message
    assert "'winrm get winrm/config/winrs' on the server, or `cutover probe`, shows it" in message
    assert "the default is 1024 MB" in message
    assert 'winrm set winrm/config/winrs @{MaxMemoryPerShellMB="4096"}' in message
    assert endpoint.password not in message
    assert remote.call("file.stat", path="C:\\big.bin")["exists"] is False  # nothing half-done


def test_after_a_helper_died_of_memory_the_next_small_batch_runs_in_a_new_helper(
    winrm_endpoint, connect
) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_memory_per_shell_mb=HELPER_COMMIT_MB + 1)
    remote = Remote(connect(endpoint))
    with pytest.raises(RemoteError):
        remote.call(
            "file.write", path="C:\\big.bin", content_b64=base64.b64encode(b"x" * (400 << 10)).decode()
        )

    remote.call("file.write", path="C:\\small.txt", content_b64=base64.b64encode(b"ok").decode())

    assert base64.b64decode(remote.call("file.read", path="C:\\small.txt")["content_b64"]) == b"ok"
    assert endpoint.stats["command"] == 2 and endpoint.stats["create"] == 1  # a new helper, same shell


def test_a_helper_within_max_memory_per_shell_is_not_stopped(winrm_endpoint, connect) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_memory_per_shell_mb=1024)
    remote = Remote(connect(endpoint))

    remote.call("file.write", path="C:\\big.bin", content_b64=base64.b64encode(b"x" * (400 << 10)).decode())

    assert remote.call("file.stat", path="C:\\big.bin")["size"] == 400 << 10


def test_an_out_of_memory_the_helper_caught_is_reported_as_the_memory_quota(winrm_endpoint, connect) -> None:
    """An allocation refused inside Invoke-CutoverBatch (a large answer's ConvertTo-Json) is caught
    by the bootstrap's try, which answers `the batch failed: <the exception>` as an error frame."""

    def dispatch(host: str, calls: list[dict]) -> list[dict]:
        raise RuntimeError(
            'Exception calling "ToString" with "0" argument(s): "Exception of type '
            "'System.OutOfMemoryException' was thrown.\""
        )

    endpoint = winrm_endpoint("web1", auth="basic", dispatch=dispatch)
    remote = Remote(connect(endpoint))

    with pytest.raises(RemoteError) as caught:
        remote.call("file.list", path="C:\\Program Files (x86)\\Sage\\CRM")

    message = str(caught.value)
    assert message.startswith("web1: WinRM quota MaxMemoryPerShellMB reached at http://127.0.0.1:")
    assert "the PowerShell helper ran out of memory (the batch failed: Exception calling" in message
    assert 'winrm set winrm/config/winrs @{MaxMemoryPerShellMB="4096"}' in message
