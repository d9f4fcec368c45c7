"""Before an upgrade from 7.1: every Solo remote client synchronised, with their count from the database.

The guide (chapter 7, "Mise à jour depuis une version utilisant Solo"): "Si vous utilisez Solo et
passez de la version 7.1 SP1/SP2 à la version 7,3, veuillez vous assurer ... que tous les
utilisateurs de clients distants sont synchronisés avec Sage CRM avant la mise à jour". 7.2
removed Solo and its tables (SoloProfile, SoloProfileOption, Rep_Ranges, Rep_Deletes,
Rep_Conflicts, ClientRangesRequired): whatever a remote client has not synchronised is lost with
them.

Solo gives each remote client its own range of record ids in `Rep_Ranges`; the number of remote
clients is read as the number of rows there, and `Rep_Conflicts` rows (changes still in
conflict) are counted too. With remote clients, the gate `solo-synchronised` asks a person to
confirm each has synchronised (the counts are in its prompt and the journal). A database without
the Solo tables (7.2 and later), or whose range table is empty, passes without a gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Finding, Module, Result, TaskContext
from engine.db.catalog import list_tables
from modules._common import object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product import sql

GATE = "solo-synchronised"


def solo_counts(db: Any) -> dict[str, int] | None:
    """Rows of Rep_Ranges (remote clients) and Rep_Conflicts; None when the database has no Solo tables."""
    present = {t.name.casefold(): t.name for t in list_tables(db)}
    if "rep_ranges" not in present:
        return None
    counts = {}
    for table in ("Rep_Ranges", "Rep_Conflicts"):
        name = present.get(table.casefold())
        counts[table] = int(db.rows(sql.count_rows(db.dialect, name))[0][0]) if name else 0
    return counts


class CrmSoloSync(Module):
    """Count the Solo remote clients; with any, a gate that they all synchronised."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Before an upgrade from a Solo version: count the remote clients and ask that all synchronised.",
        {},
    )

    def gates(self, args: Mapping[str, Any], host: Any) -> list[dict[str, Any]]:
        """Asked only when the database has remote (Solo) clients; listed so `--approve` can name it ahead."""
        return [{"id": GATE, "prompt": "every remote (Solo) client synchronised? (asked only if there are any)"}]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        with crm.crm_db(ctx, est) as db:
            counts = solo_counts(db)
        if counts is None:
            return Result(changed=False, msg="no Solo tables in the CRM database", output={"solo": None})
        clients, conflicts = counts["Rep_Ranges"], counts["Rep_Conflicts"]
        output: dict[str, Any] = {"remote_clients": clients, "conflicts": conflicts}
        finding = Finding(
            "solo",
            f"{clients} Solo remote client(s), {conflicts} replication conflict(s) in the CRM database; "
            f"Solo and its tables are gone after the upgrade to {est.target_version}",
            "warning" if clients else "info",
            host=ctx.host.name,
            detail=output,
        )
        if not clients:
            return Result(changed=False, msg="no Solo remote client", output=output, findings=[finding])
        if ctx.check_mode:
            return Result(changed=True, msg=f"would ask {GATE}", output=output, findings=[finding])
        prompt = (
            f"All {clients} Solo remote client(s) synchronised with Sage CRM, and the {conflicts} "
            "replication conflict(s) resolved: after the upgrade Solo no longer exists and what a "
            "client did not synchronise is lost."
        )
        answer = ctx.run.gatekeeper.approve(GATE, prompt, ctx.host.name)
        output["gate"] = {"id": GATE, **{k: answer.get(k) for k in ("approved", "by", "at", "comment")}}
        if not answer.get("approved"):
            why = f": {answer['comment']}" if answer.get("comment") else ""
            return Result(
                failed=True, msg=f"gate {GATE} not approved{why}", output=output, findings=[finding]
            )
        return Result(
            changed=True,
            msg=f"{clients} Solo remote client(s) synchronised",
            output=output,
            findings=[finding],
        )
