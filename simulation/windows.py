"""The Windows of a simulated host: its version and architecture (the `windows` section of
`initial`, as `host.facts` reports them), its disks, its ports, and how it finds the other
simulated hosts of the same state folder. Services, IIS and COM registration are in
simulation/services.py, simulation/iis.py and simulation/dlls.py.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from simulation.core import HostState, op
from simulation.errors import SimError
from simulation.paths import parse_path
from simulation.services import find_service

#: The Windows a simulated host runs (`initial: {windows: {...}}`), as `host.facts` reports it. The
#: default is a Windows Server 2019 Standard: 64-bit, Windows PowerShell 5.1.17763, .NET Framework
#: 4.7.2 (Release 461814, Microsoft's value for every Windows but the April 2018 Update).
WINDOWS_DEFAULTS: dict[str, Any] = {
    "architecture": "x64",
    "caption": "Microsoft Windows Server 2019 Standard",
    "version": "10.0.17763",
    "powershell": "5.1.17763.1",
    "dotnet_release": 461814,
    #: LongPathsEnabled with a long-path-aware host process: paths of 260+ characters open
    #: (simulation/paths.py check_length); off, as for Windows PowerShell 5.1 on a real server
    "long_paths": False,
    #: the system's OEM code page (437 US; 850 French, German): what a console program writes in
    "oem_codepage": 437,
    #: winrm/config/winrs settings that differ from WINRS_DEFAULTS (`winrm get winrm/config/winrs`)
    "winrs": {},
}
#: winrm/config/winrs as MS-WSMV 2.2.4.42 WinrsType gives its defaults
#: (https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/7ffb4acd-cf01-4fbe-9e48-7746f5001957).
WINRS_DEFAULTS: dict[str, Any] = {
    "AllowRemoteShellAccess": True,
    "IdleTimeout": 180000,
    "MaxConcurrentUsers": 10,
    "MaxShellRunTime": 28800000,
    "MaxProcessesPerShell": 25,
    "MaxMemoryPerShellMB": 1024,
    "MaxShellsPerUser": 30,
}
ARCHITECTURES = ("x64", "x86")
_LOCAL = ("localhost", "127.0.0.1", "::1", "[::1]")


def windows_section(raw: Any) -> dict[str, Any]:
    """The `windows` section of a host's `initial`, checked, with the defaults filled in."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SimError("invalid", f"`windows` must be a mapping, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(WINDOWS_DEFAULTS))
    if unknown:
        raise SimError("invalid", f"`windows` takes {', '.join(WINDOWS_DEFAULTS)}, not {', '.join(unknown)}")
    section = {**WINDOWS_DEFAULTS, **raw}
    if section["architecture"] not in ARCHITECTURES:
        raise SimError("invalid", f"windows.architecture must be x64 or x86, not {section['architecture']!r}")
    if not isinstance(section["dotnet_release"], int) or isinstance(section["dotnet_release"], bool):
        raise SimError("invalid", "windows.dotnet_release must be a whole number (the NDP\\v4\\Full Release)")
    if not isinstance(section["long_paths"], bool):
        raise SimError("invalid", "windows.long_paths must be true or false")
    if not isinstance(section["oem_codepage"], int) or not _known_codepage(section["oem_codepage"]):
        raise SimError(
            "invalid",
            f"windows.oem_codepage must be a code page number (850, 437), not {section['oem_codepage']!r}",
        )
    winrs = section["winrs"]
    if not isinstance(winrs, dict) or set(winrs) - set(WINRS_DEFAULTS):
        raise SimError("invalid", f"windows.winrs takes {', '.join(WINRS_DEFAULTS)}")
    for key in ("caption", "version", "powershell"):
        section[key] = str(section[key])
    return section


def _known_codepage(page: int) -> bool:
    try:
        codecs.lookup(f"cp{page}")
    except LookupError:
        return False
    return True


# --- host, disks, network -----------------------------------------------------------------------
@op("host.facts")
def host_facts(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    windows = {**WINDOWS_DEFAULTS, **host.state.get("windows", {})}
    return {
        "os": "windows",
        "hostname": host.state.get("hostname", host.name.upper()),
        "user": host.state.get("user", "Administrator"),
        "simulated": True,
        "os_name": windows["caption"],
        "os_version": windows["version"],
        "architecture": windows["architecture"],
        "powershell": windows["powershell"],
        "dotnet_release": windows["dotnet_release"],
    }


@op("disk.free")
def disk_free(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path = parse_path(args.get("path"))
    host.require_drive(path)
    return host.disk_usage(path.drive)


def local_names(host: HostState) -> set[str]:
    return {*_LOCAL, host.name.casefold(), str(host.state.get("hostname", "")).casefold()}


def port_open(state: dict[str, Any], port: int) -> bool:
    holder = state.get("ports", {}).get(str(port))
    if holder is True:
        return True
    found = find_service(state, holder) if isinstance(holder, str) else None
    return bool(found) and state["services"][found]["state"] == "running"


def other_host_state(host: HostState, address: str) -> dict[str, Any] | None:
    """Another simulated host of the same state folder, read without its lock (saves are atomic)."""
    for candidate in sorted(host.state_file.parent.glob("*.json")):
        if candidate == host.state_file:
            continue
        try:
            state = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        names = {candidate.stem.casefold(), str(state.get("hostname", "")).casefold()}
        if address.casefold() in names:
            return state
    return None


@op("net.port")
def net_port(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    port = args.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise SimError("invalid", f"port must be a number from 1 to 65535, not {port!r}")
    address = str(args.get("address") or "localhost")
    if address.casefold() in local_names(host):
        return {"open": port_open(host.state, port)}
    other = other_host_state(host, address)
    return {"open": other is not None and port_open(other, port)}
