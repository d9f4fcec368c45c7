"""Helpers shared by the built-in generic modules (command, file, copy, template, archive, ...).

Why one place: every module that touches a file needs the same answers to the same questions
(does it exist, what is its hash, which attributes differ, how is a refusal from the host shown),
and the answers must be identical across modules so that `copy` and `file` never disagree on
what "mode 0644" means. Nothing here is a module (the registry loads one `Module` subclass per
file, and `_`-prefixed files are never offered as modules).
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import ntpath
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.api.primitives import PrimitiveFailed, Remote

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Text diffs are shown up to this size; a bigger file is summarised by size and hash.
DIFF_LIMIT = 256 * 1024

MODE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^0?[0-7]{3,4}$",
    "description": "Permissions as a quoted octal string, e.g. '0644' (an unquoted YAML 0644 is read "
    "as the number 420, so numbers are refused).",
}
OWNER_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "description": "Owner (user name)."}
GROUP_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "description": "Group name."}
PATH_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1}
#: The attributes `file`, `copy` and `template` manage, as arguments.
ATTR_PROPERTIES: dict[str, Any] = {"mode": MODE_SCHEMA, "owner": OWNER_SCHEMA, "group": GROUP_SCHEMA}


def object_schema(
    description: str,
    properties: Mapping[str, Any],
    required: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A module's argument schema: draft 2020-12, closed (unknown arguments are mistakes)."""
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": dict(properties),
    }
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def prop(schema: Mapping[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    """A copy of a shared property schema with this module's own description."""
    return {**schema, "description": description, **extra}


# --- primitive calls ---------------------------------------------------------------------------


def call(remote: Remote, op: str, **args: Any) -> Any:
    """Call a primitive, leaving out arguments that are None; a refusal becomes ModuleFailed.

    The host's own reason is kept (it is what the operator needs), with its error kind in the
    output so `failed_when` can test it.
    """
    clean = {k: v for k, v in args.items() if v is not None}
    try:
        return remote.call(op, **clean)
    except PrimitiveFailed as exc:
        raise ModuleFailed(str(exc), output={"kind": exc.kind}) from exc


def call_many(remote: Remote, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, dict | None]]:
    """Several calls in one round trip: a (value, None) or (None, failed answer) pair per call."""
    answers = remote.batch([(op, {k: v for k, v in a.items() if v is not None}) for op, a in calls])
    return [(a.get("value"), None) if a.get("ok") else (None, a) for a in answers]


def call_optional(remote: Remote, op: str, **args: Any) -> Any:
    """A primitive's value, or None when the host answers that the thing is not there."""
    value, failed = remote.try_call(op, **{k: v for k, v in args.items() if v is not None})
    if failed is None:
        return value
    if failed.get("kind") == "not_found":
        return None
    raise ModuleFailed(
        f"{remote.host_name}: {op}: {failed.get('error')}", output={"kind": failed.get("kind")}
    )


def stat(remote: Remote, path: str, follow: bool | None = None) -> dict[str, Any] | None:
    """The host's stat of `path`, or None when nothing is there."""
    value = call_optional(remote, "file.stat", path=path, follow=follow)
    if not value or not value.get("exists", True):
        return None
    return value


def digest(remote: Remote, path: str) -> str | None:
    """sha256 of a file on the host, or None when it does not exist."""
    value = call_optional(remote, "file.hash", path=path)
    return None if value is None else value["digest"]


def read_bytes(remote: Remote, path: str, max_bytes: int | None = None) -> tuple[bytes, bool]:
    """A file's content from the host (and whether it was cut at `max_bytes`)."""
    value = call(remote, "file.read", path=path, max_bytes=max_bytes)
    return base64.b64decode(value["content_b64"]), bool(value.get("truncated"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- attributes ----------------------------------------------------------------------------------


def parse_mode(mode: Any) -> int | None:
    """'0644' / '644' -> 0o644; None stays None. The schema already refused anything else."""
    if mode is None:
        return None
    return int(str(mode), 8) & 0o7777


def mode_text(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"


def current_attrs(st: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attributes `file`, `copy` and `template` manage, as they are now."""
    if st is None:
        return {"mode": None, "owner": None, "group": None}
    mode = st.get("mode")
    return {
        "mode": mode_text(parse_mode(mode)) if mode not in (None, "") else None,
        "owner": st.get("owner"),
        "group": st.get("group"),
    }


def wanted_attrs(args: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes the arguments ask for (None: leave as it is)."""
    return {
        "mode": mode_text(parse_mode(args.get("mode"))),
        "owner": args.get("owner"),
        "group": args.get("group"),
    }


def attrs_to_change(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """Only the asked-for attributes that differ (owner/group compared as names, mode as number)."""
    return {k: v for k, v in wanted.items() if v is not None and current.get(k) != v}


# --- paths ---------------------------------------------------------------------------------------


def pathmod(ctx: TaskContext) -> Any:
    """posixpath or ntpath, by the host's platform (paths are the host's, not the controller's)."""
    return ntpath if ctx.platform == "windows" else posixpath


def is_within(ctx: TaskContext, child: str, parent: str) -> bool:
    """True when `child` is `parent` or below it, on the host's kind of paths."""
    mod = pathmod(ctx)
    c = mod.normcase(mod.normpath(child))
    p = mod.normcase(mod.normpath(parent))
    return c == p or c.startswith(p.rstrip(mod.sep) + mod.sep)


def resource(ctx: TaskContext, path: str) -> str:
    """The Artifact.resource string for a file or folder on this task's host."""
    return f"files:{ctx.host.name}:{path}"


# --- retries -------------------------------------------------------------------------------------


def retry(
    ctx: TaskContext, attempts: int, delay: float, ask: Callable[[], tuple[Any, str | None]]
) -> tuple[Any, str | None, int]:
    """Ask up to `attempts` times, `delay` seconds apart, until an answer has no problem.

    `ask()` returns (answer, problem or None); a ModuleFailed it raises counts as a failed
    attempt with its message as the problem. An interrupted run stops waiting at once.
    Returns (last answer, its problem, attempts made).
    """
    answer: Any = None
    problem: str | None = "not asked"
    attempt = 0
    while attempt < max(attempts, 1):
        attempt += 1
        try:
            answer, problem = ask()
        except ModuleFailed as exc:
            answer, problem = None, str(exc)
        if problem is None or attempt >= attempts or ctx.run.interrupted.wait(delay):
            break
    return answer, problem, attempt


# --- diffs ---------------------------------------------------------------------------------------


def _as_text(data: bytes | None) -> str | None:
    if data is None:
        return ""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def content_diff(path: str, before: bytes | None, after: bytes, before_cut: bool = False) -> dict[str, Any]:
    """A before/after view of new file content: unified text diff for text, a summary otherwise."""
    old, new = _as_text(before), _as_text(after)
    if old is None or new is None or before_cut or len(after) > DIFF_LIMIT:
        return {
            "path": path,
            "before": _summary(before, before_cut),
            "after": _summary(after, False),
        }
    unified = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (before)" if before is not None else "/dev/null",
            tofile=f"{path} (after)",
        )
    )
    return {"path": path, "before": old, "after": new, "unified": unified}


def _summary(data: bytes | None, cut: bool) -> str:
    if data is None:
        return "(absent)"
    if cut:
        return f"(content over {DIFF_LIMIT} bytes, not shown)"
    return f"(binary or large content: {len(data)} bytes, sha256 {sha256(data)})"


def unchanged_state(result: Result) -> dict[str, Any] | None:
    """The state `Module.run` put into an unchanged result (modules replace it with their own output)."""
    state = result.output.get("state")
    if result.changed or not isinstance(state, dict):
        return None
    del result.output["state"]
    return state


class StateModule(Module):
    """A desired-state module whose `ok` result shows its own output rather than the raw state."""

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        """Fill an unchanged result from the state `check` read (output, artifacts, message)."""

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        result = super().run(ctx, args)
        state = unchanged_state(result)
        if state is not None:
            self.settle(ctx, result, state)
        return result
