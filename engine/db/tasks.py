"""What the database modules share: finding the target, the host that holds backups, artifacts.

Modules run on the controller (pyodbc connects from there). Those that touch backup files or
run dump tools do it on the target's `host` through the task's connection: the task must run
on that host (`hosts:` or `delegate_to:`), which is checked here with a message saying so.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.api.module import Artifact, ModuleFailed, TaskContext
from engine.core.errors import closest
from engine.db.errors import DbError
from engine.db.files import HostFiles, LocalFiles, RemoteFiles
from engine.db.operations import BackupRecord
from engine.db.target import Target, target_from

#: JSON Schema pieces the modules share
DB_ARG = {
    "type": "string",
    "minLength": 1,
    "description": "Name of a target in the inventory's `databases:`.",
}
PARAMS = {
    "type": "array",
    "items": {"type": ["string", "number", "boolean", "null"]},
    "description": "Values for the `?` placeholders, bound as parameters (never pasted into SQL).",
}
TOOL_TIMEOUT = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "Seconds a dump/restore tool may run on the DB host (default: no limit).",
}
DURATION = {
    "type": ["string", "number"],
    "description": "Seconds, or a number with s, m, h, d or w (`36h`, `7d`).",
}


def args_schema(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """A database module's argument schema: `db` plus its own arguments, nothing unknown."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["db", *required],
        "properties": {"db": DB_ARG, **properties},
        **extra,
    }


#: platforms of modules that only speak SQL / that also touch files on the DB host
SQL_ONLY = frozenset({"controller"})
ON_DB_HOST = frozenset({"controller", "posix", "windows"})

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def target_of(ctx: TaskContext, name: str) -> Target:
    """The inventory's database target `name`, its password registered for masking."""
    raw = ctx.run.databases.get(name)
    if raw is None:
        known = list(ctx.run.databases)
        hint = closest(name, known)
        suffix = f"; did you mean {hint!r}?" if hint else f" (known: {', '.join(known) or 'none'})"
        raise ModuleFailed(f"unknown database target {name!r}{suffix}")
    password = raw.get("password") if isinstance(raw, Mapping) else None
    if password:
        ctx.run.add_secret(str(password))
    try:
        return target_from(name, raw)
    except DbError as exc:
        raise ModuleFailed(str(exc)) from None


@contextlib.contextmanager
def db_failures() -> Iterator[None]:
    """Database errors (already masked) become the node's failure message."""
    try:
        yield
    except DbError as exc:
        raise ModuleFailed(str(exc)) from None


def files_for(ctx: TaskContext, target: Target) -> HostFiles:
    """Where the target's backups live: the controller for SQLite, else the task's DB host."""
    if target.dialect == "sqlite":
        return LocalFiles()
    remote = ctx.remote
    running_on = remote.host_name if remote is not None else ctx.host.name
    if target.host and running_on != target.host:
        raise ModuleFailed(
            f"database {target.name!r} keeps its backups on host {target.host!r}: run this task there "
            f"(`hosts: {target.host}` or `delegate_to: {target.host}`), not on {running_on!r}"
        )
    if remote is None:
        raise ModuleFailed(f"database {target.name!r}: this task needs a connection to the database host")
    return RemoteFiles(remote)


def backup_artifact(record: BackupRecord, target: Target) -> Artifact:
    """The journaled evidence of a verified backup (kind `db_backup`, resource `db:<target>`)."""
    return Artifact(
        kind="db_backup",
        resource=target.resource,
        location=record.location,
        host=record.host,
        size=record.size,
        sha256=record.sha256,
        verified=record.verified,
        meta=record.artifact_meta(),
        taken_at=record.taken_at,
    )


def backup_output(record: BackupRecord) -> dict[str, Any]:
    """What `register:` stores for a backup."""
    return {
        "location": record.location,
        "host": record.host,
        "size": record.size,
        "sha256": record.sha256,
        "verified": record.verified,
        "verify": record.verify_method,
        "taken_at": record.taken_at,
        "kind": record.kind,
    }


def verified_backups(
    ctx: TaskContext, target: Target, kind: str = "full"
) -> tuple[list[Artifact], list[Artifact]]:
    """(backups of the run rolled back from, backups of this run): verified, with a checksum."""

    def usable(items: list[Artifact]) -> list[Artifact]:
        return [a for a in items if a.kind == "db_backup" and a.verified and a.sha256 and _kind(a) == kind]

    return (
        usable(list(ctx.run.prior_artifacts.get(target.resource, []))),
        usable(list(ctx.run.artifacts.get(target.resource, []))),
    )


def pick_backup(ctx: TaskContext, target: Target, select: str = "first") -> Artifact | None:
    """The recorded verified full backup a restore uses when none is named.

    The run being rolled back from wins over this run; within it the FIRST backup is the one
    taken before anything changed (later ones may already hold the failed upgrade). The choice
    does not depend on where the file is now: a backup whose server file is gone but whose
    off-server copy (engine/db/copies.py) is intact is still the one, and the restore brings the
    copy back first (modules/db/_offsite.py), rather than falling back to a later backup.
    """
    prior, current = verified_backups(ctx, target)
    pool = sorted(prior or current, key=lambda a: a.taken_at)
    if not pool:
        return None
    return pool[-1] if select == "latest" else pool[0]


def _kind(artifact: Artifact) -> str:
    return str(artifact.meta.get("kind", "full"))


def seconds(value: Any, what: str = "duration") -> float:
    """`36h`, `7d`, `90` -> seconds; ModuleFailed for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
    if not match:
        raise ModuleFailed(f"{what} {value!r} is not a duration (e.g. 90, 15m, 36h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_timestamp(value: Any, what: str = "timestamp") -> _dt.datetime:
    """An ISO-8601 timestamp (aware or naive) or an epoch number."""
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, _dt.UTC)
    try:
        return _dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ModuleFailed(
            f"{what} {value!r} is not an ISO-8601 date/time (e.g. 2024-05-01T23:00:00)"
        ) from None


def now_utc() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def jsonable(value: Any) -> Any:
    """A database value as something the journal (JSON) and templates can hold."""
    import decimal

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)
