"""COM registration on the simulated host: regsvr32 and which file a class resolves to."""

from __future__ import annotations

from typing import Any

from simulation.core import HostState, arg_bool, arg_str, find_key, op
from simulation.errors import SimError
from simulation.paths import parse_path

#: What regsvr32 says when LoadLibrary refuses a DLL of the other bitness (ERROR_BAD_EXE_FORMAT, 193,
#: "%1 is not a valid Win32 application"): a 64-bit process cannot load a 32-bit DLL and a 32-bit one
#: cannot load a 64-bit DLL (https://learn.microsoft.com/en-us/windows/win32/winprog64/running-32-bit-applications);
#: regsvr32's text for it, with its exit code 3 (FAIL_LOAD), is Microsoft's KB 249873 "How to use the
#: Regsvr32 tool and troubleshoot Regsvr32 error messages".
WRONG_BITNESS = (
    'The module "{path}" may not compatible with the version of Windows that you\'re running. Check if the '
    "module is compatible with an x86 (32-bit) or x64 (64-bit) version of regsvr32.exe."
)
SYSTEM32 = "C:\\Windows\\System32\\regsvr32.exe"
SYSWOW64 = "C:\\Windows\\SysWOW64\\regsvr32.exe"


def dll_machine(host: HostState, path: str) -> str:
    """The PE Machine of a simulated DLL (`com.machines`, by file name): x86 or x64; a DLL not listed
    is of the host's own architecture."""
    machines = host.state.get("com", {}).get("machines", {})
    try:
        found = find_key(machines, parse_path(path).name)
    except SimError:
        found = None
    return str(machines[found]) if found else os_architecture(host)


def os_architecture(host: HostState) -> str:
    return str(host.state.get("windows", {}).get("architecture", "x64"))


def regsvr32_for(host: HostState, machine: str) -> str:
    """The regsvr32.exe the dll.register primitive picks: SysWOW64's for an x86 DLL on 64-bit Windows."""
    return SYSWOW64 if os_architecture(host) == "x64" and machine == "x86" else SYSTEM32


# --- COM registration ----------------------------------------------------------------------------
def regsvr32(host: HostState, path: str, unregister: bool, exe: str | None = None) -> tuple[int, bool, str]:
    """What `exe /s [/u] path` does -> (exit code, changed, message); `exe` defaults to the regsvr32 of
    the DLL's bitness; the other one cannot load the DLL (exit code 3, nothing registered)."""
    try:
        target = parse_path(path)
    except SimError:
        return 3, False, f'LoadLibrary("{path}") failed - The specified module could not be found.'
    real = host.fs.locate(target) if target.drive in host.state.get("disks", {}) else None
    if real is None or not real.is_file():
        return 3, False, f'LoadLibrary("{path}") failed - The specified module could not be found.'
    shown = str(host.fs.display(target))
    machine = dll_machine(host, path)
    bitness = (
        "x86" if os_architecture(host) == "x86" or (exe or regsvr32_for(host, machine)) == SYSWOW64 else "x64"
    )
    if bitness != machine:
        return 3, False, WRONG_BITNESS.format(path=shown)
    com = host.state.setdefault("com", {"servers": {}, "classes": {}})
    server = find_key(com.get("servers", {}), target.name)
    if server is None:
        entry = "DllUnregisterServer" if unregister else "DllRegisterServer"
        return 4, False, f'The module "{shown}" was loaded but the entry-point {entry} was not found.'
    classes = com.setdefault("classes", {})
    changed = False
    for name in com["servers"][server]:
        existing = find_key(classes, name)
        if unregister and existing is not None:
            del classes[existing]
            changed = True
        elif not unregister and (existing is None or classes[existing] != shown):
            if existing is not None:
                del classes[existing]
            classes[name] = shown
            changed = True
    if changed:
        host.changed(f"regsvr32 {'/u ' if unregister else ''}{shown}")
    verb = "DllUnregisterServer" if unregister else "DllRegisterServer"
    return 0, changed, f"{verb} in {shown} succeeded."


@op("dll.register")
def dll_register(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    unregister = arg_bool(args, "unregister", False)
    path = arg_str(args, "path")
    rc, changed, message = regsvr32(host, path, unregister)
    machine = dll_machine(host, path)
    exe = regsvr32_for(host, machine)
    if rc:
        raise SimError("not_found" if rc == 3 else "failed", f"{exe} exited with {rc}: {message}")
    shown = str(host.fs.display(parse_path(path)))
    return {"changed": changed, "rc": rc, "registered_path": None if unregister else shown, "machine": machine,
            "regsvr32": exe}  # fmt: skip


@op("dll.registered")
def dll_registered(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    classes = host.state.get("com", {}).get("classes", {})
    found = find_key(classes, arg_str(args, "clsid_name"))
    return {"registered": found is not None, "path": classes[found] if found else None}
