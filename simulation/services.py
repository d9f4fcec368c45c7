"""Windows services of the simulated host: install, start and stop with dependencies, a restart.

A service's `depends_on` starts first and its dependents stop first, as the service control
manager does; a restart brings every service back by its start mode.
"""

from __future__ import annotations

from typing import Any

from modules.windows.win_reboot import PENDING_KEYS, PENDING_RENAMES, SESSION_MANAGER
from simulation.core import HostState, arg_choice, arg_str, find_key, op
from simulation.errors import SimError
from simulation.registry import delete_key, find_reg_key

SERVICE_STATES = ("running", "stopped", "restarted")
START_MODES = ("auto", "manual", "disabled")


# --- services ----------------------------------------------------------------------------------
def find_service(state: dict[str, Any], name: str) -> str | None:
    return find_key(state.get("services", {}), name) if isinstance(name, str) else None


def _service(host: HostState, name: str) -> tuple[str, dict[str, Any]]:
    found = find_service(host.state, name)
    if found is None:
        raise SimError("not_found", f"Cannot find any service with service name '{name}'.")
    return found, host.state["services"][found]


def install_service(host: HostState, name: str, path: str, start_mode: str, display_name: str | None) -> bool:
    """Add a stopped service; False when one of that name is already installed."""
    if find_service(host.state, name) is not None:
        return False
    host.state.setdefault("services", {})[name] = {
        "display_name": display_name or name,
        "state": "stopped",
        "start_mode": start_mode,
        "path": path,
    }
    host.changed(f"service {name} installed ({path})")
    return True


def uninstall_service(host: HostState, name: str) -> bool:
    """Stop and remove a service; False when it is not installed."""
    found = find_service(host.state, name)
    if found is None:
        return False
    stop_service(host, found)
    del host.state["services"][found]
    host.changed(f"service {found} uninstalled")
    return True


def start_service(host: HostState, name: str) -> None:
    record = host.state["services"][name]
    if record["state"] == "running":
        return
    if record["start_mode"] == "disabled":
        raise SimError(
            "failed",
            f"Service '{name}' cannot be started: the service is disabled (start mode disabled).",
        )
    if record.get("hangs") == "start":
        raise SimError("timeout", _hung(name, "Running", "StartPending", None))
    for dependency in record.get("depends_on", []):
        found = find_service(host.state, dependency)
        if found is None:
            raise SimError(
                "failed", f"Service '{name}' cannot be started: dependency {dependency} is missing."
            )
        start_service(host, found)
    record["state"] = "running"
    host.changed(f"service {name} started")


def stop_service(
    host: HostState, name: str, stopped: list[str] | None = None, timeout: float | None = None
) -> list[str]:
    """Stop a service after the services that depend on it (theirs first); the names stopped, in order.

    A service whose record says `hangs: stop` never leaves StopPending: with a timeout the call
    fails as ServiceController.WaitForStatus does, kind `timeout`, naming the state it is in.
    """
    stopped = [] if stopped is None else stopped
    for other, record in host.state.get("services", {}).items():
        deps = [d.casefold() for d in record.get("depends_on", [])]
        if name.casefold() in deps and record["state"] != "stopped":
            stop_service(host, other, stopped, timeout)
    record = host.state["services"][name]
    if record["state"] != "stopped":
        if record.get("hangs") == "stop":
            raise SimError("timeout", _hung(name, "Stopped", "StopPending", timeout))
        record["state"] = "stopped"
        host.changed(f"service {name} stopped")
        stopped.append(name)
    return stopped


def _hung(name: str, wanted: str, state: str, timeout: float | None) -> str:
    waited = "" if timeout is None else f" ({timeout:g} s)"
    return f"Service '{name}' did not reach {wanted} before the step's deadline{waited} (it is {state})."


def restart(host: HostState) -> None:
    """What `shutdown /r` does: services back to their start modes, pending-restart markers gone.

    Automatic services run again (with what they depend on: "during system boot, the SCM starts
    all auto-start services and the services on which they depend", Microsoft's "Automatically
    Starting Services"), the others are stopped; the markers are those `win_reboot
    only_if_pending` reads (Session Manager carries out PendingFileRenameOperations at boot). The host then goes away for the next call
    (`restarting`: SimHost.call drops that call's connection), as a real host's WinRM stops while
    it restarts, so a caller waits for it as it would for a real one.
    """
    services: dict[str, Any] = host.state.get("services", {})
    for record in services.values():
        record["state"] = "stopped"
    for name, record in services.items():
        if record["start_mode"] == "auto":
            _boot(services, name)
    registry = host.state.get("registry", {})
    for key in PENDING_KEYS:
        if find_reg_key(registry, key) is not None:
            delete_key(host, key)
    manager = find_reg_key(registry, SESSION_MANAGER)
    renames = find_key(registry[manager], PENDING_RENAMES) if manager is not None else None
    if manager is not None and renames is not None:
        del registry[manager][renames]
    host.state["boots"] = int(host.state.get("boots", 0)) + 1
    host.state["restarting"] = True
    host.changed("restart (shutdown /r; simulation)")


def _boot(services: dict[str, Any], name: str) -> None:
    """Start a service at boot: what it depends on first; disabled ones and missing ones stay out."""
    record = services[name]
    if record["state"] == "running" or record["start_mode"] == "disabled":
        return
    for dependency in record.get("depends_on", []):
        found = find_key(services, dependency)
        if found is not None:
            _boot(services, found)
    record["state"] = "running"


@op("service.get")
def service_get(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    found = find_service(host.state, arg_str(args, "name"))
    if found is None:
        return {"exists": False, "state": "unknown", "start_mode": "unknown"}
    record = host.state["services"][found]
    return {
        "exists": True,
        "state": record["state"],
        "start_mode": record["start_mode"],
        "path": record["path"],
        "account": record.get("account", "LocalSystem"),
    }


@op("service.set")
def service_set(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    wanted = arg_choice(args, "state", SERVICE_STATES) if args.get("state") is not None else None
    mode = arg_choice(args, "start_mode", START_MODES) if args.get("start_mode") is not None else None
    timeout = args.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise SimError("invalid", f"timeout must be a number of seconds > 0, not {timeout!r}")
    name, record = _service(host, arg_str(args, "name"))
    before = {"state": record["state"], "start_mode": record["start_mode"]}
    if mode is not None and record["start_mode"] != mode:
        record["start_mode"] = mode
        host.changed(f"service {name} start mode {mode}")
    stopped: list[str] = []
    if wanted in ("stopped", "restarted"):
        stop_service(host, name, stopped, timeout)
    if wanted in ("running", "restarted"):
        start_service(host, name)
    dependents = [s for s in stopped if s != name]
    if wanted == "restarted":
        for dependent in reversed(dependents):  # what depends on the service starts after it
            start_service(host, dependent)
        host.changed(f"service {name} restarted")
    after = {"state": record["state"], "start_mode": record["start_mode"]}
    return {
        "changed": after != before or wanted == "restarted",
        "before": before,
        "after": after,
        "dependents_stopped": dependents,
    }
