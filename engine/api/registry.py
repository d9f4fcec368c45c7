"""Finding modules: the plug-ins' module packages and operators' `library/` folders.

A module is found by file name (`modules/windows/win_service.py` is `win_service`) in the
packages the plug-ins declare (`Plugin.modules`, engine/api/plugins.py: the built-in groups and
products are plug-ins like any other) and imported only when a playbook uses it, so start-up
does not pay for modules a run never calls. An operator's `library/<name>.py` next to the
playbook wins over a plug-in's module of the same name.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.api.module import Module
from engine.api.plugins import PLUGINS, PluginRegister
from engine.core.errors import Location, UserError, closest


@dataclass(frozen=True)
class ModuleFile:
    """Where a module's code is: its file, and the import name of a plug-in's module (None: a library file)."""

    path: Path
    import_name: str | None = None


def plugin_module_files(plugins: PluginRegister = PLUGINS) -> dict[str, ModuleFile]:
    """Module name -> file, over every plug-in's module packages (found without importing a module)."""
    found: dict[str, ModuleFile] = {}
    owner: dict[str, str] = {}
    for plugin in plugins:
        for package in plugin.modules:
            for path in _package_files(package):
                if path.stem in found:
                    raise UserError(
                        f"module {path.stem!r} is defined twice: by plug-in {owner[path.stem]!r} "
                        f"({found[path.stem].path}) and by {plugin.name!r} ({path})",
                        hint="module names are unique across plug-ins; rename one of them",
                    )
                found[path.stem] = ModuleFile(path, f"{package}.{path.stem}")
                owner[path.stem] = plugin.name
    return found


def _package_files(package: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise UserError(f"a cutover plug-in names module package {package!r}, which is not a package")
    return [p for folder in folders for p in sorted(Path(folder).glob("*.py")) if not p.stem.startswith("_")]


class ModuleRegistry:
    """Module names -> Module instances, loaded lazily and cached."""

    def __init__(self, library_dirs: list[Path] | tuple[Path, ...] = (), plugins: PluginRegister = PLUGINS):
        self.library_dirs = [Path(d) for d in library_dirs]
        self.plugins = plugins
        self._cache: dict[str, Module] = {}
        self._names: list[str] | None = None
        self._builtin: dict[str, ModuleFile] | None = None

    def names(self) -> list[str]:
        """Every module name that can be used (for hints and docs)."""
        if self._names is None:
            found = set(self._builtins())
            for d in self.library_dirs:
                found |= {p.stem for p in d.glob("*.py") if not p.stem.startswith("_")}
            self._names = sorted(found)
        return self._names

    def exists(self, name: str) -> bool:
        return name in self._cache or self._file_of(name) is not None

    def _file_of(self, name: str) -> ModuleFile | None:
        if not name.isidentifier():
            return None
        for d in self.library_dirs:
            candidate = d / f"{name}.py"
            if candidate.is_file():
                return ModuleFile(candidate)
        return self._builtins().get(name)

    def _builtins(self) -> dict[str, ModuleFile]:
        if self._builtin is None:
            self._builtin = plugin_module_files(self.plugins)
        return self._builtin

    def get(self, name: str, location: Location | None = None) -> Module:
        """The module called `name`; a UserError naming the closest module when there is none."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        found = self._file_of(name)
        if found is None:
            hint = closest(name, self.names())
            raise UserError(
                f"unknown module {name!r}",
                location,
                hint=f"did you mean {hint!r}?" if hint else "see `docs/modules.md` for the list of modules",
            )
        module = self._load(name, found, location)
        self._cache[name] = module
        return module

    def _load(self, name: str, found: ModuleFile, location: Location | None) -> Module:
        path = found.path
        import_name = found.import_name or f"cutover_library.{name}"
        try:
            if found.import_name is not None:
                py = importlib.import_module(import_name)
            else:
                spec = importlib.util.spec_from_file_location(import_name, path)
                assert spec and spec.loader
                py = importlib.util.module_from_spec(spec)
                sys.modules[import_name] = py
                spec.loader.exec_module(py)
        except Exception as exc:  # an operator's broken module must not show a traceback
            raise UserError(
                f"module {name!r} ({path}) failed to load: {type(exc).__name__}: {exc}", location
            ) from exc
        classes = [
            obj
            for obj in vars(py).values()
            if inspect.isclass(obj) and issubclass(obj, Module) and obj is not Module
            and obj.__module__ == py.__name__
        ]
        if len(classes) != 1:
            raise UserError(
                f"module file {path} must define exactly one Module subclass (found {len(classes)})", location
            )
        instance = classes[0]()
        if not instance.name:
            instance.name = name
        return instance
