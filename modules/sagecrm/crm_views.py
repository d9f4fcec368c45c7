"""After the upgrade: every `_New` view, with its difference from the customised view that was kept.

The guide (chapter 13): when a standard view was customised, the upgrade keeps the customer's
view and adds the new standard one as `<name>_New`; someone must check that the only difference
is what the customer added. This module lists every `*_New` view and diffs its definition
against the kept view's, column list first, as Findings (category `new_view`) for the run
report. Read-only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Finding, Module, Result, TaskContext
from modules._common import object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.sql import normalise_sql


def columns(select: str) -> list[str]:
    """The select list of a view's definition, one entry per column."""
    body = normalise_sql(select)
    match = re.match(r"select\s+(.*?)\s+from\s", body, re.S)
    return [c.strip() for c in (match.group(1) if match else body).split(",")]


def view_diff(kept: str, new: str) -> dict[str, Any]:
    """Columns only in the kept view, only in the new one, and a unified diff of the definitions."""
    old_cols, new_cols = columns(kept), columns(new)
    lines = difflib.unified_diff(
        normalise_sql(kept).replace(" from ", "\nfrom ").split("\n"),
        normalise_sql(new).replace(" from ", "\nfrom ").split("\n"),
        "kept",
        "_New",
        lineterm="",
    )
    return {
        "only_in_kept": [c for c in old_cols if c not in new_cols],
        "only_in_new": [c for c in new_cols if c not in old_cols],
        "unified": "\n".join(lines),
    }


class CrmViews(Module):
    """List `_New` views and how each differs from the view the upgrade kept."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "List the `_New` views the upgrade added, with diffs.", {}
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        with crm.crm_db(ctx, est) as db:
            views = crm.view_definitions(db)
        reviews, findings = [], []
        for new_name in sorted(n for n in views if n.endswith("_New")):
            kept_name = new_name[: -len("_New")]
            kept = views.get(kept_name)
            diff = view_diff(kept or "", views[new_name])
            review = {"view": kept_name, "new_view": new_name, "kept_exists": kept is not None, **diff}
            reviews.append(review)
            added = ", ".join(diff["only_in_kept"]) or "nothing"
            message = (
                f"{new_name}: review it against the kept {kept_name} (the kept view adds {added}; "
                f"the new one adds {', '.join(diff['only_in_new']) or 'nothing'})"
            )
            findings.append(
                Finding(
                    "new_view",
                    message,
                    "warning",
                    host=ctx.host.name,
                    detail={**review, "kept_definition": kept, "new_definition": views[new_name]},
                )
            )
        return Result(
            changed=False,
            output={"new_views": reviews},
            findings=findings,
            msg=f"{len(reviews)} _New view(s) to review",
        )
