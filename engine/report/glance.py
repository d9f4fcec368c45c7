"""The report's first screen: what a client reads before signing, built from the report document.

From-version -> to-version per server (the version steps of the run: every product has a
`<product>_version` module that reads what a server and its database say; the first reading of
a host is where it started, the last where it ended), the outcome, how many findings ask a
person to act, the backups taken (and how many verified), the gates and who answered them (a
gate answered by `--approve-all` is "approved by flag", not signed), and the duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the keys a version module's output names a version under, most telling first
VERSION_KEYS = ("version", "registry", "files", "database")


def version_of(output: Any) -> str | None:
    """The version a version step read (`registry` and `database` must agree to be one version)."""
    if not isinstance(output, Mapping):
        return None
    found = [str(output[k]) for k in VERSION_KEYS if output.get(k) not in (None, "")]
    if not found:
        return None
    distinct = list(dict.fromkeys(found))
    return distinct[0] if len(distinct) == 1 else " / ".join(f"{k} {output[k]}" for k in VERSION_KEYS if output.get(k))


def server_versions(nodes: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each host a version step ran on: the first version read and the last."""
    by_host: dict[str, list[str]] = {}
    for node in sorted(nodes, key=lambda n: str(n.get("started") or "")):
        if not str(node.get("module") or "").endswith("_version") or node.get("status") not in ("ok", "changed"):
            continue
        version = version_of(node.get("output"))
        if version:
            by_host.setdefault(str(node.get("host")), []).append(version)
    return [{"host": host, "from": seen[0], "to": seen[-1], "changed": seen[0] != seen[-1]}
            for host, seen in sorted(by_host.items())]


def glance(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The first screen's facts (the report schema's `glance`)."""
    artifacts = list(doc.get("artifacts") or [])
    actionable = [f for f in doc.get("findings") or [] if f.get("severity") in ("warning", "error")]
    gates = [
        {"gate": item.get("gate"), "host": item.get("host"), "state": item.get("state"), "by": item.get("by"),
         "at": item.get("at")}
        for item in doc.get("checklist") or [] if item.get("source") == "gate"
    ]
    return {
        "versions": server_versions(list(doc.get("nodes") or [])),
        "outcome": doc["run"]["status"],
        "findings": len(actionable),
        "backups": {"taken": len(artifacts), "verified": sum(1 for a in artifacts if a.get("verified"))},
        "gates": gates,
        "duration": doc["run"].get("duration"),
    }
