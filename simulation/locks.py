"""The `lock.*` primitives of the simulated Windows host: the estate's lock markers.

The PowerShell script (engine/connect/remote/powershell/lock.ps1) keeps a marker as a file
created with `[IO.File]::Open(path, CreateNew)`; here a marker is an entry of the host's state
(`locks`, by the path folded to lower case as Windows compares paths), so it never shows in a
`snapshot()` of the host's files and a before/after comparison of an estate is not disturbed by
the lock the run held. The answers are the script's: the drive must exist, a marker of another run
is not taken, released or beaten. Every call runs under the host's lock (simulation/host.py), so two
takes from two processes are one after the other: exactly one wins.
"""

from __future__ import annotations

from typing import Any

from simulation.core import HostState, arg_bool, arg_str, op
from simulation.errors import SimError
from simulation.paths import parse_path


def _key(host: HostState, args: dict[str, Any]) -> str:
    """The marker's key: its Windows path, checked (drive present), folded as Windows compares."""
    path = parse_path(arg_str(args, "path"))
    host.require_drive(path)
    return str(path).casefold()


def _markers(host: HostState) -> dict[str, dict[str, Any]]:
    return host.state.setdefault("locks", {})


def _run_id(args: dict[str, Any]) -> str:
    return arg_str(args, "run_id")


@op("lock.take")
def lock_take(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    key = _key(host, args)
    holder = args.get("holder")
    if not isinstance(holder, dict) or not isinstance(holder.get("run_id"), str) or not holder["run_id"]:
        raise SimError("invalid", "argument 'holder' must be an object with a run_id")
    markers = _markers(host)
    found = markers.get(key)
    if found is not None and found["holder"].get("run_id") != holder["run_id"]:
        return {"taken": False, "again": False, "holder": found["holder"], "path": found["path"]}
    markers[key] = {"path": str(args["path"]), "holder": dict(holder)}
    host.dirty = True
    return {"taken": True, "again": found is not None, "holder": dict(holder), "path": str(args["path"])}


@op("lock.beat")
def lock_beat(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    found = _markers(host).get(_key(host, args))
    if found is None or found["holder"].get("run_id") != _run_id(args):
        return {"beat": False, "holder": None if found is None else found["holder"]}
    found["holder"]["heartbeat"] = arg_str(args, "heartbeat")
    host.dirty = True
    return {"beat": True, "holder": dict(found["holder"])}


@op("lock.inspect")
def lock_inspect(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    found = _markers(host).get(_key(host, args))
    return {"exists": found is not None, "holder": None if found is None else found["holder"]}


@op("lock.release")
def lock_release(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    key = _key(host, args)
    run_id = _run_id(args)
    markers = _markers(host)
    found = markers.get(key)
    if found is None:
        return {"changed": False, "holder": None}
    if found["holder"].get("run_id") != run_id and not arg_bool(args, "force", False):
        raise SimError(
            "exists", f"{found['path']} is held by run {found['holder'].get('run_id')}, not {run_id}"
        )
    del markers[key]
    host.dirty = True
    return {"changed": True, "holder": found["holder"]}
