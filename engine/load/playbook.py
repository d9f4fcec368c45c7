"""Playbooks: plays from YAML, with imports resolved and every mistake located.

Static imports (`import_playbook`, `vars_files`) are resolved here, relative to the file that
names them, with cycles reported; the tasks of each play are read by `engine.load.tasks`.
Each play and each task is checked on its own, so one broken task does not hide the mistakes of
the others: the operator sees every problem of every file in one go.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.api.registry import ModuleRegistry
from engine.core.errors import Location, Problem, UserError, closest
from engine.core.model import Play, Playbook, Task
from engine.load.schema import kind_of, validate
from engine.load.tasks import TaskReader, Within, number, shape, walk
from engine.load.templating import is_template
from engine.load.yaml_marks import LDict, LList, load_file

PLAY_SHAPE = shape("play", ("tasks", "handlers"))


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
            chain = " -> ".join(Path(p).name for p in (*stack[stack.index(key) :], key))
            raise UserError(
                f"include cycle: {chain}", where, hint="a file cannot include itself, even indirectly"
            )
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
        self.tasks = TaskReader(self.registry, self.problems, self._read)
        plays = self._plays(path, (), None)
        if self.problems:
            raise UserError.many(in_file_order(self.problems))
        digest = hashlib.sha256(
            "".join(f"{p}:{h}" for p, h in sorted(self.files.items())).encode()
        ).hexdigest()
        plays = [replace(p, index=n) for n, p in enumerate(plays)]
        return Playbook(path=str(path), plays=tuple(plays), content_hash=digest, files=tuple(self.files))

    def _plays(self, path: Path, stack: tuple[str, ...], where: Location | None) -> list[Play]:
        doc = self._read(path, stack, where)
        stack = (*stack, str(path.resolve()))
        if doc is None:
            self.problems.append(
                Problem(
                    "the playbook is empty",
                    Location(str(path), 1, 1),
                    hint="a playbook is a list of plays: `- hosts: all` then `tasks:`",
                )
            )
            return []
        if not isinstance(doc, LList):
            self.problems.append(
                Problem(
                    f"a playbook must be a list of plays, not {kind_of(doc)}",
                    getattr(doc, "loc", None) or Location(str(path), 1, 1),
                    hint="start each play with '- ', e.g. `- hosts: all`",
                )
            )
            return []
        plays: list[Play] = []
        for i, play_doc in enumerate(doc):
            loc = doc.item_loc(i)
            if not isinstance(play_doc, LDict):
                self.problems.append(
                    Problem(
                        f"a play must be a mapping, not {kind_of(play_doc)}",
                        loc,
                        hint="e.g. `- hosts: all` followed by `tasks:`",
                    )
                )
                continue
            problems = validate(play_doc, PLAY_SHAPE, loc, root="play")
            if problems:  # report them, and still look into its task lists for more
                self.problems.extend(problems)
                for key in ("tasks", "handlers"):
                    if isinstance(play_doc.get(key), LList):
                        self.tasks.tasks(play_doc[key], Within(path, stack), "")
                continue
            if "import_playbook" in play_doc:
                plays.extend(self._import_playbook(play_doc, path, stack))
                continue
            plays.append(self._play(play_doc, path, stack, loc))
        return plays

    def _import_playbook(self, doc: LDict, path: Path, stack: tuple[str, ...]) -> list[Play]:
        for key in doc:
            if key not in ("import_playbook", "name"):
                self.problems.append(
                    Problem(
                        f"{key!r} does not go with import_playbook",
                        doc.key_loc(key),
                        hint="an import_playbook item takes only a name; "
                        "set keywords inside the imported plays",
                    )
                )
        target = path.parent / str(doc["import_playbook"])
        try:
            return self._plays(target, stack, doc.value_loc("import_playbook"))
        except UserError as err:
            self.problems.extend(err.problems)
            return []

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
                self.problems.append(
                    Problem(f"vars file {vf} must be a mapping of variables, not {kind_of(value)}", where)
                )
            else:
                variables.update(value or {})
        variables.update(doc.get("vars") or {})
        within = Within(path, stack, {"check_mode": doc["check_mode"]} if "check_mode" in doc else {})
        tasks = self.tasks.tasks(doc.get("tasks") or LList(), within, "")
        handlers = self.tasks.tasks(doc.get("handlers") or LList(), within, "h")
        self._check_notify(tasks, handlers)
        hosts = doc.get("hosts") or ""
        return Play(
            index=0,
            name=str(doc.get("name") or (",".join(map(str, hosts)) if isinstance(hosts, list) else hosts)),
            hosts=hosts,
            tasks=tuple(tasks),
            handlers=tuple(handlers),
            vars=MappingProxyType(variables),
            on_failure=str(doc.get("on_failure", "stop")),
            max_fail_percentage=number(doc.get("max_fail_percentage"), float),
            any_errors_fatal=doc.get("any_errors_fatal", False),
            serial=doc.get("serial"),
            force_handlers=doc.get("force_handlers", True),
            check_mode=doc.get("check_mode"),
            location=loc,
            source=doc,
        )

    def _check_notify(self, tasks: list[Task], handlers: list[Task]) -> None:
        """Every `notify:` names a handler of the play (by name or `listen`), as Ansible requires."""
        names = {n for h in walk(handlers) for n in (h.name, *h.listen) if n}
        for task in walk(tasks + handlers):
            for name in task.notify:
                if name in names or is_template(name):
                    continue
                guess = closest(name, sorted(names))
                where = task.source.value_loc("notify") if isinstance(task.source, LDict) else task.location
                self.problems.append(
                    Problem(
                        f"notify: no handler called {name!r} in this play",
                        where,
                        hint=f"did you mean {guess!r}?"
                        if guess
                        else "add it under the play's `handlers:` (its name or one of its `listen:` names)",
                    )
                )

def in_file_order(problems: list[Problem]) -> list[Problem]:
    """Problems by file (in the order files first appear), then line and column: as the operator reads."""
    rank: dict[str, int] = {}
    for p in problems:
        rank.setdefault(p.location.file if p.location else "", len(rank))

    def key(p: Problem) -> tuple[int, int, int]:
        loc = p.location
        return (rank[loc.file], loc.line, loc.col) if loc else (rank[""], 0, 0)

    return sorted(problems, key=key)


def load_playbook(path: str | Path, registry: ModuleRegistry | None = None, keyring: Any = None) -> Playbook:
    """Load a playbook file and everything it imports; UserError listing every problem."""
    return PlaybookLoader(registry, keyring).load(path)
