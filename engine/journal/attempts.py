"""Each attempt of a run: who started or resumed it, from where, when, and how it ended.

A run that fails at 23:10 and is resumed at 23:40 by someone else is one run with two attempts;
the report a client signs must tell both (the failure and its error, who resumed and when), not
only the last. An attempt is recorded as two rows of the `events` table with no node (node_id
`(attempt)`): `attempt-started` with who/where, and `attempt-ended` with the outcome. No new
table: older journals read as runs of one attempt without these rows.
"""

from __future__ import annotations

import json
from typing import Any

from engine.api.module import utcnow

ATTEMPT_NODE = "(attempt)"


def attempt_started(journal: Any, run_id: str, *, operator: str, controller: str, pid: int, resumed: bool) -> None:
    detail = {"operator": operator, "controller": controller, "pid": pid, "resumed": resumed}
    journal.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                    (run_id, ATTEMPT_NODE, utcnow(), "attempt-started", json.dumps(detail)))


def attempt_ended(journal: Any, run_id: str, *, status: str, reason: str | None) -> None:
    detail = {"status": status, "reason": reason}
    journal.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                    (run_id, ATTEMPT_NODE, utcnow(), "attempt-ended", json.dumps(detail)))


def attempts(events: list[dict[str, Any]], nodes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The attempts of a run from its events (in order), each with the steps that failed in it."""
    found: list[dict[str, Any]] = []
    for event in events:
        if event.get("node_id") == ATTEMPT_NODE:
            detail = _json(event.get("detail"))
            if event.get("status") == "attempt-started":
                found.append({"number": len(found) + 1, "started": event.get("at"), "ended": None,
                              "by": detail.get("operator"), "controller": detail.get("controller"),
                              "resumed": bool(detail.get("resumed")), "status": "running", "reason": None,
                              "failures": []})
            elif found:
                found[-1].update(ended=event.get("at"), status=detail.get("status") or "unknown",
                                 reason=detail.get("reason"))
        elif found and event.get("status") == "failed":
            node = nodes.get(str(event.get("node_id")), {})
            found[-1]["failures"].append({"host": node.get("host"), "task": node.get("task"),
                                          "error": event.get("detail") or node.get("error")})
    return found


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
