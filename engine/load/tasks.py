"""Tasks of a playbook: blocks, includes and module calls, read from YAML with every mistake located.

Each task must call exactly one module, whose arguments are checked against that module's own
schema (values that are still templates are checked again after rendering, at run time).
`include_tasks`/`import_tasks` are resolved here, relative to the file that names them.

Keywords a block (or an include carrying keywords, or a play's `check_mode`) sets are passed
down here to the tasks inside it, as Ansible does: `when` and `needs` add up (the outer ones
first), the others apply where the inner task does not set its own. The planner and executor
then only ever look at a task's own keywords. `tags` and `vars` stay on the block: the planner
and the executor read them from the enclosing blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.api.registry import ModuleRegistry
from engine.core.errors import Location, Problem, UserError, closest
from engine.core.model import Task
from engine.load.schema import kind_of, load_schema, validate
from engine.load.templating import is_template
from engine.load.yaml_marks import LDict, LList

PLAYBOOK_SCHEMA = load_schema("playbook")
TASK_KEYWORDS = frozenset(PLAYBOOK_SCHEMA["$defs"]["task"]["properties"])
_INCLUDE_KEYS = ("include_tasks", "import_tasks")
#: keywords the tasks inside a block or an include receive from it
INHERITED = (
    "when",
    "needs",
    "ignore_errors",
    "no_log",
    "delegate_to",
    "check_mode",
    "timeout",
    "run_once",
    "not_before",
    "not_after",
    "deadline",
)
_ADDED_UP = ("when", "needs")
_ANYTHING: dict[str, Any] = {}


def shape(definition: str, nested: tuple[str, ...]) -> dict[str, Any]:
    """One level of the playbook schema: nested task lists are checked task by task, later."""
    schema = {"$defs": PLAYBOOK_SCHEMA["$defs"], **PLAYBOOK_SCHEMA["$defs"][definition]}
    properties = dict(schema["properties"])
    for key in nested:
        properties[key] = {**properties[key], "items": _ANYTHING}
    schema["properties"] = properties
    return schema


TASK_SHAPE = shape("task", ("block", "rescue", "always"))
#: reads a file another one includes: (file, the files including it, where it is named) -> its YAML
Reader = Callable[[Path, tuple[str, ...], Location | None], Any]


def as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def number(value: Any, kind: type) -> Any:
    """A numeric keyword: numbers pass, numeric text becomes a number, templates stay text."""
    if isinstance(value, str) and not is_template(value):
        return kind(float(value)) if kind is int else kind(value)
    return value


@dataclass(frozen=True)
class Within:
    """Where tasks are being read: their file, the files that included it, what they inherit."""

    path: Path
    stack: tuple[str, ...]
    #: keywords the enclosing blocks, includes and play pass down (see INHERITED)
    inherited: Mapping[str, Any] = field(default_factory=dict)

    def entering(self, target: Path) -> Within:
        """Reading an included file: its includes are relative to it, and it joins the stack."""
        return Within(target, (*self.stack, str(target.resolve())), self.inherited)

    def under(self, block: Mapping[str, Any]) -> Within:
        """Reading the tasks inside a block (or a keyword-carrying include)."""
        return replace(self, inherited=_inherit(block, self.inherited))


class TaskReader:
    """Reads the task lists of one playbook, adding every problem to the loader's list."""

    def __init__(self, registry: ModuleRegistry, problems: list[Problem], read: Reader):
        self.registry = registry
        self.problems = problems
        self._read = read

    def tasks(self, docs: Any, within: Within, prefix: str) -> list[Task]:
        out: list[Task] = []
        for i, doc in enumerate(docs):
            loc = docs.item_loc(i) if isinstance(docs, LList) else None
            if not isinstance(doc, LDict):
                self.problems.append(
                    Problem(
                        f"a task must be a mapping, not {kind_of(doc)}",
                        loc,
                        hint="e.g. `- name: say hello` with `debug: {msg: hello}` below it",
                    )
                )
                continue
            problems = validate(doc, TASK_SHAPE, loc)
            self.problems.extend(problems)
            include = next((k for k in _INCLUDE_KEYS if k in doc), None)
            if include and not problems:
                out.extend(self._include(doc, include, within, f"{prefix}{len(out)}", loc))
                continue
            if include:
                continue
            # a task with a mistake is still checked (its module, its arguments) but not kept
            task = self._task(doc, within, f"{prefix}{len(out)}", loc, broken=bool(problems))
            if task is not None:
                out.append(task)
        return out

    def _include(
        self, doc: LDict, key: str, within: Within, task_path: str, loc: Location | None
    ) -> list[Task]:
        """The included file's tasks; wrapped in a block when the include carries keywords."""
        for other in doc:
            if other in _INCLUDE_KEYS and other != key:
                self.problems.append(
                    Problem("a task has one of include_tasks / import_tasks, not both", doc.key_loc(other))
                )
                return []
            if other not in TASK_KEYWORDS:
                self._unknown_key(doc, other, f"{key} takes keywords, not a module")
        target = within.path.parent / str(doc[key])
        try:
            included = self._read(target, within.stack, doc.value_loc(key))
        except UserError as err:
            self.problems.extend(err.problems)
            return []
        if included is None:
            return []
        if not isinstance(included, LList):
            self.problems.append(
                Problem(
                    f"a task file must be a list of tasks, not {kind_of(included)}",
                    getattr(included, "loc", None) or Location(str(target), 1, 1),
                    hint="start each task with '- ', e.g. `- name: stop IIS`",
                )
            )
            return []
        inner = within.entering(target)
        keywords = [k for k in doc if k not in (key, "name")]
        if not keywords:
            return self.tasks(included, inner, f"{task_path}.")
        block = LDict(doc.loc)
        for k in keywords:
            block[k] = doc[k]
            block.key_locs[k], block.value_locs[k] = doc.key_loc(k), doc.value_loc(k)
        children = self.tasks(included, inner.under(block), f"{task_path}.b")
        name = str(doc.get("name") or doc[key])
        return [
            self._make_task(
                block, task_path, loc, None, {}, within.inherited, name=name, block=tuple(children)
            )
        ]

    def _task(
        self, doc: LDict, within: Within, task_path: str, loc: Location | None, broken: bool = False
    ) -> Task | None:
        inherited = within.inherited
        others = [k for k in doc if k not in TASK_KEYWORDS]
        module_name: str | None = None
        if "block" in doc:
            for key in others:
                self._unknown_key(doc, key, "a block has no module")
            inner = replace(within, inherited={}) if broken else within.under(doc)

            def section(key: str) -> tuple[Task, ...]:
                tasks = doc.get(key)
                if not isinstance(tasks, LList):
                    return ()
                return tuple(self.tasks(tasks, inner, f"{task_path}.{key[0]}"))

            sections = {"block": section("block"), "rescue": section("rescue"), "always": section("always")}
            return None if broken else self._make_task(doc, task_path, loc, None, {}, inherited, **sections)
        for key in ("rescue", "always"):
            if key in doc:
                self.problems.append(
                    Problem(
                        f"`{key}` belongs to a task with `block:`",
                        doc.key_loc(key),
                        hint="put the tasks to protect under `block:`",
                    )
                )
        known = [k for k in others if self.registry.exists(k)]
        unknown = [k for k in others if k not in known]
        if len(known) > 1:
            self.problems.append(
                Problem(
                    f"a task calls one module, this one calls {', '.join(known)}",
                    doc.key_loc(known[1]),
                    hint="split it into two tasks",
                )
            )
        if not known:
            if not unknown:
                self.problems.append(
                    Problem(
                        "task has no module to call",
                        loc,
                        hint=f"e.g. `- name: ...` followed by `command: ...`; "
                        f"modules: {', '.join(self.registry.names()[:8])}, ...",
                    )
                )
                return None
            self._unknown_module(doc, unknown.pop(0))
            for key in unknown:
                self._unknown_key(doc, key, None)
            return None
        module_name = known[0]
        for key in unknown:
            self._unknown_key(doc, key, None)
        args = self._module_args(doc, module_name)
        return None if broken else self._make_task(doc, task_path, loc, module_name, args, inherited)

    def _make_task(
        self,
        doc: LDict,
        task_path: str,
        loc: Location | None,
        module: str | None,
        args: Any,
        inherited: Mapping[str, Any],
        name: str | None = None,
        **sections: tuple[Task, ...],
    ) -> Task:
        def kw(key: str, default: Any = None) -> Any:
            if key in _ADDED_UP and key in inherited:
                combined = as_list(inherited[key]) + as_list(doc.get(key))
                return combined[0] if key == "when" and len(combined) == 1 else combined
            if key in doc:
                return doc[key]
            return inherited.get(key, default)

        loop_control = doc.get("loop_control") or {}
        return Task(
            path=task_path,
            name=str(doc.get("name") or "") if name is None else name,
            module=module,
            args=args,
            id=doc.get("id"),
            when=kw("when"),
            loop=doc.get("loop"),
            loop_var=str(loop_control.get("loop_var", "item")),
            register=doc.get("register"),
            needs=as_tuple(kw("needs")),
            tags=as_tuple(doc.get("tags")),
            timeout=number(kw("timeout"), float),
            retries=number(doc.get("retries", 0), int),
            delay=number(doc.get("delay", 1.0), float),
            until=doc.get("until"),
            ignore_errors=kw("ignore_errors", False),
            run_once=kw("run_once", False),
            delegate_to=kw("delegate_to"),
            no_log=kw("no_log", False),
            notify=as_tuple(doc.get("notify")),
            check_mode=kw("check_mode"),
            changed_when=doc.get("changed_when"),
            failed_when=doc.get("failed_when"),
            vars=MappingProxyType(dict(doc.get("vars") or {})),
            not_before=str_or_none(kw("not_before")),
            not_after=str_or_none(kw("not_after")),
            deadline=str_or_none(kw("deadline")),
            listen=as_tuple(doc.get("listen")),
            estimate=number(doc.get("estimate"), float),
            location=loc,
            source=doc,
            **sections,
        )

    def _unknown_key(self, doc: LDict, key: str, why: str | None) -> None:
        message = f"unknown task keyword {key!r}" if why is None else f"unknown key {key!r} ({why})"
        if why is not None and self.registry.exists(str(key)):
            where = "a task under `block:`" if "block" in why else "a task of its own"
            hint = f"a module is called by a task: move `{key}:` into {where}"
        else:
            guess = closest(str(key), TASK_KEYWORDS) or closest(str(key), self.registry.names())
            hint = f"did you mean {guess!r}?" if guess else None
        self.problems.append(Problem(message, doc.key_loc(key), hint=hint))

    def _unknown_module(self, doc: LDict, name: str) -> None:
        guess = closest(str(name), self.registry.names()) or closest(str(name), TASK_KEYWORDS)
        self.problems.append(
            Problem(
                f"unknown module {name!r}",
                doc.key_loc(name),
                hint=f"did you mean {guess!r}?" if guess else "see docs/modules.md for the list of modules",
            )
        )

    def _module_args(self, doc: LDict, name: str) -> Any:
        try:
            module = self.registry.get(name, doc.key_loc(name))
        except UserError as err:  # an operator's library module that does not import
            self.problems.extend(err.problems)
            return {}
        raw = doc[name]
        loc = doc.value_loc(name)
        if raw is None:
            args: Any = LDict(loc)
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            if not module.free_form:
                self.problems.append(
                    Problem(
                        f"module {name!r} takes a mapping of arguments, not a single value",
                        loc,
                        hint=f"write `{name}:` followed by indented `key: value` lines",
                    )
                )
                return {}
            args = LDict(loc)
            args[module.free_form] = str(raw)
            args.value_locs[module.free_form] = loc
        elif isinstance(raw, dict):
            args = raw
        else:
            self.problems.append(Problem(f"arguments of {name!r} must be a mapping, not {kind_of(raw)}", loc))
            return {}
        if "args" in doc and isinstance(doc["args"], dict):
            merged = LDict(loc)
            for source in (doc["args"], args):
                for k, v in source.items():
                    merged[k] = v
                    merged.key_locs[k] = source.key_locs.get(k, loc) if isinstance(source, LDict) else loc
                    merged.value_locs[k] = source.value_locs.get(k, loc) if isinstance(source, LDict) else loc
            args = merged
        problems = validate(args, module.schema, loc, skip=is_template)
        for p in problems:
            self.problems.append(Problem(f"{name}: {p.message}", p.location, p.hint))
        return args


def _inherit(doc: Mapping[str, Any], inherited: Mapping[str, Any]) -> dict[str, Any]:
    """What the tasks inside `doc` (a block or an include) receive from it and from around it."""
    out = dict(inherited)
    for key in INHERITED:
        if key not in doc:
            continue
        out[key] = as_list(inherited.get(key)) + as_list(doc[key]) if key in _ADDED_UP else doc[key]
    return out


def walk(tasks: list[Task] | tuple[Task, ...]) -> list[Task]:
    """Every task, blocks included, depth first in file order."""
    out: list[Task] = []
    for task in tasks:
        out.append(task)
        out.extend(walk(task.block + task.rescue + task.always))
    return out


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
