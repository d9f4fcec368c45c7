"""The upgrade log reviewed and its repairs signed before any user is let back in.

The guide (chapter 11 and the checklist of chapter 12) lists the upgrade log's errors and "NB doit
être réparé" lines as manual repairs, done before the system is tested and handed back. This
module reads the server's `UPGRADELOG.HTML` (and the pages it links, as `crm_upgrade_log` does),
and when anything needs a repair asks the gate `upgrade-log-fixed-<host>`, with the lines in its
prompt; a blanket `--approve-all` does not approve it (modules/sagecrm/_repairs.py). A log with
nothing to repair passes without a gate. The upgrade playbook runs it after the review and
before the log-on checks and the unlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import digest, object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm._repairs import named_approval
from modules.sagecrm.crm_upgrade_log import LOG_PATH_ARG, read_upgrade_log

GATE_PREFIX = "upgrade-log-fixed-"


class CrmLogReview(Module):
    """Errors and lines to fix from the upgrade log -> a gate that only its own id approves."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Ask a person to confirm the upgrade log's errors and 'must be fixed' lines are repaired.",
        {
            "path": LOG_PATH_ARG
        },
    )

    def gates(self, args: Mapping[str, Any], host: Any) -> list[dict[str, Any]]:
        """Asked only when the log lists lines to repair; listed so `--approve` can name it ahead
        (not on a dedicated database server, which has no upgrade log)."""
        est = crm.estate_or_none(host)
        if est is not None and not est.holds_crm(host.name):
            return []
        return [{"id": f"{GATE_PREFIX}{host.name}",
                 "prompt": f"the upgrade log of {host.name} lists lines to repair: repaired? (asked only if it does)"}]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        skipped = crm.no_crm_here(est, ctx.host.name)
        if skipped is not None:
            return skipped
        path = str(args.get("path") or est.log_path)
        if ctx.check_mode:
            if digest(ctx.require_remote(), path) is None:
                return Result(skipped=True, msg=f"{path} does not exist yet (check mode)")
        log, _findings = read_upgrade_log(ctx, path)
        lines = log["errors"] + log["to_fix"]
        if not lines:
            return Result(changed=False, msg=f"{path}: nothing to repair", output={"lines": []})
        gate = f"{GATE_PREFIX}{ctx.host.name}"
        if ctx.check_mode:
            return Result(
                changed=True, msg=f"would ask {gate} about {len(lines)} line(s)", output={"lines": lines}
            )
        record = named_approval(
            ctx,
            gate,
            lines,
            f"Each error and 'must be fixed' line of the upgrade log on {ctx.host.name} ({path}) was "
            "repaired by hand, before any user is let back in.",
        )
        return Result(
            changed=True,
            msg=f"{len(lines)} line(s) of the upgrade log repaired, signed by {record['by']}",
            output={"lines": lines, "gate": record},
        )
