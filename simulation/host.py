"""A deterministic model of a Windows host that answers the primitives: the locked, persisted front door.

The sim serves the demo, the tests and rehearsals: it holds files, services, the registry, IIS,
registered COM classes, disks and runnable programs, and answers every primitive of
`engine.connect.remote.spec` that Windows hosts have, with the same answers and error kinds as
`engine/connect/remote/powershell/` on a real server. It is always labelled a simulation.

Persistence: `<state_dir>/sim/<host>.json` holds everything but file contents, which live as
real files under `<state_dir>/sim/<host>/fs/<drive>/...`. Every call runs under a cross-process
lock (fcntl) and every mutating call is saved atomically before the next one starts, so a
`resume` or `rollback` in a new process, or the WinRM test endpoint in another thread or
process, sees exactly the same host.

Determinism: no wall clock and no randomness. A logical clock advances once per mutating call
and stamps file modification times (`EPOCH + clock`).

See docs/simulation.md for the state format, presets, fault rules and program plug-ins.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from engine.connect.remote.spec import PRIMITIVES, check_call
from engine.core.errors import ConnectionFailed, TaskTimeout, UserError
from simulation import acl as sim_acl  # noqa: F401 - registers its operations
from simulation import archive as sim_archive  # noqa: F401 - registers its operations
from simulation import dlls as sim_dlls  # noqa: F401 - registers its operations
from simulation import faults as sim_faults
from simulation import files as sim_files
from simulation import iis as sim_iis
from simulation import locks as sim_locks  # noqa: F401 - registers its operations
from simulation import presets as sim_presets
from simulation import programs as sim_programs
from simulation import registry as sim_registry  # noqa: F401 - registers its operations
from simulation import services as sim_services
from simulation import windows as sim_windows  # noqa: F401 - registers its operations
from simulation.core import EPOCH, OPS, HostState, drive_root
from simulation.errors import SimError
from simulation.paths import WinPath, parse_path
from simulation.programs import register_program, unregister_program

FORMAT = 1

__all__ = ["EPOCH", "SimHost", "register_program", "unregister_program"]


class SimHost(HostState):
    """One simulated Windows host, persisted under a state folder. Use `SimHost.open`."""

    def __init__(self, state_dir: str | Path, name: str):
        super().__init__(state_dir, name)
        self._initial: dict[str, Any] | None = None
        self._seed_faults: list[dict[str, Any]] | None = None
        self._rlock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None
        self._signature: tuple[int, int, int] | None = None

    # --- opening, locking, persistence ---------------------------------------------------------
    @classmethod
    def open(
        cls,
        state_dir: str | Path,
        name: str,
        initial: dict[str, Any] | None = None,
        faults: list[dict[str, Any]] | None = None,
    ) -> SimHost:
        """The host `name`: built from `initial` and `faults` the first time, loaded afterwards.

        Faults given here seed a new host only; afterwards the persisted list is the truth, so a
        test can clear a fault and a `resume` in another process (same settings) sees it cleared.
        """
        host = cls(state_dir, name)
        host._initial = initial
        host._seed_faults = list(faults) if faults is not None else None
        with host._transaction():
            if not host.state:
                host._build(initial, faults)
            elif host.state.get("format") != FORMAT:
                raise UserError(
                    f"simulated host state {host.state_file} has format {host.state.get('format')!r}, "
                    f"this version reads {FORMAT}",
                    hint="delete the file (and its folder) to rebuild the host from its settings",
                )
            plugins = list(host.state.get("plugins", []))
        for plugin in plugins:
            sim_programs.load_plugin(plugin)
        return host

    @classmethod
    def check(cls, name: str, initial: dict[str, Any] | None, faults: list[dict[str, Any]] | None) -> None:
        """Raise the UserError `open` would raise for these settings, writing nothing.

        `cutover validate` asks it, so a typo in `initial` or a fault rule is found before a run
        builds the host (and, once the host exists, a changed `initial` is otherwise never read).
        """
        state, _files = sim_presets.build_state(name, initial)
        for rule in [*state.pop("faults", []), *(faults or [])]:
            try:
                sim_faults.normalize(rule, state["disks"])
            except UserError as exc:
                first = exc.problems[0]
                where = first.location or getattr(rule, "loc", None)  # the rule as written, when loaded
                raise UserError(first.message, where, first.hint) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the host (thread and process lock), load fresh state, save it if it changed."""
        with self._rlock:
            outermost = self._depth == 0
            if outermost:
                self._lock_fd = self._open_lock()
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                self._load()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if outermost:
                    try:
                        if self.dirty:
                            self._save()
                    finally:
                        fd, self._lock_fd = self._lock_fd, None
                        if fd is not None:
                            os.close(fd)

    def _open_lock(self) -> int:
        """The lock file, opened; its folder is made only when missing (not a `mkdir` per call)."""
        try:
            return os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)

    def _load(self) -> None:
        """Read the state file unless it is the one this object last read or saved.

        The signature (mtime, size, inode) changes whenever any process saves (`_save` replaces
        the file, so the inode is new): an unchanged signature means nobody wrote since, and the
        state in memory is the state on disk. So a call costs one `stat`, not a JSON parse.
        """
        try:
            st = os.stat(self.state_file)
        except FileNotFoundError:
            self.state, self._signature = {}, None
            return
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature != self._signature:
            try:
                with open(self.state_file, encoding="utf-8") as handle:
                    self.state = json.load(handle)
            except ValueError as exc:
                raise UserError(f"simulated host state {self.state_file} is not valid JSON: {exc}") from None
            self._signature = signature

    def _save(self) -> None:
        """Write the state atomically (temp file, fsync, rename) so a crash never leaves half of it.

        One compact `json.dumps` (the C encoder): `json.dump` with an indent encodes in Python,
        a write per token, which made a changing call cost ten times a reading one.
        """
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(self.state, ensure_ascii=False))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_file)
        st = os.stat(self.state_file)
        self._signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        self.dirty = False

    def _build(self, initial: dict[str, Any] | None, faults: list[dict[str, Any]] | None) -> None:
        """Create the host from scratch: state from the preset/initial dict, then its files."""
        state, files = sim_presets.build_state(self.name, initial)
        rules = [*state.pop("faults", []), *(faults or [])]
        state["faults"] = []
        state["fault_seq"] = 0
        state["seed"] = {"initial": initial, "faults": faults}
        state["format"] = FORMAT
        self.state = state
        shutil.rmtree(self.fs.root, ignore_errors=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        for drive in state["disks"]:
            self.drive_dir(drive).mkdir(parents=True, exist_ok=True)
        for path, entry in files:
            self._create_seed_file(path, entry)
        for folder, dirs, names in os.walk(self.fs.root):
            for name in dirs + names:
                os.utime(os.path.join(folder, name), (EPOCH, EPOCH))
        sim_presets.settle_disks(state["disks"], {d: self.fs_bytes(d) for d in state["disks"]})
        for rule in rules:
            self._append_fault(rule)
        self.dirty = True

    def _create_seed_file(self, path: WinPath, entry: dict[str, Any]) -> None:
        real = self.fs.locate(path)
        if entry.get("directory"):
            real.mkdir(parents=True, exist_ok=True)
        else:
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_bytes(entry["data"])
        os.utime(real, (EPOCH, EPOCH))
        attrs = {k: entry[k] for k in ("mode", "owner", "group") if k in entry}
        if attrs:
            self.state.setdefault("attrs", {})[str(self.fs.display(path)).casefold()] = attrs

    def reset(self) -> None:
        """Rebuild the host from its seed (the `initial` given to this `open`, else the stored one)."""
        with self._transaction():
            seed = self.state.get("seed", {})
            initial = self._initial if self._initial is not None else seed.get("initial")
            faults = self._seed_faults if self._seed_faults is not None else seed.get("faults")
            self._build(initial, faults)

    # --- the primitives ----------------------------------------------------------------------
    def call(
        self,
        calls: list[dict[str, Any]],
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        progress: Any = None,
    ) -> list[dict[str, Any]]:
        """Answer `[{"op", "args"}, ...]` in order, one answer per call (see engine.connect.remote.spec).

        `progress` receives the progress frames a call sends before the answers (a program's log
        lines, `process.run` with `progress_log`), as the helpers' frames reach a connection.

        A fault rule may delay a call (`latency`, real seconds: TaskTimeout past `timeout`), fail
        it with an error kind, or drop the connection (`kind: connection` -> ConnectionFailed;
        the calls before it in the batch have happened and are saved, as on a real host). The
        first call after a simulated restart (`shutdown /r`) finds the host gone: ConnectionFailed.
        """
        self.on_progress = progress
        try:
            return self._answer(calls, timeout, cancel)
        finally:
            self.on_progress = None

    def _answer(
        self, calls: list[dict[str, Any]], timeout: float | None, cancel: threading.Event | None
    ) -> list[dict[str, Any]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        answers: list[dict[str, Any]] = []
        for item in calls:
            op = item.get("op") if isinstance(item, dict) else None
            args = item.get("args", {}) if isinstance(item, dict) else None
            if not isinstance(op, str) or not isinstance(args, dict):
                answers.append(_error("invalid", f"a call is {{'op': name, 'args': {{...}}}}, not {item!r}"))
                continue
            with self._transaction():
                fired = sim_faults.fire(self.state.get("faults", []), op, args)
                restarting = bool(self.state.pop("restarting", False))
                self.dirty = self.dirty or bool(fired) or restarting
                if not fired and not restarting:  # the usual case: answered under the same lock
                    answers.append(self._run_op(op, args))
                    continue
            if restarting:
                raise ConnectionFailed(
                    f"{self.name} is restarting: the connection was closed (simulation)",
                    host=self.name,
                    kind="connection",
                )
            latency = sum(float(rule.get("latency") or 0) for rule in fired)
            if latency:
                _wait(latency, deadline, cancel, f"{self.name}: {op} (simulated latency)")
            failing = next((rule for rule in fired if rule.get("kind")), None)
            if failing is not None:
                message = failing.get("error") or f"injected fault on {op} (simulation)"
                if failing["kind"] == "connection":
                    message = (
                        failing.get("error") or f"connection lost during {op} (injected fault, simulation)"
                    )
                    raise ConnectionFailed(message, host=self.name, kind="connection")
                answers.append(_error(failing["kind"], message))
                continue
            with self._transaction():
                answers.append(self._run_op(op, args))
        return answers

    def _run_op(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        spec = PRIMITIVES.get(op)
        if spec is None or "windows" not in spec.platforms or op not in OPS:
            return _error("unsupported", f"{op}: not a primitive of the simulated Windows host")
        problem = check_call(op, args)
        if problem:
            return _error("invalid", problem)
        self.mutated = False
        try:
            return {"ok": True, "value": OPS[op](self, args)}
        except SimError as exc:
            return _error(exc.kind, exc.message)
        except OSError as exc:
            return _error(sim_files.os_error_kind(exc), f"{op}: {exc.strerror or exc}")
        except (ConnectionFailed, TaskTimeout):
            raise
        except Exception as exc:  # a program plug-in or a sim bug: answer, as the script would
            return _error("failed", f"{op}: simulation error: {type(exc).__name__}: {exc}")

    # --- helpers for the primitives and program plug-ins -----------------------------------------
    def path(self, path: str) -> Path:
        """The real file behind a Windows path (for plug-ins that read or write contents)."""
        return self.fs.locate(parse_path(path))

    def exists(self, path: str) -> bool:
        with self._transaction():
            return self.path(path).exists()

    def read_bytes(self, path: str) -> bytes:
        with self._transaction():
            return self.path(path).read_bytes()

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a file (parents created), with disk accounting and a simulated mtime."""
        with self._transaction():
            target = parse_path(path)
            self.require_drive(target)
            sim_files.make_dirs(self, target.parent)
            sim_files.write_file(self, target, data)

    def remove(self, path: str) -> None:
        with self._transaction():
            sim_files.remove_path(self, parse_path(path), recursive=True)

    def registry_value(self, key: str, name: str, view: str = "64") -> dict[str, Any] | None:
        """{type, data} of a registry value as the registry `view` ('64' or '32') shows it, or None."""
        with self._transaction():
            return sim_registry.get_value(self.state, sim_registry.physical_key(self.state, key, view), name)

    def set_registry_value(
        self, key: str, name: str, data: Any, type: str = "REG_SZ", view: str = "64"
    ) -> None:
        with self._transaction():
            sim_registry.set_value(self, sim_registry.physical_key(self.state, key, view), name, data, type)

    def service(self, name: str) -> dict[str, Any] | None:
        """The stored record of a service (a copy), or None when it is not installed."""
        with self._transaction():
            found = sim_services.find_service(self.state, name)
            return dict(self.state["services"][found]) if found else None

    def install_service(
        self, name: str, path: str, start_mode: str = "auto", display_name: str | None = None
    ) -> None:
        with self._transaction():
            sim_services.install_service(self, name, path, start_mode, display_name)

    def uninstall_service(self, name: str) -> None:
        with self._transaction():
            sim_services.uninstall_service(self, name)

    def set_service_state(self, name: str, state: str) -> None:
        """Set a service running/stopped without the checks of `service.set` (plug-ins)."""
        with self._transaction():
            found = sim_services.find_service(self.state, name)
            if found is None:
                raise SimError("not_found", f"service {name} does not exist")
            self.state["services"][found]["state"] = state
            self.changed(f"service {found} {state}")

    def set_rewrite_rules(self, app: str, rules: dict[str, str]) -> dict[str, str]:
        """Replace the IIS rewrite rules of `app` (an installer's doing, chapter 13); the rules before."""
        with self._transaction():
            before = sim_iis.set_rewrite_rules(self, app, rules)
            self.changed(f"iis rewrite rules of {app}")
            return before

    def set_product(self, name: str, version: str | None) -> None:
        """Record an installed product (Programs and Features); version None removes it."""
        with self._transaction():
            products = self.state.setdefault("products", {})
            if version is None:
                products.pop(name, None)
            else:
                products[name] = {"version": version}
            self.changed(f"product {name} {version}")

    # --- faults, disks and what happened ---------------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> str:
        """Add a fault rule (persisted) and return its id; see docs/simulation.md."""
        with self._transaction():
            return self._append_fault(rule)

    def _append_fault(self, rule: dict[str, Any]) -> str:
        clean = sim_faults.normalize(rule, self.state.get("disks", {}))
        self.state["fault_seq"] = int(self.state.get("fault_seq", 0)) + 1
        clean["id"] = f"f{self.state['fault_seq']}"
        self.state.setdefault("faults", []).append(clean)
        self.dirty = True
        return clean["id"]

    def clear_faults(self, fault_id: str | None = None, op: str | None = None) -> int:
        """Remove fault rules (all, one id, or those of one op); returns how many were removed."""
        with self._transaction():
            rules = self.state.get("faults", [])
            keep = [
                r
                for r in rules
                if (fault_id is not None and r["id"] != fault_id) or (op is not None and r.get("op") != op)
            ]
            removed = len(rules) - len(keep)
            self.state["faults"] = keep
            self.dirty = self.dirty or removed > 0
            return removed

    def faults(self) -> list[dict[str, Any]]:
        """The current fault rules with their `hits` counters."""
        with self._transaction():
            return json.loads(json.dumps(self.state.get("faults", [])))

    def set_disk(self, drive: str, total: int | None = None, free: int | None = None) -> None:
        """Resize a drive or set its free bytes (files already on it stay and count as used)."""
        with self._transaction():
            key = sim_presets.drive_key(drive)
            disk = self.state["disks"].setdefault(key, {"total": 0, "other_used": 0})
            if total is not None:
                disk["total"] = int(total)
            if free is not None:
                disk["other_used"] = max(int(disk["total"]) - int(free) - self.fs_bytes(key), 0)
            self.drive_dir(key).mkdir(parents=True, exist_ok=True)
            self.dirty = True

    def events(self) -> list[dict[str, Any]]:
        """The last changes made to the host, oldest first: `[{t, event}]` (not part of snapshot)."""
        with self._transaction():
            return list(self.state.get("log", []))

    # --- snapshot ---------------------------------------------------------------------------
    def snapshot(self, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """The whole observable state, with a sha256 per file, for before/after comparisons.

        Leaves out what a rollback cannot and need not restore: the clock, file times, the event
        log, fault counters and free bytes. `exclude` drops files matching Windows path globs
        (case-insensitive; a folder's glob also drops what is inside), e.g. backup folders.
        """
        patterns = [p.replace("/", "\\").casefold() for p in exclude]
        with self._transaction():
            files: dict[str, Any] = {}
            for drive in sorted(self.state.get("disks", {})):
                files.update(self._snapshot_drive(drive, patterns))
            keep = ("hostname", "services", "registry", "iis", "com", "programs", "products", "ports", "http")
            snap = {k: json.loads(json.dumps(self.state.get(k))) for k in keep}
            snap["files"] = files
            snap["attrs"] = {
                k: v for k, v in sorted(self.state.get("attrs", {}).items()) if not _excluded(k, patterns)
            }
            snap["disks"] = {d: {"total": v["total"]} for d, v in sorted(self.state["disks"].items())}
            return snap

    def _snapshot_drive(self, drive: str, patterns: list[str]) -> dict[str, Any]:
        root_path = parse_path(drive_root(drive) + "\\")
        root = self.fs.drive_dir(root_path)
        found: dict[str, Any] = {}
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(dirs) + sorted(names):
                real = Path(folder) / name
                win = str(self.fs.winpath_of(real, root_path))
                if _excluded(win.casefold(), patterns):
                    continue
                if real.is_dir():
                    found[win] = {"type": "directory"}
                else:
                    data = real.read_bytes()
                    found[win] = {
                        "type": "file",
                        "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }
        return found


def _excluded(path: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(path, p) or fnmatchcase(path, p.rstrip("\\") + "\\*") for p in patterns)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "kind": kind}


def _wait(seconds: float, deadline: float | None, cancel: threading.Event | None, what: str) -> None:
    """Sleep for injected latency; TaskTimeout when the batch deadline or a cancel comes first."""
    end = time.monotonic() + seconds
    limit = end if deadline is None else min(end, deadline)
    event = cancel or threading.Event()
    if event.wait(max(limit - time.monotonic(), 0)):
        raise TaskTimeout(f"{what}: interrupted")
    if deadline is not None and deadline < end:
        raise TaskTimeout(f"{what}: timed out")
