"""The module contract: desired state, not scripts.

A module reads the current state (`check`), says what would change (`diff`, None when nothing),
makes the change (`apply`) and may offer `undo`. The engine calls `run`, whose default wires the
three together and honours check mode, so running a module twice reports `changed` then `ok`.
Modules that are actions rather than states (`command`, `debug`, `assert`, `gate`) override
`run` directly.

A module file in `modules/` (or an operator's `library/` next to the playbook) defines one
subclass of `Module`; the file's stem is the module's name unless the class sets `name`.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from engine.api.primitives import Remote
    from engine.core.model import Host


def utcnow() -> str:
    """ISO-8601 UTC timestamp with milliseconds, the engine's one time format in journal and reports."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class Artifact:
    """Something a rollback needs, recorded with its location and checksum.

    `resource` names what it protects, with the same string a destructive module declares in
    `destroys()`: `db:<target>`, `registry:<host>:<key>`, `files:<host>:<path>`,
    `setting:<host>:<what>` (an old setting such as an IIS physical path), `views:<target>`.
    """

    kind: str
    resource: str
    location: str
    host: str | None = None
    size: int | None = None
    sha256: str | None = None
    verified: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    taken_at: str = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Finding:
    """Something a person used to read a log for, listed in the run report.

    `category`: `upgrade_log`, `new_view`, `dta_object`, `solo_reference`, `session`,
    `checklist`, ... ; `severity`: `info`, `warning`, `error`.
    """

    category: str
    message: str
    severity: str = "warning"
    host: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Result:
    """What a module did. `output` is what `register:` stores (Ansible-like keys welcome)."""

    changed: bool = False
    failed: bool = False
    skipped: bool = False
    msg: str = ""
    output: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    diff: dict[str, Any] | None = None


class ModuleFailed(Exception):
    """Raised by a module for an expected failure; the message is shown as the node's error."""

    def __init__(self, message: str, output: dict[str, Any] | None = None):
        super().__init__(message)
        self.output = output or {}


class Gatekeeper:
    """How gates get their answer: the CLI supplies an interactive or flag-driven one."""

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        """Return {approved: bool, by, at, comment}. Default: nobody approved."""
        return {"approved": False, "by": None, "at": utcnow(), "comment": "no operator answered"}


@dataclass
class RunContext:
    """What is shared by all nodes of a run (journal access, operator, gates, databases)."""

    run_id: str
    operator: str
    check_mode: bool = False
    diff_mode: bool = False
    gatekeeper: Gatekeeper = field(default_factory=Gatekeeper)
    #: artifacts of earlier runs (rollback --from-run), by resource
    prior_artifacts: Mapping[str, list[Artifact]] = field(default_factory=dict)
    #: artifacts recorded so far in this run, by resource (filled by the executor)
    artifacts: dict[str, list[Artifact]] = field(default_factory=dict)
    #: database targets from the inventory, by name (see engine.db)
    databases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    inventory: Any = None
    interrupted: threading.Event = field(default_factory=threading.Event)
    #: called with every secret value discovered at run time so it is masked everywhere
    add_secret: Callable[[str], None] = lambda value: None
    state_dir: str = ".cutover"
    allow_unprotected: bool = False
    #: a module's progress line (`ctx.progress`), with its node id, for the live console
    #: (called from the step's worker thread)
    on_progress: Callable[[str, str], None] = lambda node_id, message: None
    #: the run's day in the estate's zone (ISO date), fixed when it started and kept on resume:
    #: "the same day" of a vendor's rule (engine/execute/timewindow.py)
    run_day: str = ""
    #: the day of the run rolled back from (`--from-run`), as that run recorded it
    from_run_day: str = ""

    def artifacts_for(self, resource: str) -> list[Artifact]:
        """This run's artifacts for a resource first, then those of the run rolled back from."""
        return list(self.artifacts.get(resource, [])) + list(self.prior_artifacts.get(resource, []))


def _no_pool(host: Host) -> Remote:
    raise ModuleFailed(f"no connection to {host.name}: this task runs without the run's connection pool")


@dataclass
class TaskContext:
    """What one module invocation sees: its host, variables, remote primitives and the run."""

    host: Host
    vars: Mapping[str, Any]
    remote: Remote | None
    run: RunContext
    task_name: str = ""
    node_id: str = ""
    timeout: float | None = None
    progress: Callable[[str], None] = lambda message: None
    #: render a value (strings with {{ }} inside, recursively) with the task's variables
    render: Callable[[Any], Any] = lambda value: value
    #: evaluate a bare Jinja2 expression (`result.rc == 0`) with the task's variables
    evaluate: Callable[[str], Any] = lambda expression: expression
    #: the directory of the playbook file (for `src:` of copy/template, relative paths)
    playbook_dir: str = "."
    #: primitives on another host (of this inventory, or of another one such as the live estate a
    #: test estate mirrors) through the run's connection pool: opened once, under the pool's lock,
    #: with its settings resolved and its password masked, closed when the run ends
    remote_for: Callable[[Host], Remote] = _no_pool

    @property
    def check_mode(self) -> bool:
        return self.run.check_mode

    @property
    def diff_mode(self) -> bool:
        return self.run.diff_mode

    @property
    def platform(self) -> str:
        """`posix` or `windows`: of the host the task's primitives reach (its own, or delegate_to's)."""
        from engine.connect import host_kind

        return host_kind(self.remote.connection.host if self.remote is not None else self.host).platform

    def require_remote(self) -> Remote:
        if self.remote is None:
            raise ModuleFailed(f"host {self.host.name} has no connection for this task")
        return self.remote


class Module:
    """Base class of every module. Class attributes describe it to the planner and validator."""

    #: defaults to the file stem
    name: ClassVar[str] = ""
    #: JSON Schema (draft 2020-12) of the arguments
    schema: ClassVar[dict[str, Any]] = {"type": "object"}
    #: `posix`, `windows`, `controller` (runs on the controller: databases, http, gates)
    platforms: ClassVar[frozenset[str]] = frozenset({"posix", "windows"})
    #: overwrites or removes something a rollback would need: needs a verified backup upstream
    destructive: ClassVar[bool] = False
    #: argument names whose values are masked everywhere
    secret_args: ClassVar[frozenset[str]] = frozenset()
    #: a free-form argument (`command: ls -l`) is stored under this key
    free_form: ClassVar[str | None] = None
    #: the module reports changes from `diff` and can be asked what it would change
    supports_check: ClassVar[bool] = True
    #: the installer of a product (planner policies order these)
    installer: ClassVar[bool] = False
    #: variables the module sets on its host (Result.facts), so `validate` knows later tasks may use them
    provides_facts: ClassVar[frozenset[str]] = frozenset()

    # --- planner hooks -------------------------------------------------------------------
    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        """Resources this node backs up *and verifies* (see Artifact.resource)."""
        return []

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        """Resources this destructive node overwrites."""
        return []

    def gates(self, args: Mapping[str, Any], host: Host) -> list[dict[str, Any]]:
        """The gates this node will ask a person (`id`, `prompt`, optional `deadline`), so that
        `plan` and `validate` list them and `--approve ID` is checked before anything runs."""
        return []

    # --- desired state ---------------------------------------------------------------------
    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> Any:
        """Read the current state (no changes)."""
        return None

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: Any) -> Any:
        """The change needed from `state` to what `args` ask, or None when nothing is to do."""
        return None

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: Any) -> Result:
        """Make the change and return what happened (facts, artifacts, diff)."""
        raise NotImplementedError

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        """A before/after view of a change for `--diff` and check mode."""
        if isinstance(change, dict) and ("before" in change or "after" in change):
            return {k: change.get(k) for k in ("before", "after", "path") if k in change}
        return None

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        """check -> diff -> (apply unless check mode)."""
        state = self.check(ctx, args)
        change = self.diff(ctx, args, state)
        if change is None:
            return Result(changed=False, output={"state": state} if state is not None else {})
        if ctx.check_mode:
            return Result(changed=True, diff=self.describe_change(change), msg="would change")
        return self.apply(ctx, args, change)

    # --- optional ----------------------------------------------------------------------------
    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        """Reverse a recorded application (`recorded` is the journaled result). Optional."""
        raise NotImplementedError(f"module {self.name} has no undo")

    @classmethod
    def has_undo(cls) -> bool:
        return cls.undo is not Module.undo
