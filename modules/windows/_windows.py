"""Helpers shared by the Windows modules (Sage CRM servers): resources, paths, backups, undo records.

Why one place: the Windows modules name what they protect and destroy with resource strings the
planner compares literally (`registry:<host>:<key>`, `setting:<host>:<what>`, `files:<host>:<path>`),
and a restore module must find the backup module's artifact under exactly the same string. The
run-time check "is there a verified backup, and is it still the file we verified?" is also the
same for every restoring module (registry_import, win_archive extracted), so it lives here once.
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from modules._common import StateModule, call_many, call_optional, digest
from modules.windows import _regfile

#: Every module of this family runs on Windows hosts: over WinRM, and simulated ones (whose
#: connection's platform is `windows` too).
WINDOWS: frozenset[str] = frozenset({"windows"})

#: long root -> short root, for resource strings
_SHORT_ROOTS = {long: short for short, long in _regfile.ROOTS.items()}
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|credential", re.IGNORECASE)


#: A registry key argument (short or long root; `/` is an ordinary character: `Config\\/CRM`).
KEY_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^(?:[Rr]egistry::)?(HK|hk)"}
#: The registry views of 64-bit Windows, as the primitives name them (`view` argument).
VIEWS = ("64", "32")
#: The `view` argument of the registry modules.
VIEW_SCHEMA: dict[str, Any] = {
    "enum": ["auto", "32", "64"],
    "default": "auto",
    "description": "Registry view on 64-bit Windows: 32 is where 32-bit programs such as Sage CRM keep "
    "HKLM\\SOFTWARE (WOW6432Node); auto finds the view that holds the key.",
}


# --- names ---------------------------------------------------------------------------------------


def long_key(key: str) -> str:
    """`HKLM:\\SOFTWARE\\x\\` -> `HKEY_LOCAL_MACHINE\\SOFTWARE\\x`, as regedit writes keys in .reg files.

    The spelling rules (roots, `Registry::`, `HKLM:`) are those of `_regfile.parse_key`, which the
    PowerShell primitives follow and the simulated host uses, so all three read a key alike.
    """
    try:
        return _regfile.parse_key(key)
    except ValueError as exc:
        raise ModuleFailed(str(exc)) from None


def registry_key(key: str) -> str:
    """A key's canonical spelling for resource strings: short root, single backslashes.

    `HKEY_LOCAL_MACHINE\\SOFTWARE\\eWare`, `HKLM:\\SOFTWARE\\eWare\\` and `Registry::HKLM\\...`
    all become `HKLM\\SOFTWARE\\eWare`, so an export and the import that restores it name the
    same resource however the operator spelled the root. The rest keeps its case (Windows
    ignores case, the planner does not: spell the key the same way in both tasks).
    """
    root, sep, rest = long_key(key).partition("\\")
    return _SHORT_ROOTS[root] + sep + rest


def registry_resource(host: str, key: str) -> str:
    return f"registry:{host}:{registry_key(key)}"


def setting_resource(host: str, what: str) -> str:
    """`setting:<host>:<what>`: an old setting (IIS path, service binary, COM registration)."""
    return f"setting:{host}:{what}"


def norm_path(path: str) -> str:
    """A Windows path for comparisons: `/` as `\\`, `.`/`..` folded, no trailing `\\`, no case."""
    return ntpath.normcase(ntpath.normpath(path.strip()))


def present_or_to_come(ctx: TaskContext, path: str, missing: str) -> bool:
    """Whether `path` is on the host; when it is not, ModuleFailed(`missing`) in a real run.

    A dry run (`--check`) made none of the changes of the steps before this one, so a folder a
    restore or an unzip would have put there is not there yet: the step is then shown as the
    change it would make (False) instead of failing a rollback preview that would succeed.
    """
    from modules._common import stat

    if stat(ctx.require_remote(), path) is not None:
        return True
    if ctx.check_mode:
        return False
    raise ModuleFailed(missing)


def same_path(a: str | None, b: str | None) -> bool:
    """True when two Windows paths name the same file (Windows compares names without case)."""
    if a is None or b is None:
        return a is b
    return norm_path(a) == norm_path(b)


def masked_value(name: str, value: Any) -> Any:
    """A registry value as shown in diffs: data of names that look like secrets is hidden."""
    if isinstance(value, Mapping) and _SECRET_NAME.search(name or ""):
        return {**value, "data": "********"}
    return value


# --- time ----------------------------------------------------------------------------------------


def host_deadline(remote: Any) -> float | None:
    """The `timeout` to give a primitive that waits on the host (a service, an application pool):
    what is left of the step's timeout, less a second so the host answers before the connection
    gives up on it; None (the host's own default) when the step has no timeout."""
    left = remote.timeout
    return None if left is None else round(max(1.0, left - 1.0), 1)


# --- registry views --------------------------------------------------------------------------------


def find_view(remote: Any, key: str, asked: Any = "auto") -> str | None:
    """The view ('64' or '32') that holds `key`: the one asked, else the one where it exists.

    On 64-bit Windows a 32-bit program's keys under HKLM\\SOFTWARE exist only in the 32-bit view
    (WOW6432Node); a key outside the redirected part (HKLM\\SYSTEM), or any key on 32-bit Windows,
    answers the same in both, and is used in the 64-bit view. A key that exists in both views with
    different contents is two keys, and which one the task means is the operator's to say. None
    when neither view holds it (an explicit view is returned as asked, whether the key exists or not).
    """
    if asked is not None and str(asked) in VIEWS:
        return str(asked)
    answers = call_many(remote, [("registry.get", {"key": key, "view": view}) for view in VIEWS])
    found: dict[str, Any] = {}
    for view, (value, failed) in zip(VIEWS, answers, strict=True):
        if failed is not None:
            raise ModuleFailed(f"registry.get {key} (view {view}): {failed.get('error')}")
        if value.get("exists"):
            found[view] = {"values": value.get("values"), "subkeys": value.get("subkeys")}
    if len(found) == 2 and found["64"] != found["32"]:
        raise ModuleFailed(
            f"{key} exists in both the 64-bit and the 32-bit (WOW6432Node) registry view with different "
            "contents; say which one the task means (view: 32 for a 32-bit program such as Sage CRM)"
        )
    return next(iter(found), None)


def view_name(view: str | None) -> str:
    """How a view is named in messages."""
    return {"32": "32-bit view (WOW6432Node)", "64": "64-bit view"}.get(str(view), "registry view")


# --- .reg files ------------------------------------------------------------------------------------

REG_HEADER = _regfile.HEADER


def reg_text(data: bytes) -> str:
    """The text of a .reg file: UTF-16 with a BOM as regedit writes it, or UTF-8/ANSI."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8-sig", "replace")


def holds_key(text: str, key: str) -> bool:
    """True when the .reg text is a registry export whose sections include `key`."""
    lines = [line.strip() for line in text.splitlines()]
    if not lines or lines[0] not in (REG_HEADER, "REGEDIT4"):
        return False
    wanted = registry_key(key).casefold()
    for line in lines:
        if line.startswith("[") and line.endswith("]") and not line.startswith("[-"):
            try:
                if registry_key(line[1:-1]).casefold() == wanted:
                    return True
            except ModuleFailed:
                continue
    return False


# --- undo records --------------------------------------------------------------------------------


def recorded_before(recorded: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(output, output["before"]) of a journaled result, or None when it recorded no `before`."""
    out = recorded_output(recorded)
    before = out.get("before")
    return (out, before) if isinstance(before, Mapping) else None


def recorded_output(recorded: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a module put in its output, from the journaled result `undo` receives.

    The journal stores the registered result (the module's output keys at the top level); a
    Result turned into a dict has them under `output`. Both are accepted.
    """
    inner = recorded.get("output")
    return inner if isinstance(inner, Mapping) else recorded


# --- artifacts ------------------------------------------------------------------------------------


def file_artifact(ctx: TaskContext, kind: str, resource: str, path: str, meta: dict[str, Any]) -> Artifact:
    """An artifact pointing at a file on the host (an old binary or DLL), verified by its sha256
    when the file is readable; unverified (no sha256) when it is not."""
    hashed = call_optional(ctx.require_remote(), "file.hash", path=path) if path else None
    return Artifact(
        kind=kind,
        resource=resource,
        location=path,
        host=ctx.host.name,
        size=hashed.get("size") if hashed else None,
        sha256=hashed.get("digest") if hashed else None,
        verified=hashed is not None,
        meta=meta,
    )


# --- the base of the state modules with undo ----------------------------------------------------------


class WindowsStateModule(StateModule):
    """A Windows desired-state module whose output keeps `before`, from which `undo` restores.

    `check` returns the state as plain data (shown as the `ok` output); `apply` puts what was
    there before the change under `before` in its output; `restore` puts it back.
    """

    platforms: ClassVar[frozenset[str]] = WINDOWS

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        result.output = {"changed": False, **state}

    def restore(
        self, ctx: TaskContext, args: Mapping[str, Any], output: Mapping[str, Any], before: Mapping[str, Any]
    ) -> Result:
        """Put back what `before` says was there; `output` is the rest of the recorded output."""
        raise NotImplementedError

    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        found = recorded_before(recorded)
        if found is None:
            return Result(changed=False, msg="nothing recorded to undo")
        return self.restore(ctx, args, *found)


# --- backups a restore relies on ------------------------------------------------------------------


def _all_artifacts(ctx: TaskContext, resource: str) -> list[Artifact]:
    return [a for a in ctx.run.artifacts_for(resource) if a.host in (None, ctx.host.name)]


def require_backup(ctx: TaskContext, resource: str, source: str | None = None) -> Artifact | None:
    """The verified, still intact backup of `resource` a destructive step relies on.

    A backup counts when it was verified when taken and the file at its location still has the
    recorded sha256 (a backup edited or lost since is no backup). When `source` (the file about
    to be restored) is itself one of the recorded backups, that one must be intact too, and it is
    the one returned. Refuses with ModuleFailed when none counts, unless the run was started with
    `--allow-unprotected` (then None: the run's journal and report already say it is unprotected).
    """
    remote = ctx.require_remote()
    usable: list[Artifact] = []
    problems: list[str] = []
    for art in _all_artifacts(ctx, resource):
        if not art.verified or not art.sha256:
            problems.append(f"{art.location} (not verified when taken)")
            continue
        current = digest(remote, art.location)
        if current == art.sha256:
            usable.append(art)
            continue
        why = "missing" if current is None else f"sha256 now {current}, recorded {art.sha256}"
        problems.append(f"{art.location} ({why})")
        if source is not None and same_path(art.location, source):
            raise ModuleFailed(
                f"refused: {source} is the recorded backup of {resource} but it changed since it was "
                f"verified ({why}); nothing was restored",
                output={"resource": resource, "backup": art.location},
            )
    chosen = next((a for a in usable if source is not None and same_path(a.location, source)), None)
    if chosen is None and usable:
        chosen = usable[0]
    if chosen is not None or ctx.run.allow_unprotected:
        return chosen
    found = f"; recorded but not usable: {', '.join(problems)}" if problems else ""
    raise ModuleFailed(
        f"refused: no verified backup of {resource} in this run (or the run rolled back from){found}; "
        "back it up first in the same play (registry_export, win_archive), roll back --from-run the "
        "run that recorded it, or run with --allow-unprotected",
        output={"resource": resource},
    )
