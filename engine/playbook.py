"""Playbooks: plays and tasks from YAML, with imports resolved and every mistake located.

Static imports (`import_playbook`, `import_tasks`/`include_tasks`, `vars_files`) are resolved
here, relative to the file that names them, with cycles reported. Each task must call exactly
one module, whose arguments are checked against that module's own schema (values that are
still templates are checked again after rendering, at run time).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import Location, Problem, UserError, closest
from engine.loader import LDict, LList, load_file
from engine.model import Play, Playbook, Task
from engine.module_registry import ModuleRegistry
from engine.schema import load_schema, validate
from engine.templating import is_template

TASK_KEYWORDS = frozenset(load_schema("playbook")["$defs"]["task"]["properties"])
_INCLUDE_KEYS = ("include_tasks", "import_tasks")


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


class PlaybookLoader:
    """Loads one playbook and what it imports, collecting problems across all files."""

    def __init__(self, registry: ModuleRegistry | None = None, keyring: Any = None):
        self.keyring = keyring
        self.problems: list[Problem] = []
        self.files: dict[str, str] = {}  # path -> sha256, every file read
        self.registry = registry

    # --- files -----------------------------------------------------------------------------
    def _read(self, path: Path, stack: tuple[str, ...], where: Location | None) -> Any:
        key = str(path.resolve())
        if key in stack:
            chain = " -> ".join(Path(p).name for p in (*stack[stack.index(key):], key))
            raise UserError(f"include cycle: {chain}", where)
        try:
            source = load_file(path, self.keyring)
        except UserError as err:
            if where is not None and err.problems[0].location is None:
                err.problems[0] = Problem(err.problems[0].message, where, err.problems[0].hint)
            raise
        self.files[str(path)] = source.sha256
        return source.value

    def load(self, path: str | Path) -> Playbook:
        path = Path(path)
        if self.registry is None:
            self.registry = ModuleRegistry([path.parent / "library"])
        plays = self._plays(path, (), None)
        if self.problems:
            raise UserError.many(self.problems)
        digest = hashlib.sha256("".join(f"{p}:{h}" for p, h in sorted(self.files.items())).encode()).hexdigest()
        return Playbook(path=str(path), plays=tuple(plays), content_hash=digest, files=tuple(self.files))

    def _plays(self, path: Path, stack: tuple[str, ...], where: Location | None) -> list[Play]:
        doc = self._read(path, stack, where)
        stack = (*stack, str(path.resolve()))
        if doc is None:
            self.problems.append(Problem("the playbook is empty", Location(str(path), 1, 1)))
            return []
        problems = validate(doc, load_schema("playbook"), Location(str(path), 1, 1))
        if problems:
            self.problems.extend(problems)
            return []
        plays: list[Play] = []
        for i, play_doc in enumerate(doc):
            if "import_playbook" in play_doc:
                target = path.parent / str(play_doc["import_playbook"])
                try:
                    plays.extend(self._plays(target, stack, play_doc.value_loc("import_playbook")))
                except UserError as err:
                    self.problems.extend(err.problems)
                continue
            plays.append(self._play(play_doc, path, stack, doc.item_loc(i)))
        return [_reindex(p, n) for n, p in enumerate(plays)]

    # --- plays -------------------------------------------------------------------------------
    def _play(self, doc: LDict, path: Path, stack: tuple[str, ...], loc: Location | None) -> Play:
        if "hosts" not in doc:
            self.problems.append(Problem("a play needs `hosts:`", loc, hint="e.g. hosts: all"))
        variables: dict[str, Any] = {}
        for i, vf in enumerate(doc.get("vars_files") or []):
            where = doc["vars_files"].item_loc(i)
            try:
                value = self._read(path.parent / str(vf), stack, where)
            except UserError as err:
                self.problems.extend(err.problems)
                continue
            if value is not None and not isinstance(value, dict):
                self.problems.append(Problem(f"vars file {vf} must be a mapping", where))
            else:
                variables.update(value or {})
        variables.update(doc.get("vars") or {})
        tasks = self._tasks(doc.get("tasks") or LList(), path, stack, prefix="")
        handlers = self._tasks(doc.get("handlers") or LList(), path, stack, prefix="h")
        return Play(
            index=0,
            name=str(doc.get("name") or doc.get("hosts") or ""),
            hosts=doc.get("hosts") or "",
            tasks=tuple(tasks),
            handlers=tuple(handlers),
            vars=MappingProxyType(variables),
            on_failure=str(doc.get("on_failure", "stop")),
            max_fail_percentage=doc.get("max_fail_percentage"),
            any_errors_fatal=doc.get("any_errors_fatal", False),
            serial=doc.get("serial"),
            force_handlers=doc.get("force_handlers", True),
            check_mode=doc.get("check_mode"),
            location=loc,
        )

    # --- tasks -------------------------------------------------------------------------------
    def _tasks(self, docs: LList, path: Path, stack: tuple[str, ...], prefix: str) -> list[Task]:
        out: list[Task] = []
        for i, doc in enumerate(docs):
            loc = docs.item_loc(i)
            include = next((k for k in _INCLUDE_KEYS if k in doc), None)
            if include:
                target = path.parent / str(doc[include])
                try:
                    included = self._read(target, stack, doc.value_loc(include))
                except UserError as err:
                    self.problems.extend(err.problems)
                    continue
                if included is None:
                    continue
                if not isinstance(included, LList):
                    self.problems.append(Problem(f"{target} must be a list of tasks", getattr(included, "loc", loc)))
                    continue
                schema_problems = validate(included, {"type": "array", "items": _task_schema()},
                                           Location(str(target), 1, 1))
                if schema_problems:
                    self.problems.extend(schema_problems)
                    continue
                sub = self._tasks(included, target, (*stack, str(target.resolve())), prefix=f"{prefix}{len(out)}.")
                out.extend(sub)
                continue
            task = self._task(doc, path, stack, f"{prefix}{len(out)}", loc)
            if task is not None:
                out.append(task)
        return out

    def _task(self, doc: LDict, path: Path, stack: tuple[str, ...], task_path: str, loc: Location | None) -> Task | None:
        others = [k for k in doc if k not in TASK_KEYWORDS]
        is_block = "block" in doc
        module_name: str | None = None
        if is_block:
            for key in others:
                self._unknown_key(doc, key, "a block has no module")
            for key in ("rescue", "always"):
                pass
        else:
            if "rescue" in doc or "always" in doc:
                self.problems.append(Problem("`rescue`/`always` belong to a task with `block:`", loc))
            known = [k for k in others if self.registry.exists(k)]
            unknown = [k for k in others if k not in known]
            if len(known) > 1:
                self.problems.append(Problem(f"a task calls one module, this one calls {', '.join(known)}",
                                             doc.key_loc(known[1]), hint="split it into two tasks"))
            if not known:
                if not unknown:
                    self.problems.append(Problem("task has no module to call", loc,
                                                 hint=f"e.g. `- name: ...` followed by `command: ...`; "
                                                      f"modules: {', '.join(self.registry.names()[:8])}, ..."))
                    return None
                module_name = unknown.pop(0)
                self._unknown_module(doc, module_name)
                for key in unknown:
                    self._unknown_key(doc, key, None)
                return None
            module_name = known[0]
            for key in unknown:
                self._unknown_key(doc, key, None)
        args = self._module_args(doc, module_name) if module_name else {}
        loop_control = doc.get("loop_control") or {}

        def sub(key: str) -> tuple[Task, ...]:
            return tuple(self._tasks(doc.get(key) or LList(), path, stack, prefix=f"{task_path}.{key[0]}"))

        return Task(
            path=task_path,
            name=str(doc.get("name") or ""),
            module=module_name,
            args=args,
            id=doc.get("id"),
            when=doc.get("when"),
            loop=doc.get("loop"),
            loop_var=str(loop_control.get("loop_var", "item")),
            register=doc.get("register"),
            needs=_as_tuple(doc.get("needs")),
            tags=_as_tuple(doc.get("tags")),
            timeout=doc.get("timeout"),
            retries=doc.get("retries", 0),
            delay=doc.get("delay", 1.0),
            until=doc.get("until"),
            ignore_errors=doc.get("ignore_errors", False),
            run_once=doc.get("run_once", False),
            delegate_to=doc.get("delegate_to"),
            no_log=doc.get("no_log", False),
            notify=_as_tuple(doc.get("notify")),
            check_mode=doc.get("check_mode"),
            changed_when=doc.get("changed_when"),
            failed_when=doc.get("failed_when"),
            vars=MappingProxyType(dict(doc.get("vars") or {})),
            not_before=_str_or_none(doc.get("not_before")),
            not_after=_str_or_none(doc.get("not_after")),
            deadline=_str_or_none(doc.get("deadline")),
            block=sub("block") if is_block else (),
            rescue=sub("rescue") if is_block else (),
            always=sub("always") if is_block else (),
            listen=_as_tuple(doc.get("listen")),
            estimate=doc.get("estimate"),
            location=loc,
        )

    def _unknown_key(self, doc: LDict, key: str, why: str | None) -> None:
        guess = closest(str(key), TASK_KEYWORDS) or closest(str(key), self.registry.names())
        message = f"unknown task keyword {key!r}" if why is None else f"unknown key {key!r} ({why})"
        self.problems.append(Problem(message, doc.key_loc(key), hint=f"did you mean {guess!r}?" if guess else None))

    def _unknown_module(self, doc: LDict, name: str) -> None:
        guess = closest(str(name), self.registry.names()) or closest(str(name), TASK_KEYWORDS)
        self.problems.append(
            Problem(f"unknown module {name!r}", doc.key_loc(name),
                    hint=f"did you mean {guess!r}?" if guess else "see docs/modules.md for the list of modules")
        )

    def _module_args(self, doc: LDict, name: str) -> Any:
        module = self.registry.get(name, doc.key_loc(name))
        raw = doc[name]
        loc = doc.value_loc(name)
        if raw is None:
            args: Any = LDict(loc)
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            if not module.free_form:
                self.problems.append(Problem(f"module {name!r} takes a mapping of arguments, not a single value",
                                             loc, hint=f"write `{name}:` followed by indented `key: value` lines"))
                return {}
            args = LDict(loc)
            args[module.free_form] = str(raw)
            args.value_locs[module.free_form] = loc
        elif isinstance(raw, dict):
            args = raw
        else:
            self.problems.append(Problem(f"arguments of {name!r} must be a mapping", loc))
            return {}
        if "args" in doc and isinstance(doc["args"], dict):
            merged = LDict(loc)
            for source in (doc["args"], args):
                for k, v in source.items():
                    merged[k] = v
                    merged.key_locs[k] = source.key_locs.get(k, loc) if isinstance(source, LDict) else loc
                    merged.value_locs[k] = source.value_locs.get(k, loc) if isinstance(source, LDict) else loc
            args = merged
        problems = validate(args, module.schema, loc, skip=_still_template)
        for p in problems:
            self.problems.append(Problem(f"{name}: {p.message}", p.location, p.hint))
        return args


def _still_template(value: Any) -> bool:
    return is_template(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _task_schema() -> dict[str, Any]:
    schema = load_schema("playbook")
    return {"$defs": schema["$defs"], **schema["$defs"]["task"]}


def _reindex(play: Play, index: int) -> Play:
    from dataclasses import replace

    return replace(play, index=index)


def load_playbook(path: str | Path, registry: ModuleRegistry | None = None, keyring: Any = None) -> Playbook:
    """Load a playbook file and everything it imports; UserError listing every problem."""
    return PlaybookLoader(registry, keyring).load(path)
