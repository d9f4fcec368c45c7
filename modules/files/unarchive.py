"""Extract an archive that is already on the host into a folder, safely and idempotently.

Safety: all or nothing. Every member is checked before anything is written: a member with an
absolute path (a drive letter or UNC name too), a `..` component, a device, a link or a chain of
links leading out of `dest` (a link made by an earlier member counts), a hard link to anything but
a file earlier in the archive, or the same path as an earlier member (on Windows also names that
differ only by case) makes the task fail with one line naming the member and the rule, and nothing
is written (check mode refuses what the listing shows unsafe). So do the limits (`max_size`,
`max_members`, `max_ratio`, `max_total_ratio`: their defaults let a 1CRM update package through
and stop a zip bomb) and a volume without room for the declared size. The host then writes into a folder beside `dest` and
moves it in only when every member was written: a corrupt archive (bad CRC, truncated) or any
failure leaves `dest` exactly as it was (docs/security.md, 8).

Idempotence: the host compares each member with the file already there (size, then content) and
writes only what differs, so a second run is `ok`. A file in `dest` whose content differs from
the archive is refused unless `overwrite: true`, so an extraction never silently replaces work.
Check mode writes nothing: it compares names, types and sizes, so a same-size content change
shows up only in the real run.

Destructive only with `overwrite: true` (then `destroys()` names `dest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import PATH_SCHEMA, call, call_optional, object_schema, prop, stat

_SHOWN = 20

#: archive.extract's limits and the hosts' defaults (the POSIX helper's EXTRACT_LIMITS and
#: powershell/archives.ps1's $CutoverExtractLimits: tests/unit/test_extract_rules.py holds them equal).
#: A 1CRM update package (tens of thousands of files, a few hundred MB compressing 2-10:1) passes;
#: a 1 GB file of zeros in 1 MB (1000:1, as every layer of 42.zip) does not.
EXTRACT_LIMITS: dict[str, tuple[int, str]] = {
    "max_size": (20 << 30, "Refuse an archive whose members hold more than this many bytes uncompressed."),
    "max_members": (500_000, "Refuse an archive with more members than this."),
    "max_ratio": (
        200,
        "Refuse a zip member of 1 MiB or more that is more than this many times larger than its compressed "
        "data (a tar's members share one stream: max_total_ratio judges them).",
    ),
    "max_total_ratio": (
        100,
        "Refuse an archive of 1 MiB or more uncompressed that is more than this many times larger than its file.",
    ),
}
#: every limit off: for an archive this run made itself and whose sha256 is verified (a backup)
NO_LIMITS = {name: 0 for name in EXTRACT_LIMITS}


def limit_schema() -> dict[str, Any]:
    """The limits as module arguments (0 turns one off)."""
    return {
        name: {"type": "integer", "minimum": 0, "default": value, "description": f"{text} 0: no limit."}
        for name, (value, text) in EXTRACT_LIMITS.items()
    }


def limit_args(args: Mapping[str, Any]) -> dict[str, int]:
    """The limits a task sets (the others stay the host's defaults, which are the same)."""
    return {name: int(args[name]) for name in EXTRACT_LIMITS if args.get(name) is not None}


def member_path(name: str, strip: int) -> str | None:
    """An archive member's path below dest after dropping `strip` leading folders (None: dropped)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts[strip:]) if len(parts) > strip else None


class Unarchive(Module):
    """archive.extract with a clear refusal for unsafe members and a listing-based check mode."""

    destructive: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Extract a zip or tar.gz that is on the host into a folder (unsafe archives are refused).",
        {
            "src": prop(PATH_SCHEMA, "The archive on the host (.zip, .tar.gz, .tgz)."),
            "dest": prop(PATH_SCHEMA, "The folder to extract into (created when missing)."),
            "overwrite": {
                "type": "boolean",
                "default": False,
                "description": "Replace files in dest whose content differs from the archive.",
            },
            "strip": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Leading folders to drop from every member's path.",
            },
            **limit_schema(),
        },
        ("src", "dest"),
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        return [f"files:{host.name}:{args['dest']}"] if args.get("overwrite") else []

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        remote = ctx.require_remote()
        src, dest = str(args["src"]), str(args["dest"])
        if stat(remote, src, follow=True) is None:
            raise ModuleFailed(f"src {src} does not exist on {ctx.host.name}")
        entries = call(remote, "archive.list", path=src)["entries"]
        unsafe = [e for e in entries if e.get("unsafe")]
        if unsafe:
            shown = "; ".join(f"member {e['name']} escapes {dest} ({e['unsafe']})" for e in unsafe[:_SHOWN])
            raise ModuleFailed(
                f"refused: {shown}; nothing was written",
                output={"unsafe": [e["name"] for e in unsafe]},
            )
        present = call_optional(remote, "file.list", path=dest, recursive=True)
        existing = {e["path"].replace("\\", "/"): e for e in (present or {}).get("entries", [])}
        return {
            "src": src,
            "dest": dest,
            "entries": entries,
            "existing": existing,
            "dest_exists": present is not None,
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        """What extraction would write, judged by names, types and sizes (no content is read)."""
        strip = int(args.get("strip", 0))
        missing, differing = [], []
        for entry in state["entries"]:
            rel = member_path(entry["name"], strip)
            if rel is None:
                continue
            there = state["existing"].get(rel)
            if there is None:
                missing.append(rel)
            elif entry.get("type") == "file" and (
                there.get("type") != "file" or there.get("size") != entry.get("size")
            ):
                differing.append(rel)
        if differing and not args.get("overwrite"):
            raise ModuleFailed(
                f"would overwrite {len(differing)} file(s) in {state['dest']} whose content differs, "
                f"e.g. {differing[0]} (set overwrite: true)"
            )
        if not missing and not differing:
            return None
        return {"path": state["dest"], "create": missing, "replace": differing}

    def describe_change(self, change: Any) -> dict[str, Any] | None:
        return {
            "path": change["path"],
            "before": {"replace": change["replace"][:_SHOWN]},
            "after": {
                "create": change["create"][:_SHOWN],
                "count": len(change["create"]) + len(change["replace"]),
            },
        }

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: Any) -> Result:
        answer = call(
            ctx.require_remote(),
            "archive.extract",
            src=str(args["src"]),
            dest=str(args["dest"]),
            overwrite=bool(args.get("overwrite", False)),
            strip=int(args.get("strip", 0)),
            **limit_args(args),
        )
        # the host counts written files; folders it created (missing before) are changes too
        changed = bool(answer.get("changed")) or bool(change and change["create"])
        diff = self.describe_change(change) if ctx.diff_mode and change else None
        output = {
            "src": args["src"],
            "dest": args["dest"],
            "changed": changed,
            "files": answer.get("files", 0),
        }
        return Result(changed=changed, output=output, diff=diff)

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        """Check mode: the listing comparison. Real run: the host decides file by file (content too)."""
        state = self.check(ctx, args)
        if ctx.check_mode:
            change = self.diff(ctx, args, state)
            if change is None:
                return Result(output={"src": state["src"], "dest": state["dest"], "changed": False})
            return Result(changed=True, msg="would extract (check mode)", diff=self.describe_change(change))
        try:
            change = self.diff(ctx, args, state)
        except ModuleFailed:
            change = None  # the host judges content, not sizes: let it give the final word
        return self.apply(ctx, args, change)
