"""Back up a registry key (with its subkeys) to a `.reg` file on the host, verified.

The Sage CRM guide asks for `HKLM\\SOFTWARE\\eWare\\Config\\/<install>` and
`HKLM\\SOFTWARE\\eWare\\Mappings` on every server before an upgrade. The export is written by the
host (`registry.export`: regedit's format, UTF-16 with BOM), then read back: the file's sha256
must equal what the export reported, and it must be a registry file holding the key. Only then
is it recorded as a verified `registry_export` artifact for `registry:<host>:<key>`, which
`protects()` names, so a `registry_import` of that key can be planned after it.

Fresh by default: each run exports again, so the backup is the key as it is now. The task is
`changed` only when the file's content changed (a second run over an unchanged key is `ok`, and
still reports its verified artifact, so every run's journal holds the backup it relies on).
Check mode cannot read the key without exporting it, so it reports an existing export as
`would change` when `force` is on.

`force: false` keeps an existing `dest` as it is (it is re-verified and reported): use it when a
re-run after a failed upgrade must not replace the export taken before the upgrade with the
half-upgraded key. Prefer a new `dest` per run (a date in the name). The folder of `dest` is
created when missing. Root names may be short or long (`HKLM` or `HKEY_LOCAL_MACHINE`); the
rest of the key must be spelled as in the matching `registry_import`.

Registry view: on 64-bit Windows a 32-bit program (Sage CRM) keeps HKLM\\SOFTWARE in the 32-bit
view (WOW6432Node). `view: auto` (the default) exports from the view that holds the key, `32` or
`64` names it. The view is recorded with the artifact (`meta.view`), and `registry_import` of the
file imports into that view: a file exported from one view and imported into the other would
write the keys where the program never reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import (
    PATH_SCHEMA,
    StateModule,
    call,
    digest,
    object_schema,
    pathmod,
    prop,
    read_bytes,
    sha256,
)
from modules.windows._windows import (
    KEY_SCHEMA,
    VIEW_SCHEMA,
    WINDOWS,
    find_view,
    holds_key,
    reg_text,
    registry_key,
    registry_resource,
    view_name,
)

#: Bigger exports are verified by the host's hash rather than read back whole.
READ_BACK_LIMIT = 8 << 20


class RegistryExport(StateModule):
    """registry.export -> read back -> verified `registry_export` artifact."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Export a registry key with its subkeys to a .reg file on the host, verified (a backup).",
        {
            "key": prop(KEY_SCHEMA, "The key, e.g. 'HKLM\\SOFTWARE\\eWare\\Config\\/CRM'."),
            "dest": prop(PATH_SCHEMA, "The .reg file to write on the host."),
            "force": {
                "type": "boolean",
                "default": True,
                "description": "Export again even when dest exists (false: keep and re-verify an existing dest).",
            },
            "view": VIEW_SCHEMA,
        },
        ("key", "dest"),
    )

    def protects(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [registry_resource(host.name, str(args["key"]))]

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        key, dest = str(args["key"]), str(args["dest"])
        registry_key(key)  # a malformed root fails here, in check mode too
        asked = str(args.get("view", "auto"))
        view = find_view(remote, key, asked)
        if view is None:
            raise ModuleFailed(f"registry key {key} does not exist on {ctx.host.name} (in either registry view)")
        if asked == view and not call(remote, "registry.get", key=key, view=view).get("exists"):
            raise ModuleFailed(f"registry key {key} does not exist in the {view_name(view)} on {ctx.host.name}")
        return {"key": key, "dest": dest, "sha256": digest(remote, dest), "view": view}

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        if state["sha256"] is not None and not args.get("force", True):
            return None
        return {**state, "before": {"sha256": state["sha256"]}, "after": {"export of": state["key"]}}

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        return {"path": change["dest"], "before": change["before"], "after": change["after"]}

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        remote = ctx.require_remote()
        key, dest = change["key"], change["dest"]
        folder = pathmod(ctx).dirname(dest)
        created = bool(folder) and bool(call(remote, "file.mkdir", path=folder, parents=True).get("changed"))
        exported = call(remote, "registry.export", key=key, dest=dest, view=change["view"])
        artifact = self._verify(ctx, key, dest, exported.get("sha256"), change["view"])
        changed = created or artifact.sha256 != change["sha256"]
        diff = None
        if ctx.diff_mode and changed:
            diff = {"path": dest, "before": change["before"], "after": {"sha256": artifact.sha256}}
        return Result(
            changed=changed,
            msg=(f"exported {key} ({view_name(change['view'])}) to {dest}" if changed
                 else f"{dest} already held this export of {key}"),
            output=_output(key, dest, artifact, changed),
            artifacts=[artifact],
            diff=diff,
        )

    def _verify(self, ctx: TaskContext, key: str, dest: str, expected: str | None, view: str) -> Artifact:
        """Read the file back: same sha256 as exported, a .reg file, holding the key."""
        remote = ctx.require_remote()
        data, cut = read_bytes(remote, dest, max_bytes=READ_BACK_LIMIT)
        actual = digest(remote, dest) if cut else sha256(data)
        size = (call(remote, "file.stat", path=dest) or {}).get("size") if cut else len(data)
        if expected is not None and actual != expected:
            raise ModuleFailed(f"{dest}: read back sha256 {actual}, the export reported {expected}")
        if not holds_key(reg_text(data), key):
            raise ModuleFailed(f"{dest} is not a registry export of {key} (header or [key] section missing)")
        return Artifact(
            kind="registry_export",
            resource=registry_resource(ctx.host.name, key),
            location=dest,
            host=ctx.host.name,
            size=size,
            sha256=actual,
            verified=True,
            meta={"key": key, "format": "reg", "view": view},
        )

    def settle(self, ctx: TaskContext, result: Result, state: dict[str, Any]) -> None:
        """A kept export (force: false) is verified again and reported, so this run holds the backup."""
        artifact = self._verify(ctx, state["key"], state["dest"], state["sha256"], state["view"])
        result.output = _output(state["key"], state["dest"], artifact, changed=False)
        result.artifacts.append(artifact)
        result.msg = f"kept the existing export {state['dest']} (force: false)"


def _output(key: str, dest: str, artifact: Artifact, changed: bool) -> dict[str, Any]:
    return {
        "key": key,
        "dest": dest,
        "changed": changed,
        "sha256": artifact.sha256,
        "size": artifact.size,
        "view": artifact.meta["view"],
    }
