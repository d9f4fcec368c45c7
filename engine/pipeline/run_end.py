"""What the console says when a run ends: its findings, and after a failure where the estate stands.

The HTML report holds everything, but at 22:00 the operator reads the terminal first. So the
run's findings (upgrade-log lines to fix, `_New` views to review, Solo references, dropped
`_dta_` objects, warnings) are printed with their counts per category and where to look (the
file a finding names, the report's findings section); `--fail-on-findings` turns them into exit
1. A run that did not succeed also says what it changed on each host (the steps that changed
something, in order: users locked out, services or IIS stopped, the installer run read from
their names), and the exact commands that resume it and that roll it back.

Read from the journal only, after the run's reports were written.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.journal.store import Journal

#: severities that ask a person to act (an `info` finding is evidence, e.g. a checklist item passed)
ACTIONABLE = frozenset({"warning", "error"})
#: how many messages of a category are printed (the report has them all)
SHOWN_PER_CATEGORY = 3
#: how many changed steps of a host are printed, the latest ones
SHOWN_CHANGES = 4


@dataclass(frozen=True)
class RunEnd:
    """The lines to print, and whether the run has findings to act on."""

    lines: list[str] = field(default_factory=list)
    findings: int = 0


def actionable_findings(journal: Journal, run_id: str) -> list[Any]:
    return [f for f in journal.findings(run_id) if f.severity in ACTIONABLE]


def findings_lines(findings: list[Any], report: Path | None) -> list[str]:
    """Findings per category with counts and where to look."""
    if not findings:
        return []
    by_category: dict[str, list[Any]] = {}
    for finding in findings:
        by_category.setdefault(finding.category, []).append(finding)
    where = f" (all of them: {report}#findings)" if report else ""
    lines = [f"findings: {len(findings)} to act on{where}"]
    for category, items in sorted(by_category.items()):
        errors = sum(1 for f in items if f.severity == "error")
        lines.append(f"  {category}: {len(items)}" + (f" ({errors} error(s))" if errors else ""))
        for finding in items[:SHOWN_PER_CATEGORY]:
            source = (finding.detail or {}).get("file")
            source = None if source and str(source) in finding.message else source
            at = f" [{finding.host}{': ' + str(source) if source else ''}]" if finding.host else ""
            lines.append(f"    - {finding.message}{at}")
        if len(items) > SHOWN_PER_CATEGORY:
            lines.append(f"    ... and {len(items) - SHOWN_PER_CATEGORY} more")
    return lines


def estate_state_lines(nodes: list[Mapping[str, Any]]) -> list[str]:
    """What the run changed on each host, so the operator knows what the estate is left in."""
    changed: dict[str, list[str]] = {}
    for node in nodes:
        if node.get("status") == "changed":
            changed.setdefault(str(node.get("host")), []).append(str(node.get("task")))
    failed = [n for n in nodes if n.get("status") == "failed"]
    lines = ["estate state:"]
    if not changed:
        lines.append("  no host was changed by this run")
    for host, steps in sorted(changed.items()):
        latest = steps[-SHOWN_CHANGES:]
        earlier = f"{len(steps) - len(latest)} earlier, then: " if len(steps) > len(latest) else ""
        lines.append(f"  {host}: {len(steps)} step(s) changed it: {earlier}" + "; ".join(latest))
    for node in failed:
        lines.append(f"  {node.get('host')}: FAILED at {node.get('task')}: {node.get('error') or node.get('msg') or ''}")
    return lines


def commands_lines(run: Mapping[str, Any], destructive_started: bool, rollback_playbook: Path | None) -> list[str]:
    """The exact commands that continue or undo the run."""
    state = str(Path(str(run.get("state_dir") or ".cutover")))
    state_flag = "" if state == ".cutover" else f" --state-dir {shlex.quote(state)}"
    lines = [f"resume (fix the cause first): cutover resume {run['id']}{state_flag}"]
    if run.get("kind") == "rollback":
        lines.append("roll back: this run is a rollback; resume it to finish restoring")
    elif rollback_playbook is None:
        lines.append("roll back: no rollback.yml next to the playbook")
    elif not destructive_started:
        lines.append("roll back: not needed, no destructive step started (resume when fixed)")
    else:
        lines.append(f"roll back: cutover run {shlex.quote(str(rollback_playbook))} -i {shlex.quote(str(run['inventory']))}"
                     f" --from-run {run['id']}{state_flag}")
    return lines


def run_end(state_dir: str, run_id: str, status: str, report: Path | None, masker: Any = None) -> RunEnd:
    """The end-of-run lines for a run recorded in `state_dir`'s journal."""
    from engine.api.registry import ModuleRegistry
    from engine.pipeline.recorded import destructive_steps_started, rollback_playbook_for

    journal = Journal(Path(state_dir) / "runs.db", masker)
    try:
        run = journal.run(run_id, with_plan=False) or {"id": run_id}
        findings = actionable_findings(journal, run_id)
        lines = findings_lines(findings, report)
        if status != "succeeded" and not run.get("check_mode"):
            playbook = str(run.get("playbook") or "")
            registry = ModuleRegistry([Path(playbook).parent / "library"])
            nodes = journal.nodes(run_id)
            lines += estate_state_lines(nodes)
            lines += commands_lines({**run, "state_dir": state_dir},
                                    bool(destructive_steps_started(journal, run_id, registry)),
                                    rollback_playbook_for(playbook) if playbook else None)
        return RunEnd(lines, len(findings))
    finally:
        journal.close()
