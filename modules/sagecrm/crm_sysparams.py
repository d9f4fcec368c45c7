"""Read and set Sage CRM system parameters (`custom_sysparams`), with undo.

- `get: [names]`: read values (output `values`, fact `crm_sysparams`);
- `set: {name: value}`: set rows (a missing row is inserted; `null` removes it);
- `lock: true|false`: Administration | System | Lock System: `SysLockedByUsrID` (`locked_by`,
  the administrator's user id) and `SysLockedTime` log every user off while the upgrade runs.
  Sage CRM honours a lock for at most 3 hours: a lock older than `sagecrm.lock_hours` (default 3)
  is renewed, so a long upgrade stays locked;
- `multi_server: true`: the estate's multi-server settings (server names, load balancing, DTLS
  server, fully qualified names) under the parameter names of `sagecrm.multi_server.parameters`
  (the real names were not found in public sources).

Idempotent: only rows whose value differs are written. The previous values are kept in the
output and `undo` puts them back (rows that did not exist are removed again).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext, utcnow
from modules._common import object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.estate import Estate
from modules.sagecrm.product.sql import LOCK_TIME, LOCK_USER
from modules.windows._windows import recorded_output

_VALUE = {"type": ["string", "number", "boolean", "null"]}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lock_is_fresh(value: str | None, hours: float, now: _dt.datetime) -> bool:
    """A lock time younger than `hours` (Sage CRM drops older locks)."""
    if not value:
        return False
    try:
        when = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return now - when < _dt.timedelta(hours=hours)


class CrmSysparams(Module):
    """custom_sysparams rows: read, set, lock/unlock, multi-server settings."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    provides_facts: ClassVar[frozenset[str]] = frozenset({"crm_sysparams"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Read or set Sage CRM system parameters (custom_sysparams), lock users out, multi-server settings.",
        {
            "get": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "Names to read.",
            },
            "set": {
                "type": "object",
                "additionalProperties": _VALUE,
                "description": "Name -> value (null: remove).",
            },
            "lock": {
                "type": "boolean",
                "description": "true: lock the system (users logged off); false: unlock.",
            },
            "locked_by": {
                "type": ["integer", "string"],
                "default": 1,
                "description": "User id recorded as holding the lock (the administrator).",
            },
            "multi_server": {
                "type": "boolean",
                "description": "true: write the estate's multi-server settings.",
            },
        },
        anyOf=[{"required": [k]} for k in ("get", "set", "lock", "multi_server")],
    )

    def wanted(
        self, est: Estate, args: Mapping[str, Any], current: Mapping[str, str | None]
    ) -> dict[str, Any]:
        out: dict[str, str | None] = {k: _text(v) for k, v in (args.get("set") or {}).items()}
        if args.get("multi_server"):
            out.update(crm.multi_server_values(est))
        if args.get("lock") is True:
            hours = float(est.setting("lock_hours", default=3))
            fresh = lock_is_fresh(current.get(LOCK_TIME), hours, _dt.datetime.now(_dt.UTC))
            if not (current.get(LOCK_USER) == str(args.get("locked_by", 1)) and fresh):
                out[LOCK_USER] = str(args.get("locked_by", 1))
                out[LOCK_TIME] = utcnow()
        elif args.get("lock") is False:
            out[LOCK_USER] = ""
            out[LOCK_TIME] = ""
        return out

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        names = list(
            dict.fromkeys(
                [
                    *(args.get("get") or []),
                    *(args.get("set") or {}),
                    LOCK_USER,
                    LOCK_TIME,
                    *(est.parameters.values() if args.get("multi_server") else []),
                ]
            )
        )
        with crm.crm_db(ctx, est) as db:
            current = crm.read_params(db, names)
            wanted = self.wanted(est, args, current)
            change = {k: v for k, v in wanted.items() if _differs(k, current.get(k), v)}
            output: dict[str, Any] = {"values": {k: current.get(k) for k in names}}
            if not change:
                return Result(
                    changed=False,
                    msg="system parameters already as wanted",
                    output=output,
                    facts={"crm_sysparams": output["values"]},
                )
            before = {k: current.get(k) for k in change}
            output.update({"before": before, "after": change})
            diff = {"before": before, "after": change}
            if ctx.check_mode:
                return Result(changed=True, msg=f"would set {', '.join(change)}", output=output, diff=diff)
            crm.write_params(db, change, current)
            after = crm.read_params(db, names)
        output["values"] = after
        return Result(
            changed=True,
            msg=f"set {', '.join(change)}",
            output=output,
            diff=diff,
            facts={"crm_sysparams": after},
        )

    def undo(self, ctx: TaskContext, args: Mapping[str, Any], recorded: Mapping[str, Any]) -> Result:
        before = recorded_output(recorded).get("before")
        if not isinstance(before, Mapping) or not before:
            return Result(changed=False, msg="nothing recorded to undo")
        est = crm.estate(ctx)
        with crm.crm_db(ctx, est) as db:
            current = crm.read_params(db, list(before))
            if current == dict(before):
                return Result(changed=False, msg="already as before")
            if ctx.check_mode:
                return Result(changed=True, msg=f"would restore {', '.join(before)}")
            crm.write_params(db, dict(before), current)
        return Result(changed=True, msg=f"restored {', '.join(before)}", output={"values": dict(before)})


def _differs(name: str, current: str | None, wanted: str | None) -> bool:
    """An unlock of a database without lock rows has nothing to write."""
    if wanted == "" and name in (LOCK_USER, LOCK_TIME) and not current:
        return False
    return current != wanted
