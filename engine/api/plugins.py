"""The one register of what plug-ins add to the engine: products and groups of modules.

Modelled on Nornir's plugin register: one entry-point group, one `Plugin` object per entry, and
a register that finds them (`auto_register`) or takes them from code (`register`, for tests and
embedders). A plug-in is a Python package that exposes one `Plugin` and names it in the
`cutover.plugins` group of its distribution's metadata:

    [project.entry-points."cutover.plugins"]
    thirdcrm = "thirdcrm:PLUGIN"

The entry's name is the plug-in's name. A **product** is a plug-in with an inventory section:
the section has the plug-in's name (`thirdcrm:` at the top of an inventory; the published
inventory schema lists it with `section_description`); when an inventory with the section loads,
the engine checks it against `section_schema` (each mistake at its file:line:col, prefixed with the
section's name) and then runs the product's `estate_rules`; its `policies` apply when a plan is
made against such an inventory, and the run variable of the same name holds the section
(`{{ thirdcrm.database }}`; None where the inventory has no such section).
A group of generic modules (`modules.flow`, `modules.windows`, ...) is a plug-in with only
`modules`. Every module a plug-in adds is a public file of one of its `modules` packages
(`thirdcrm/thirdcrm_ping.py` is the module `thirdcrm_ping`), as in the built-in groups.

Why lazy references: start-up time matters, and a run must not import a product it does not use.
The engine reads every plug-in's declaration (its package's `__init__`, which by contract holds
the declaration only) to know which sections and module names exist; rules, policies and
variable functions (and the section's schema) are written as `"package.module:name"` strings (or
given as objects) and imported when an inventory with the section loads; modules when a playbook calls them. The
entry-point scan runs once per process. During development the source tree's own
`pyproject.toml` is read for this project's entries, so a checkout works before `pip install`.

Why a cache of the scan (`remember_plugins_in`, set by the CLI with the state directory):
`importlib.metadata` and the `email` parser it pulls in cost ~16 ms of every start, more than
the scan's answer is worth when nothing was installed since the last run. The answer is kept in
`<state-dir>/plugins.json` with what it was read from: `sys.path`, the name and mtime of each
`*.dist-info`/`*.egg-info` in its folders (an install, an uninstall or a reinstall changes one;
not the folders' own mtimes: `python -m` puts the working directory on the path, and a run
writing its state directory there would make every other run scan), and the mtime and size of
this tree's `pyproject.toml`. Any difference and the
scan runs again (and rewrites the file); an unreadable file is a scan, never an error.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, reduce
from pathlib import Path
from typing import Any

from engine.core.errors import Problem, UserError

ENTRY_POINT_GROUP = "cutover.plugins"
#: this project's distribution: its entries come from the source tree when it runs from one
DISTRIBUTION = "cutover"
SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent

#: a function (or a schema) given as itself or as "package.module:name", imported on first use
Ref = str | Callable[..., Any]


def resolve(ref: Any) -> Any:
    """What a reference names (imported now, not when the plug-in was declared)."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attribute = ref.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split(".") if attribute else ():
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:  # a plug-in naming what it does not have
        raise UserError(f"cutover plug-in code {ref!r} does not load: {type(exc).__name__}: {exc}") from exc
    return found


@dataclass(frozen=True)
class Plugin:
    """What one plug-in adds. Only `name` is required; a product also sets `section_schema`."""

    name: str
    #: packages whose public `*.py` files are modules (found by file name, imported on use)
    modules: tuple[str, ...] = ()
    #: JSON Schema of the inventory section `<name>:` (or a reference to it), which the engine
    #: checks before the estate rules run; None: the plug-in has no section (a group of modules)
    section_schema: Mapping[str, Any] | str | None = None
    #: the one line the published inventory schema shows for the section
    section_description: str = ""
    #: `(Inventory) -> list[Problem]`, run when an inventory with the section loads
    estate_rules: tuple[Ref, ...] = ()
    #: `(Plan, PolicyContext) -> list[Problem]`, run when a plan is made against such an inventory
    policies: tuple[Ref, ...] = ()
    #: run variables a product adds besides `<name>` (declared, so `validate` knows them before the run)
    variables: tuple[str, ...] = ()
    #: `(Inventory) -> Mapping[str, Any]`: the values of `variables` for an inventory with the section
    variables_from: Ref | None = None
    #: `(engine.api.probe.ProbeContext) -> Mapping[str, Any]`: what `cutover probe` reports of one host
    #: of an inventory with the section (read-only: the context's Remote refuses every write)
    probes: tuple[Ref, ...] = ()
    #: `(Inventory, saved probe) -> list[Problem]`: `cutover validate --probe FILE` holds the inventory
    #: to what a probe found (install names, services on the servers the inventory says)
    probe_checks: tuple[Ref, ...] = ()
    #: `(engine.api.estate_locks.EstateLockRequest) -> HeldLock | None`: the product's own lock on the
    #: estate (Sage CRM: an application lock in its database), taken after the host markers
    estate_locks: tuple[Ref, ...] = ()
    #: `(engine.api.data_written.WrittenRequest) -> Written | None`: what was written to one of the
    #: estate's databases since its backup (read-only), for the rollback preview's data-loss estimate
    data_written: tuple[Ref, ...] = ()

    @property
    def is_product(self) -> bool:
        return self.section_schema is not None

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Every run variable a product defines: its section, then its own ones (none for module groups)."""
        return (self.name, *self.variables) if self.is_product else ()

    def section_shape(self) -> Mapping[str, Any]:
        """The section's JSON Schema (imported now when the plug-in names it by reference)."""
        schema = self.section_schema
        return resolve(schema) if isinstance(schema, str) else dict(schema or {})

    def rules(self) -> list[Callable[..., list[Problem]]]:
        return [resolve(ref) for ref in self.estate_rules]

    def host_probes(self) -> list[Callable[..., Mapping[str, Any]]]:
        return [resolve(ref) for ref in self.probes]

    def estate_lockers(self) -> list[Callable[..., Any]]:
        return [resolve(ref) for ref in self.estate_locks]

    def written_counters(self) -> list[Callable[..., Any]]:
        return [resolve(ref) for ref in self.data_written]

    def saved_probe_checks(self) -> list[Callable[..., list[Problem]]]:
        return [resolve(ref) for ref in self.probe_checks]

    def plan_policies(self) -> list[tuple[str, Callable[..., list[Problem]]]]:
        """(name shown when it refuses a plan, policy function)."""
        return [(self.name, resolve(ref)) for ref in self.policies]

    def variables_for(self, inventory: Any) -> dict[str, Any]:
        """This product's run variables for an inventory (None where the inventory has no section)."""
        if not self.is_product:
            return {}
        section = inventory.products.get(self.name)
        found: dict[str, Any] = {self.name: section, **{name: None for name in self.variables}}
        if section is not None and self.variables_from is not None:
            given = dict(resolve(self.variables_from)(inventory))
            found.update({name: given.get(name) for name in self.variables})
        return found


@dataclass
class PluginRegister:
    """Plug-ins by name, in the order they were declared; each loaded on first use and kept."""

    group: str = ENTRY_POINT_GROUP
    _declared: dict[str, Entry | Plugin] | None = None
    _loaded: dict[str, Plugin] = field(default_factory=dict)
    #: bumped on every change, so what is derived from the plug-ins (schemas) knows to rebuild
    version: int = 0

    # --- finding -----------------------------------------------------------------------------
    def auto_register(self) -> None:
        """Find the plug-ins declared in the installed metadata (and in this source tree); once."""
        if self._declared is None:
            self._declared = dict(_declared_entry_points(self.group))
            self.version += 1

    def register(self, plugin: Plugin) -> None:
        """Add a plug-in from code; it replaces a declared one of the same name."""
        self.auto_register()
        assert self._declared is not None
        self._declared[plugin.name] = plugin
        self._loaded[plugin.name] = plugin
        self.version += 1

    def deregister(self, name: str) -> None:
        self.auto_register()
        assert self._declared is not None
        self._declared.pop(name, None)
        self._loaded.pop(name, None)
        self.version += 1

    def reset(self) -> None:
        """Forget everything: the next use scans the entry points again (tests that install one)."""
        _declared_entry_points.cache_clear()
        self._declared = None
        self._loaded.clear()
        self.version += 1

    # --- using -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every plug-in's name, without loading any."""
        self.auto_register()
        assert self._declared is not None
        return list(self._declared)

    def get(self, name: str) -> Plugin:
        """The plug-in called `name`, loaded now if it was not; UserError when it does not load."""
        found = self._loaded.get(name)
        if found is not None:
            return found
        self.auto_register()
        assert self._declared is not None
        entry = self._declared.get(name)
        if entry is None:
            raise UserError(f"no cutover plug-in called {name!r}", hint=f"installed: {', '.join(self._declared)}")
        plugin = entry if isinstance(entry, Plugin) else _load(entry)
        self._loaded[name] = plugin
        return plugin

    def __iter__(self) -> Iterator[Plugin]:
        """Every plug-in, loaded (their declarations: rules, policies and modules stay unimported)."""
        return iter([self.get(name) for name in self.names()])

    def products(self) -> list[Plugin]:
        return [p for p in self if p.is_product]

    def products_of(self, inventory: Any) -> list[Plugin]:
        """The products whose section the inventory has."""
        return [self.get(name) for name in inventory.products]

    def variable_names(self) -> frozenset[str]:
        return frozenset(name for plugin in self for name in plugin.variable_names)

    def variables_for(self, inventory: Any) -> dict[str, Any]:
        """Every plug-in's run variables for an inventory."""
        found: dict[str, Any] = {}
        for plugin in self:
            found.update(plugin.variables_for(inventory))
        return found


@dataclass(frozen=True)
class Entry:
    """One declared entry point (`name = "package.module:attribute"`), as the cache keeps it:
    the same fields and `load` as `importlib.metadata.EntryPoint`, without importing it."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        module_name, _, attribute = self.value.partition(":")
        found = importlib.import_module(module_name.strip())
        return reduce(getattr, attribute.strip().split("."), found) if attribute.strip() else found


def _load(entry: Entry) -> Plugin:
    try:
        plugin = entry.load()
    except Exception as exc:  # a broken plug-in is the operator's to fix: no traceback
        raise UserError(
            f"cutover plug-in {entry.name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(plugin, Plugin) or plugin.name != entry.name:
        raise UserError(
            f"cutover plug-in {entry.name!r} ({entry.value}) is not an engine.api.plugins.Plugin "
            f"called {entry.name!r}"
        )
    return plugin


#: where the scan's answer is kept (None: nowhere, every process scans)
_CACHE_FILE: Path | None = None
_CACHE_NAME = "plugins.json"
#: (file, its JSON) written when the process ends, if the state directory exists by then
_pending_cache: dict[Path, dict[str, Any]] = {}


def remember_plugins_in(state_dir: str | Path | None) -> None:
    """Keep the entry-point scan in `state_dir` (the CLI's `--state-dir`), or nowhere (None)."""
    global _CACHE_FILE
    # absolute now: written at exit, when the working directory may be another one
    _CACHE_FILE = Path(state_dir).absolute() / _CACHE_NAME if state_dir else None


@cache
def _declared_entry_points(group: str) -> tuple[tuple[str, Entry], ...]:
    """(name, entry point) of the group, in declaration order; this source tree's entries win."""
    key = _installed_key() if _CACHE_FILE is not None else None
    cached = _read_cache(_CACHE_FILE, key, group) if key is not None else None
    if cached is not None:
        return cached
    found = _scan(group)
    if key is not None and _CACHE_FILE is not None:
        _keep(_CACHE_FILE, key, group, found)
    return found


def _scan(group: str) -> tuple[tuple[str, Entry], ...]:
    """The installed metadata's entries of the group (and this source tree's, which win)."""
    from importlib import metadata  # ~16 ms with the email parser: only when the cache misses

    own = _source_tree_entries(group)
    found: dict[str, Entry] = dict(own or {})
    for entry in metadata.entry_points(group=group):
        dist = getattr(entry, "dist", None)
        if own is not None and dist is not None and dist.metadata["Name"] == DISTRIBUTION:
            continue  # the installed copy of this project's metadata may be older than the tree
        found.setdefault(entry.name, Entry(entry.name, entry.value, group))  # on a clash the first wins
    return tuple(found.items())


def _source_tree_entries(group: str) -> dict[str, Entry] | None:
    """This project's entries from its `pyproject.toml` when the engine runs from a checkout."""
    import tomllib

    pyproject = SOURCE_ROOT / "pyproject.toml"
    if not pyproject.is_file():
        return None
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    if project.get("name") != DISTRIBUTION:
        return None
    entries = project.get("entry-points", {}).get(group, {})
    return {name: Entry(name, value, group) for name, value in entries.items()}


def _installed_key() -> list[Any]:
    """What the scan's answer depends on: the search path, its distributions' metadata folders
    and their mtimes, this tree's pyproject (see the module's docstring)."""
    folders: list[Any] = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as listing:
                metas = sorted(
                    [item.name, item.stat().st_mtime_ns]  # lists: the key is compared with its JSON
                    for item in listing
                    if item.name.endswith((".dist-info", ".egg-info"))
                )
            folders.append([entry, metas])
        except OSError:  # not a folder (a zip, a missing path): keyed by its name only
            folders.append([entry, None])
    try:
        own = os.stat(SOURCE_ROOT / "pyproject.toml")
        pyproject: list[int] | None = [own.st_mtime_ns, own.st_size]
    except OSError:
        pyproject = None
    return [sys.version, str(SOURCE_ROOT), pyproject, folders]


def _read_cache(path: Path, key: list[Any], group: str) -> tuple[tuple[str, Entry], ...] | None:
    """The kept answer for `group` if it was read from what is installed now; else None."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("key") != key:
            return None
        entries = kept["groups"][group]
        return tuple((name, Entry(name, value, group)) for name, value in entries)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _keep(path: Path, key: list[Any], group: str, found: tuple[tuple[str, Entry], ...]) -> None:
    """Kept for the next process: written at exit (a refused command may leave no state directory)."""
    if not _pending_cache:
        atexit.register(_write_cache)
    kept = _pending_cache.setdefault(path, {"key": key, "groups": {}})
    if kept["key"] != key:
        kept.update(key=key, groups={})
    kept["groups"][group] = [[name, entry.value] for name, entry in found]


def _write_cache() -> None:
    """Best effort: a state directory that cannot be written only costs the next run a scan."""
    for path, kept in list(_pending_cache.items()):
        if not path.parent.is_dir():
            continue
        try:
            scratch = path.with_name(f".{path.name}.{os.getpid()}")
            scratch.write_text(json.dumps(kept), encoding="utf-8")
            os.replace(scratch, path)
        except OSError:
            pass
    _pending_cache.clear()


#: the process's register: every stage asks this one
PLUGINS = PluginRegister()
