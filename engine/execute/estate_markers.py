"""One run per estate, wherever it is started from: a lock marker on every host of the estate.

The local `flock` (engine/execute/lock.py) serialises two runs of one state directory; it cannot
see an operator with another clone on another machine. So before the first step a run takes a
marker on each host of its inventory through the `lock.*` primitives (engine/connect/remote/spec.py:
an atomic create on the host, content the holder's JSON: run id, operator, controller, pid, start,
heartbeat). All or nothing: when one host refuses (another run's marker, or the marker cannot be
written), the markers already taken are released and the run is refused (exit 3) with the holder
named. A timer thread refreshes the heartbeat on the run's own connections (never a new one per
beat; a host busy with a long step is skipped that round, its lock left to the step); the markers
are released when the run ends, however it ends. A killed run leaves its markers: its own `resume`
takes them again (same run id), anyone else is told they look stale once the freshest heartbeat
is older than the limit, and `cutover unlock --estate -i INV` removes them, recorded.

Where the marker lives: `/var/lib/cutover/locks/<estate>.lock` on POSIX hosts,
`C:\\ProgramData\\cutover\\locks\\<estate>.lock` on Windows ones; the inventory's `estate_lock:`
(`posix_path`, `windows_path`, `stale_after`, `heartbeat` seconds) changes them per estate.
`CUTOVER_LOCK_DIR` moves the POSIX default folder (test rigs sharing one machine; an estate's
operators set `estate_lock.posix_path` in the inventory, so every clone agrees).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from engine.api.estate_locks import EstateLockRequest
from engine.api.module import utcnow
from engine.api.plugins import PLUGINS
from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect.remote.spec import check_call
from engine.core.errors import CutoverError, RefusedError
from engine.core.model import Inventory
from engine.execute.hosts import HostConnections
from engine.execute.lock import describe
from engine.report.timeline import parse_time

POSIX_DIR = "/var/lib/cutover/locks"
WINDOWS_DIR = "C:\\ProgramData\\cutover\\locks"
#: where a POSIX account that may not write POSIX_DIR keeps its marker (the helper expands `~`)
HOME_DIR = "~/.cutover/locks"
#: a holder whose freshest heartbeat is older than this (seconds) looks stale
STALE_AFTER = 900.0
#: seconds between two heartbeats
BEAT_EVERY = 30.0
#: the most a heartbeat call may take on one host (seconds)
BEAT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class MarkerSettings:
    """Where an estate's markers live and when a holder looks stale (the inventory's `estate_lock:`)."""

    estate: str
    posix_path: str | None = None
    windows_path: str | None = None
    stale_after: float = STALE_AFTER
    beat_every: float = BEAT_EVERY

    def paths_for(self, platform: str) -> tuple[str, ...]:
        """Where the marker may be on a host of this platform (`posix` or `windows`), in the order
        tried. The POSIX default has a second place: an account that may not write
        /var/lib/cutover/locks (not root, the folder not made for it) keeps its marker in its home."""
        name = (re.sub(r"[^A-Za-z0-9_.-]", "_", self.estate) or "estate") + ".lock"
        if platform == "windows":
            return (self.windows_path or f"{WINDOWS_DIR}\\{name}",)
        chosen = self.posix_path or os.environ.get("CUTOVER_LOCK_DIR")
        if chosen:
            return (chosen if self.posix_path else f"{chosen}/{name}",)
        return (f"{POSIX_DIR}/{name}", f"{HOME_DIR}/{name}")


def settings_of(inventory: Inventory) -> MarkerSettings:
    """The estate's marker settings: its inventory's `estate_lock:` (checked by the schema) or the defaults."""
    source = inventory.source if isinstance(inventory.source, Mapping) else {}
    given = source.get("estate_lock") or {}
    return MarkerSettings(
        estate=inventory.name,
        posix_path=given.get("posix_path"),
        windows_path=given.get("windows_path"),
        stale_after=float(given.get("stale_after", STALE_AFTER)),
        beat_every=float(given.get("heartbeat", BEAT_EVERY)),
    )


def age_of(holder: Mapping[str, Any], now: dt.datetime | None = None) -> float | None:
    """Seconds since the holder's last heartbeat (its start when it never beat), None when unknown."""
    then = parse_time(holder.get("heartbeat") or holder.get("since"))
    if then is None:
        return None
    return max(0.0, (now or dt.datetime.now(dt.UTC)).timestamp() - then)


def holder_text(holder: Mapping[str, Any]) -> str:
    """The holder as the operator reads it: run, operator, machine, since, last heartbeat."""
    if holder.get("unreadable"):
        return "a marker that is not cutover's JSON (unreadable)"
    return f"{describe(dict(holder))}, last heartbeat {holder.get('heartbeat') or 'never'}"


def gone_here(known_run: Callable[[str], bool]) -> Callable[[Mapping[str, Any]], bool]:
    """A holder that ran on this controller from this state directory (`known_run`: its journal has
    the run) and whose process is no longer there. Asked with the state directory's flock held, so
    no run of this directory is going on; the pid is checked too (a journal copied from elsewhere)."""

    def gone(holder: Mapping[str, Any]) -> bool:
        if holder.get("controller") != socket.gethostname() or not known_run(str(holder.get("run_id"))):
            return False
        try:
            os.kill(int(holder.get("pid") or 0), 0)
        except ProcessLookupError:
            return True
        except (OSError, ValueError, OverflowError):
            return False
        return int(holder.get("pid") or 0) <= 0

    return gone


def product_lockers(inventory: Inventory) -> list[Callable[[EstateLockRequest], Any]]:
    """The lock functions of the products whose section the inventory has (Plugin.estate_locks)."""
    return [take for plugin in PLUGINS.products_of(inventory) for take in plugin.estate_lockers()]


def unlock_command(inventory: Inventory) -> str:
    return f"cutover unlock --estate -i {inventory.path}"


@dataclass(slots=True)
class Found:
    """What one host said about the estate's marker."""

    host: str
    path: str
    holder: dict[str, Any] | None = None
    error: str | None = None


def _remote(connections: HostConnections, host: str) -> Remote:
    return Remote(connections.get(host), timeout=BEAT_TIMEOUT * 2)


def each_host(hosts: Iterable[Any], work: Callable[[Any], Any]) -> list[Any]:
    """`work(host)` for every host (or marker) at once (each waits mostly for the network), in order."""
    names = list(hosts)
    if len(names) <= 1:
        return [work(name) for name in names]
    with ThreadPoolExecutor(max_workers=min(len(names), 32), thread_name_prefix="marker") as pool:
        return list(pool.map(work, names))


def inspect_all(inventory: Inventory, connections: HostConnections, settings: MarkerSettings) -> list[Found]:
    """The marker of every host of the estate (error set for a host that could not be asked)."""

    def one(host: str) -> Found:
        try:
            remote = _remote(connections, host)
        except CutoverError as err:
            return Found(host, "", error=str(err))
        paths = settings.paths_for(remote.platform)
        problem = None
        for path in paths:
            try:
                value = remote.call("lock.inspect", path=path)
            except CutoverError as err:
                problem = problem or str(err)
                continue
            if value.get("holder") is not None:
                return Found(host, path, value["holder"])
        return Found(host, paths[0], error=problem) if problem else Found(host, paths[0])

    return each_host(sorted(inventory.hosts), one)


def stale_note(holder: Mapping[str, Any], settings: MarkerSettings, inventory: Inventory) -> str:
    """'' for a fresh holder; else why it looks stale and the command that clears it."""
    age = age_of(holder)
    if age is not None and age <= settings.stale_after:
        return ""
    how_old = "has no readable heartbeat" if age is None else f"last beat {age:.0f} s ago"
    return (
        f"; it looks stale ({how_old}, over the {settings.stale_after:.0f} s limit): if that run is gone, "
        f"clear it with: {unlock_command(inventory)}"
    )


@dataclass
class EstateMarkers:
    """The markers one run holds on the hosts of its estate, from `take()` to `release()`."""

    inventory: Inventory
    connections: HostConnections
    run_id: str
    operator: str
    #: told each thing worth saying while the run goes (the reporter's message)
    say: Callable[[str], None] = lambda text: None
    #: True for a holder known to be gone (a run of this state directory whose process ended)
    gone: Callable[[Mapping[str, Any]], bool] = lambda holder: False
    #: the estate's database targets (decrypted), for the products' own locks
    databases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the products' locks held (engine/api/estate_locks.py), released before the markers
    product_locks: list[Any] = field(default_factory=list)
    settings: MarkerSettings = field(init=False)
    #: host -> marker path, for the hosts whose marker this run holds
    held: dict[str, str] = field(default_factory=dict)
    #: what the journal should note about the markers (unreachable hosts, lost markers)
    notes: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.settings = settings_of(self.inventory)
        now = utcnow()
        self.holder = {
            "run_id": self.run_id, "operator": self.operator, "controller": socket.gethostname(),
            "pid": os.getpid(), "since": now, "heartbeat": now, "estate": self.inventory.name,
        }  # fmt: skip

    # --- take -------------------------------------------------------------------------------
    def take(self) -> None:
        """A marker on every reachable host, or none at all and RefusedError naming the holder."""
        refusals: list[str] = []
        unreachable: list[str] = []

        def one(host: str) -> None:
            try:
                remote = _remote(self.connections, host)
            except CutoverError as err:  # cannot be reached: it takes no marker, its steps fail as before
                unreachable.append(f"{host} ({err})")
                return
            try:
                path, value = self._take_on(remote, host)
            except CutoverError as err:
                refusals.append(f"on {host} the marker could not be written: {err}")
                return
            holder = value.get("holder") or {}
            if not value.get("taken") and self.gone(holder):
                value = self._take_over(remote, host, path, holder)
            if value.get("taken"):
                self.held[host] = path
                return
            holder = value.get("holder") or {}
            refusals.append(
                f"held on {host} ({path}) by {holder_text(holder)}"
                f"{stale_note(holder, self.settings, self.inventory)}"
            )

        names = sorted(self.inventory.hosts)
        # One winner when two runs start together: the first host that answers is taken alone,
        # before the others; a run refused there asks no other host. (All at once, each run
        # could take some hosts first and both be refused, naming each other.)
        while names and not self.held and not refusals:
            one(names.pop(0))
        if not refusals:
            each_host(names, one)
        if refusals:
            self.release()
            raise RefusedError(
                f"estate {self.inventory.name!r} is locked: "
                + "; ".join(sorted(refusals))
                + ". Wait for that run to finish (or stop it) and try again"
            )
        try:
            for take in product_lockers(self.inventory):
                held = take(EstateLockRequest(self.inventory, self.databases, dict(self.holder)))
                if held is not None:
                    self.product_locks.append(held)
        except BaseException:
            self.release()
            raise
        if unreachable:
            self.notes.append("estate lock: no marker on " + ", ".join(sorted(unreachable)))
        self._thread = threading.Thread(target=self._beat_loop, name="estate-heartbeat", daemon=True)
        self._thread.start()

    def _take_on(self, remote: Remote, host: str) -> tuple[str, dict[str, Any]]:
        """(path, lock.take's answer) at the first place of the host's marker that may be written."""
        paths = self.settings.paths_for(remote.platform)
        for at, path in enumerate(paths):
            try:
                value = remote.call("lock.take", path=path, holder=self.holder)
            except PrimitiveFailed as err:
                if err.kind != "denied" or at == len(paths) - 1:
                    raise
                continue
            if at:
                self.notes.append(
                    f"estate lock: on {host} the marker is {value.get('path', path)}, as {paths[0]} may not be "
                    "written by this account; runs under other accounts look there only if they may not "
                    "either: make the folder writable for every operator, or set estate_lock.posix_path"
                )
            return str(value.get("path") or path), value
        raise AssertionError("unreachable: every host kind has a marker path")

    def _take_over(self, remote: Remote, host: str, path: str, holder: Mapping[str, Any]) -> dict[str, Any]:
        """The marker of a run known to be gone, removed and taken (another run may win in between)."""
        try:
            remote.call("lock.release", path=path, run_id=str(holder.get("run_id")))
            value = remote.call("lock.take", path=path, holder=self.holder)
        except CutoverError:
            return {"taken": False, "holder": dict(holder)}
        if value.get("taken"):
            self.notes.append(
                f"estate lock: took over the marker on {host} ({path}) left by run "
                f"{holder.get('run_id')} of this state directory, whose process is gone"
            )
        return value

    # --- heartbeat --------------------------------------------------------------------------
    def _beat_loop(self) -> None:
        while not self._stop.wait(self.settings.beat_every):
            self.beat()

    def beat(self) -> None:
        """One heartbeat on every held marker whose host is free now (a busy one keeps its step)."""
        stamp = utcnow()
        for held in list(self.product_locks):
            try:
                held.beat()
            except CutoverError as err:
                self.say(f"estate lock: {held.label}: {err}")
        for host, path in list(self.held.items()):
            try:
                conn = self.connections.get(host)
            except CutoverError:
                continue
            args = {"path": path, "run_id": self.run_id, "heartbeat": stamp}
            if check_call("lock.beat", args) or not conn.lock.acquire(blocking=False):
                continue
            try:
                answer = conn.call([{"op": "lock.beat", "args": args}], timeout=BEAT_TIMEOUT)[0]
            except CutoverError:
                continue  # the step on this host will say what is wrong with the connection
            finally:
                conn.lock.release()
            value = answer.get("value") or {}
            if answer.get("ok") and not value.get("beat"):
                self.held.pop(host, None)
                lost = (
                    f"estate lock: the marker on {host} ({path}) was removed or taken by someone else"
                    f" ({holder_text(value['holder']) if value.get('holder') else 'no marker now'})"
                )
                self.notes.append(lost)
                self.say(lost)

    # --- release ----------------------------------------------------------------------------
    def release(self) -> None:
        """Stop the heartbeat and remove every marker this run holds; what could not be, noted."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        left: list[str] = []
        while self.product_locks:
            held = self.product_locks.pop()
            try:
                held.release()
            except CutoverError as err:
                left.append(f"{held.label} ({err})")

        def one(host: str) -> None:
            path = self.held[host]
            try:
                _remote(self.connections, host).call("lock.release", path=path, run_id=self.run_id)
            except CutoverError as err:
                left.append(f"{host} ({path}: {err})")

        each_host(sorted(self.held), one)
        self.held.clear()
        if left:
            text = (
                f"estate lock: marker(s) left on {', '.join(sorted(left))}; clear them with: "
                f"{unlock_command(self.inventory)}"
            )
            self.notes.append(text)
            self.say(text)
