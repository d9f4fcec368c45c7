"""Finding modules: the built-in `modules/` package and operators' `library/` folders.

A module is found by file name (`modules/windows/win_service.py` is `win_service`) and imported only
when a playbook uses it, so start-up does not pay for modules a run never calls. An operator's
`library/<name>.py` next to the playbook wins over a built-in of the same name.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from engine.api.module import Module
from engine.core.errors import Location, UserError, closest

BUILTIN_DIR = Path(__file__).resolve().parent.parent.parent / "modules"


def _builtin_files() -> dict[str, Path]:
    """Module name -> file, over the built-in groups (`modules/<group>/<name>.py`)."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*/*.py")) if not p.stem.startswith("_")}


class ModuleRegistry:
    """Module names -> Module instances, loaded lazily and cached."""

    def __init__(self, library_dirs: list[Path] | tuple[Path, ...] = ()):
        self.library_dirs = [Path(d) for d in library_dirs]
        self._cache: dict[str, Module] = {}
        self._names: list[str] | None = None
        self._builtin: dict[str, Path] | None = None

    def names(self) -> list[str]:
        """Every module name that can be used (for hints and docs)."""
        if self._names is None:
            found = set(self._builtins())
            for d in self.library_dirs:
                found |= {p.stem for p in d.glob("*.py") if not p.stem.startswith("_")}
            self._names = sorted(found)
        return self._names

    def exists(self, name: str) -> bool:
        return name in self._cache or self._path_of(name) is not None

    def _path_of(self, name: str) -> Path | None:
        if not name.isidentifier():
            return None
        for d in self.library_dirs:
            candidate = d / f"{name}.py"
            if candidate.is_file():
                return candidate
        return self._builtins().get(name)

    def _builtins(self) -> dict[str, Path]:
        if self._builtin is None:
            self._builtin = _builtin_files()
        return self._builtin

    def get(self, name: str, location: Location | None = None) -> Module:
        """The module called `name`; a UserError naming the closest module when there is none."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        path = self._path_of(name)
        if path is None:
            hint = closest(name, self.names())
            raise UserError(
                f"unknown module {name!r}",
                location,
                hint=f"did you mean {hint!r}?" if hint else "see `docs/modules.md` for the list of modules",
            )
        module = self._load(name, path, location)
        self._cache[name] = module
        return module

    def _load(self, name: str, path: Path, location: Location | None) -> Module:
        builtin = path.parent.parent == BUILTIN_DIR
        if builtin:
            import_name = f"modules.{path.parent.name}.{name}"
        else:
            import_name = f"cutover_library.{name}"
        try:
            if builtin:
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
