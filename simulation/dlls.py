"""COM registration on the simulated host: regsvr32 and which file a class resolves to."""

from __future__ import annotations

from typing import Any

from simulation.core import HostState, arg_bool, arg_str, find_key, op
from simulation.errors import SimError
from simulation.paths import parse_path


# --- COM registration ----------------------------------------------------------------------------
def regsvr32(host: HostState, path: str, unregister: bool) -> tuple[int, bool, str]:
    """What `regsvr32 /s [/u] path` does -> (exit code, changed, message)."""
    try:
        target = parse_path(path)
    except SimError:
        return 3, False, f'LoadLibrary("{path}") failed - The specified module could not be found.'
    real = host.fs.locate(target) if target.drive in host.state.get("disks", {}) else None
    if real is None or not real.is_file():
        return 3, False, f'LoadLibrary("{path}") failed - The specified module could not be found.'
    shown = str(host.fs.display(target))
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
    rc, changed, message = regsvr32(host, arg_str(args, "path"), unregister)
    if rc:
        raise SimError("not_found" if rc == 3 else "failed", f"regsvr32 exited with {rc}: {message}")
    shown = str(host.fs.display(parse_path(args["path"])))
    return {"changed": changed, "rc": rc, "registered_path": None if unregister else shown}


@op("dll.registered")
def dll_registered(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    classes = host.state.get("com", {}).get("classes", {})
    found = find_key(classes, arg_str(args, "clsid_name"))
    return {"registered": found is not None, "path": classes[found] if found else None}
