"""`connection: sim`: a simulated Windows host, answered in-process by the simulation package.

Nothing travels over a network: `call` hands the batch to the simulated host, which keeps its
state under `<state_dir>/sim/`. The simulation is not part of the engine: it is found by import
path (`SIMULATOR`, the `simulation` package by default) when the first simulated host opens, so
the engine imports and runs without it; a `connection: sim` host then fails with a UserError
saying what is missing. Host settings (`sim:` in the inventory):
`initial` (the host's first state, e.g. `{preset: sagecrm}`), `faults` (rules seeding a new
host) and `latency` (seconds added to every round trip, to rehearse slow links). A fault with
`kind: connection` surfaces here as ConnectionFailed, like a dropped WinRM link.
"""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any

from engine.connect.base import Connection, unknown_settings
from engine.core.errors import ConnectionFailed, TaskTimeout, UserError, key_location
from engine.core.model import Host

SIM_SETTINGS = ("initial", "faults", "latency", "state_dir")
#: `module:class` of the simulated host: `cls.open(state_dir, name, initial=, faults=)` returns an
#: object with `call(calls, timeout=, cancel=, progress=)`. Change it to plug in another simulation.
SIMULATOR = "simulation.host:SimHost"


def simulator(host: Host | None = None) -> Any:
    """The simulated host class named by SIMULATOR; UserError when its package is not installed."""
    module_name, _, class_name = SIMULATOR.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise
        who = f"host {host.name}: " if host is not None else ""
        raise UserError(
            f"{who}`connection: sim` needs the simulation ({module_name}), which is not installed",
            host.location if host is not None else None,
            hint="install cutover with its `simulation` package (`pip install -e .` in the "
            "repository), or give the host a real connection (winrm, ssh)",
        ) from None
    found = getattr(module, class_name, None)
    if found is None:
        raise UserError(f"`connection: sim`: {module_name} has no {class_name} (SIMULATOR = {SIMULATOR!r})")
    return found


class SimConnection(Connection):
    """A connection to a simulated host; labelled a simulation wherever results appear."""

    platform = "windows"
    simulated = True

    @classmethod
    def check_available(cls, host: Host) -> None:
        simulator(host)

    def __init__(self, host: Host, state_dir: str = ".cutover"):
        super().__init__(host)
        self.label = f"{host.name} (simulation)"
        self.state_dir = state_dir
        self.sim: Any = None
        self.latency = 0.0
        self._cancel = threading.Event()

    def _settings(self) -> dict[str, Any]:
        settings = self.read_settings(self.host)
        self.latency = float(settings.get("latency", 0) or 0)
        return settings

    @staticmethod
    def read_settings(host: Host) -> dict[str, Any]:
        """The host's `sim` settings, checked; each mistake points at its own key."""
        settings = host.settings.get("sim") or {}
        if not isinstance(settings, dict):
            raise UserError(f"host {host.name}: `sim` settings must be a mapping", host.location)
        unknown = unknown_settings(host, "sim", settings, SIM_SETTINGS)
        if unknown:
            raise UserError.many(unknown)
        latency = settings.get("latency", 0) or 0
        if not isinstance(latency, int | float) or isinstance(latency, bool) or latency < 0:
            raise UserError(
                f"host {host.name}: sim latency must be seconds >= 0",
                key_location(settings, "latency", host.location),
            )
        return settings

    @classmethod
    def check_settings(cls, host: Host) -> None:
        settings = cls.read_settings(host)
        try:
            # `initial` as written (its keys know their lines); the roles `open` adds change no key
            simulator(host).check(host.name, settings.get("initial"), settings.get("faults"))
        except UserError as exc:
            raise _located(exc, key_location(settings, "initial", host.location)) from None

    def open(self) -> None:
        """Load (or create) the simulated host; the preset's roles default to the host's roles."""
        sim_host = simulator(self.host)
        settings = self._settings()
        initial = settings.get("initial")
        if isinstance(initial, dict) and initial.get("preset") and "roles" not in initial and self.host.roles:
            initial = {**initial, "roles": list(self.host.roles)}
        try:
            self.sim = sim_host.open(
                settings.get("state_dir", self.state_dir),
                self.host.name,
                initial=initial,
                faults=settings.get("faults"),
            )
        except UserError as exc:
            raise _located(exc, self.host.location) from None
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot open the simulated host's state: {exc}", host=self.host.name
            ) from exc
        self._cancel.clear()

    def call(self, calls: list[dict[str, Any]], timeout: float | None = None) -> list[dict[str, Any]]:
        if self.sim is None:
            raise ConnectionFailed("simulated host is not open", host=self.host.name)
        start = time.monotonic()
        if self.latency:
            if self._cancel.wait(min(self.latency, timeout) if timeout is not None else self.latency):
                raise TaskTimeout("interrupted (simulation)", host=self.host.name, kind="timeout")
            if timeout is not None and self.latency > timeout:
                raise TaskTimeout(
                    f"no answer within {timeout}s (simulation)", host=self.host.name, kind="timeout"
                )
        remaining = None if timeout is None else max(timeout - (time.monotonic() - start), 0.0)
        try:
            return self.sim.call(calls, timeout=remaining, cancel=self._cancel, progress=self.on_progress)
        except TaskTimeout as exc:
            raise TaskTimeout(str(exc), host=self.host.name, kind="timeout") from None
        finally:
            self._cancel.clear()

    def interrupt(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.sim = None


def _located(exc: UserError, where: Any) -> UserError:
    """The simulation's error at `where` when it says no place of its own."""
    first = exc.problems[0]
    if first.location is not None or where is None:
        return exc
    return UserError(first.message, where, first.hint)
