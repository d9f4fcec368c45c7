"""A host below Windows PowerShell 5.1 / .NET Framework 4.5.2 is refused with one clear line.

Through real pywinrm against the WinRM test endpoint: the endpoint's helper answers the
bootstrap's version check the way the bootstrap does on Windows (tests/support/winrm_shells.py,
`HostRuntime`): the primitives are not loaded and each batch gets one `@@CUTOVER-REFUSED@@` frame
with what was found; the connection turns it into ConnectionFailed naming the version found and
the minimum. The versions are those Microsoft documents: Windows Server 2012 R2 ships Windows
PowerShell 4.0 and .NET Framework 4.5.1 (Release 378675 "on Windows 8.1 and Windows Server 2012
R2", https://learn.microsoft.com/dotnet/framework/install/how-to-determine-which-versions-are-installed);
WMF 5.1 needs .NET Framework 4.5.2, release 379893
(https://learn.microsoft.com/powershell/scripting/windows-powershell/wmf/setup/install-configure).
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.api.primitives import Remote
from engine.connect.winrm import WinRMConnection
from engine.core.errors import ConnectionFailed
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture
from tests.support.winrm_shells import HostRuntime

AUTHS = pytest.mark.parametrize("auth", ["basic", "ntlm"])
#: Windows Server 2012 R2 as installed: Windows PowerShell 4.0, .NET Framework 4.5.1.
SERVER_2012_R2 = HostRuntime(powershell="4.0", dotnet_release=378675)


class Recorder:
    """A dispatcher that records every batch it is asked to answer."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, host: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(calls)
        return [{"ok": True, "value": {"os": "windows", "hostname": host}} for _ in calls]


def refused(endpoint, **options: Any) -> ConnectionFailed:
    conn = WinRMConnection(endpoint.host(), **options)
    conn.open()
    try:
        with pytest.raises(ConnectionFailed) as caught:
            Remote(conn).call("host.facts")
    finally:
        conn.close()
    return caught.value


@AUTHS
def test_powershell_4_on_2012_r2_is_refused_naming_what_was_found_and_what_is_needed(
    auth: str, winrm_endpoint
) -> None:
    recorder = Recorder()
    endpoint = winrm_endpoint("crm-app1", auth=auth, runtime=SERVER_2012_R2, dispatch=recorder)

    error = refused(endpoint)

    message = str(error)
    assert message.startswith("crm-app1: this host cannot run the cutover helper: ")
    assert "it runs Windows PowerShell 4.0; cutover needs Windows PowerShell 5.1 or later" in message
    assert "install Windows Management Framework 5.1" in message
    assert "it has .NET Framework 4.5.1 (release 378675)" in message
    assert "\n" not in message
    assert recorder.batches == [], "no primitive may run on a refused host"
    assert endpoint.stats["command"] == 1 and endpoint.stats["terminate"] == 1, "one helper, then stopped"


def test_an_old_dotnet_alone_is_refused_and_the_powershell_is_not_blamed(winrm_endpoint) -> None:
    endpoint = winrm_endpoint(
        "crm-app1", auth="basic", runtime=HostRuntime("5.1.14393.0", 378675), dispatch=Recorder()
    )

    message = str(refused(endpoint))

    assert "it has .NET Framework 4.5.1 (release 378675); Windows PowerShell 5.1 needs .NET Framework 4.5.2" in message
    assert "it runs Windows PowerShell" not in message


def test_the_one_shot_fallback_is_refused_the_same_way(winrm_endpoint) -> None:
    recorder = Recorder()
    endpoint = winrm_endpoint("crm-app1", auth="basic", runtime=SERVER_2012_R2, dispatch=recorder)

    message = str(refused(endpoint, persistent=False))

    assert "Windows PowerShell 4.0" in message and "5.1 or later" in message
    assert recorder.batches == []


def test_a_host_at_exactly_the_minimums_is_served(winrm_endpoint) -> None:
    recorder = Recorder()
    endpoint = winrm_endpoint(
        "crm-app1", auth="basic", runtime=HostRuntime("5.1.14393.0", 379893), dispatch=recorder
    )
    conn = WinRMConnection(endpoint.host())
    conn.open()
    try:
        facts = Remote(conn).call("host.facts")
    finally:
        conn.close()

    assert facts["hostname"] == "crm-app1"
    assert recorder.batches == [[{"op": "host.facts", "args": {}}]]
