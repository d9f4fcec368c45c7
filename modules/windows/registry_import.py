"""Import a `.reg` file on the host into the registry (the rollback's "restore the registry exports").

Destructive: importing overwrites values under `key`, so `destroys()` names
`registry:<host>:<key>` and the planner wants a verified backup of it upstream (a
`registry_export` of the same key, or the artifacts of the run rolled back from). At run time the
task refuses again unless such a backup was recorded verified *and the file still has the sha256
that was verified*; when `path` is itself the recorded export, that file must be intact. Only
`--allow-unprotected` overrides this (and the run says so). Check mode does not refuse: the
backup of a check run is never taken.

`key` must hold everything the file writes: a file that writes outside it is refused before
anything is imported, so the task never destroys more than it declares.

Idempotent: the file is parsed on the controller and compared with the keys it names
(`registry.get`, in one round trip); when the registry already holds what the file says, the
task is `ok`. After the import the comparison is made again and must find nothing left to do.
As on Windows, importing merges: values the file does not name are kept (a `[-KEY]` section in
the file deletes a key first). Values whose names look like secrets are masked in diffs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import PATH_SCHEMA, StateModule, call, call_many, digest, object_schema, prop, read_bytes
from modules.windows import _regfile
from modules.windows._windows import (
    KEY_SCHEMA,
    WINDOWS,
    long_key,
    masked_value,
    reg_text,
    registry_key,
    registry_resource,
    require_backup,
)

READ_LIMIT = 16 << 20
_SHOWN = 20

Edit = tuple[str, str, Any]
Values = dict[str, tuple[str, Any]]
#: casefolded key -> (key as spelled, None when absent or {casefolded value name: (name, {type, data})})
Model = dict[str, tuple[str, Values | None]]


def parse_edits(data: bytes, origin: str) -> list[Edit]:
    """The edits a .reg file asks for, with long-form keys (regedit's format, `_regfile`)."""
    try:
        return _regfile.parse_reg(reg_text(data))
    except ValueError as exc:
        raise ModuleFailed(f"{origin}: {exc}") from None


def _within(key: str, scope: str) -> bool:
    k, s = key.casefold(), scope.casefold()
    return k == s or k.startswith(s + "\\")


def read_model(ctx: TaskContext, keys: list[str], deep: list[str]) -> Model:
    """The registry as it is for `keys`, and everything below the keys in `deep` (deleted ones)."""
    remote = ctx.require_remote()
    model: Model = {}
    todo = list(dict.fromkeys(keys + deep))
    deep_cf = [d.casefold() for d in deep]
    while todo:
        answers = call_many(remote, [("registry.get", {"key": k}) for k in todo])
        following: list[str] = []
        for key, (value, failed) in zip(todo, answers, strict=True):
            if failed is not None:
                raise ModuleFailed(
                    f"registry.get {key}: {failed.get('error')}", output={"kind": failed.get("kind")}
                )
            if not value.get("exists"):
                model[key.casefold()] = (key, None)
                continue
            values = value.get("values") or {}
            model[key.casefold()] = (key, {n.casefold(): (n, v) for n, v in values.items()})
            if any(_within(key, d) for d in deep_cf):
                following += [f"{key}\\{sub}" for sub in value.get("subkeys") or []]
        todo = [k for k in dict.fromkeys(following) if k.casefold() not in model]
    return model


def imported(model: Model, edits: list[Edit]) -> Model:
    """What the registry would be after importing `edits` (merge semantics, as regedit)."""
    out: Model = {k: (shown, dict(v) if v is not None else None) for k, (shown, v) in model.items()}
    for action, key, payload in edits:
        k = key.casefold()
        if action == "delkey":
            for known, (shown, _values) in list(out.items()):
                if _within(known, k):
                    out[known] = (shown, None)
            continue
        values = out.get(k, (key, None))[1]
        if values is None:
            values = {}
            out[k] = (out.get(k, (key, None))[0], values)
        if action == "value":
            name, value = payload
            if value is None:
                values.pop(name.casefold(), None)
            else:
                values[name.casefold()] = (name, value)
    return out


def differences(before: Model, after: Model) -> list[dict[str, Any]]:
    """Each key or value the import changes, with before/after (secret-looking data masked)."""
    found: list[dict[str, Any]] = []
    for folded in sorted(set(before) | set(after)):
        key, old = before.get(folded, (None, None))
        key, new = after.get(folded, (key, None))
        if old is None and new is None:
            continue
        if (old is None) != (new is None):
            found.append(
                {
                    "key": key,
                    "before": "absent" if old is None else "present",
                    "after": "absent" if new is None else "present",
                }
            )
        for name in sorted(set(old or {}) | set(new or {})):
            a, b = (old or {}).get(name), (new or {}).get(name)
            if (a[1] if a else None) != (b[1] if b else None):
                shown = (a or b)[0]
                found.append(
                    {
                        "key": key,
                        "name": shown,
                        "before": masked_value(shown, a[1]) if a else None,
                        "after": masked_value(shown, b[1]) if b else None,
                    }
                )
    return found


class RegistryImport(StateModule):
    """Parse, compare, refuse without an intact verified backup, registry.import, compare again."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Import a .reg file on the host into the registry (needs a verified backup of `key`).",
        {
            "path": prop(PATH_SCHEMA, "The .reg file on the host (e.g. the registry_export of `key`)."),
            "key": prop(KEY_SCHEMA, "The key the import overwrites; the file may write only at or below it."),
            "replace": {"type": "boolean", "default": True,
                        "description": "Delete the file's top key first, so the key ends exactly as exported "
                                       "(values added since do not survive); false merges, as `reg import` does."},
        },
        ("path", "key"),
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [registry_resource(host.name, str(args["key"]))]

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        path, key = str(args["path"]), str(args["key"])
        registry_key(key)
        if digest(remote, path) is None:
            if ctx.check_mode:  # an earlier step of the same run (its export) would create it
                missing = {"key": key, "before": "as it is", "after": f"as {path} says (not there yet)"}
                return {"path": path, "key": key, "edits": [], "changes": [missing]}
            raise ModuleFailed(f"{path} does not exist on {ctx.host.name}")
        data, cut = read_bytes(remote, path, max_bytes=READ_LIMIT)
        if cut:
            raise ModuleFailed(f"{path} is over {READ_LIMIT} bytes: not a registry export this task compares")
        edits = parse_edits(data, path)
        if args.get("replace", True):
            top = next((k for action, k, _p in edits if action == "key"), None)
            if top is not None:
                edits = [("delkey", top, None), *edits]
        scope = long_key(key)
        outside = sorted({k for _a, k, _p in edits if not _within(k, scope)})
        if outside:
            raise ModuleFailed(
                f"refused: {path} writes outside {key}: {', '.join(outside[:_SHOWN])}; "
                "name the key that holds everything it writes"
            )
        keys = [k for action, k, _p in edits if action != "delkey"]
        deep = [k for action, k, _p in edits if action == "delkey"]
        model = read_model(ctx, keys, deep)
        return {
            "path": path,
            "key": key,
            "edits": edits,
            "changes": differences(model, imported(model, edits)),
            "replace": bool(args.get("replace", True)),
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        if not state["changes"]:
            return None
        return state

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        shown = change["changes"][:_SHOWN]
        return {
            "path": change["path"],
            "before": [{k: v for k, v in c.items() if k != "after"} for c in shown],
            "after": [{k: v for k, v in c.items() if k != "before"} for c in shown],
        }

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        result = super().run(ctx, args)
        if ctx.check_mode and result.changed:
            result.msg = "would import (a verified backup of the key is required at run time)"
        return result

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        path, key = change["path"], change["key"]
        backup = require_backup(ctx, registry_resource(ctx.host.name, key), source=path)
        answer = call(remote, "registry.import", path=path, replace=change.get("replace", True))
        edits = change["edits"]
        keys = [k for action, k, _p in edits if action != "delkey"]
        model = read_model(ctx, keys, [k for action, k, _p in edits if action == "delkey"])
        left = differences(model, imported(model, edits))
        if left:
            first = left[0]
            raise ModuleFailed(
                f"after importing {path}, {len(left)} difference(s) remain, e.g. "
                f"{first['key']}\\{first.get('name', '')}",
                output={"remaining": left[:_SHOWN]},
            )
        return Result(
            changed=True,
            msg=f"imported {path} ({len(change['changes'])} change(s) under {key})",
            output={
                "path": path,
                "key": key,
                "changed": True,
                "sha256": answer.get("sha256"),
                "changes": len(change["changes"]),
                "backup": backup.location if backup else None,
            },
            diff=self.describe_change(change) if ctx.diff_mode else None,
        )

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        result.output = {"path": state["path"], "key": state["key"], "changed": False, "changes": 0}
        result.msg = f"the registry already holds what {state['path']} says"
