"""The report as JUnit XML, so a CI server or a test dashboard shows a run like a test run.

Mapping (docs/reports.md): one <testsuite> per host, one <testcase> per step with
classname = host and name = task; failed -> <failure>; blocked and not-run -> <skipped> with
the reason (the failure that caused them is already counted once, where it happened); skipped
-> <skipped/>; a step still `running` in the journal (the run crashed) -> <error>.
ElementTree escapes markup; `textsafe.clean` removes what XML 1.0 cannot hold at all.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from engine.report.document import host_streams
from engine.report.textsafe import clean

#: characters of output copied into a failure's text
FAILURE_OUTPUT_LIMIT = 8_000


def render_junit(doc: Mapping[str, Any]) -> str:
    """The JUnit XML of a `cutover-report/1` document (valid against tests/support/junit.xsd)."""
    doc = clean(doc)
    run = doc["run"]
    labels = {n["id"]: f"{n.get('host')}: {n.get('task')}" for n in doc["nodes"]}
    hosts: dict[str, list[Mapping[str, Any]]] = {}
    for n in doc["nodes"]:
        hosts.setdefault(n.get("host") or "(controller)", []).append(n)
    root = ET.Element("testsuites", name=f"cutover {run['id']} {run.get('estate') or ''}".strip())
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    for index, host in enumerate(sorted(hosts)):
        suite, counts, spent = _suite(index, host, hosts[host], run, labels)
        root.append(suite)
        for key in totals:
            totals[key] += counts[key]
        seconds += spent
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(run.get("duration") if run.get("duration") is not None else seconds))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(
    index: int, host: str, nodes: list[Mapping[str, Any]], run: Mapping[str, Any], labels: Mapping[str, str]
) -> tuple[ET.Element, dict[str, int], float]:
    suite = ET.Element(
        "testsuite", name=host, hostname=host, id=str(index), package=str(run.get("estate") or "")
    )
    props = ET.SubElement(suite, "properties")
    for key in ("id", "estate", "playbook", "inventory", "operator", "status", "simulated", "check_mode"):
        value = run.get(key)
        ET.SubElement(
            props,
            "property",
            name=f"cutover.run.{key}",
            value="" if value is None else str(value).lower() if isinstance(value, bool) else str(value),
        )
    counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seen: dict[str, int] = {}
    for n in nodes:
        seen[str(n["task"])] = seen.get(str(n["task"]), 0) + 1
    spent = 0.0
    for n in nodes:
        name = str(n["task"]) if seen[str(n["task"])] == 1 else f"{n['task']} [{n['id']}]"
        case = ET.SubElement(suite, "testcase", classname=host, name=name, time=_seconds(n.get("duration")))
        counts["tests"] += 1
        spent += float(n.get("duration") or 0)
        kind = _outcome(case, n, labels)
        if kind:
            counts[kind] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", _seconds(spent))
    if run.get("started"):
        suite.set("timestamp", str(run["started"])[:19])
    return suite, counts, spent


def _outcome(case: ET.Element, n: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    """Add the child elements of one test case; return which counter it bumps."""
    status = n["status"]
    if status == "failed":
        error = n.get("error") or n.get("msg") or "failed"
        failure = ET.SubElement(case, "failure", message=_first_line(error), type="failed")
        failure.text = error + _output_text(n.get("output"))
        return "failures"
    if status == "running":
        ET.SubElement(
            case,
            "error",
            message="the step did not finish (the run was interrupted or crashed)",
            type="interrupted",
        )
        return "errors"
    if status in ("blocked", "not-run", "skipped"):
        reason = _skip_reason(n, labels)
        element = ET.SubElement(case, "skipped")
        if reason:
            element.set("message", reason)
        return "skipped"
    if n.get("msg"):
        ET.SubElement(case, "system-out").text = f"{status}: {n['msg']}"
    return None


def _skip_reason(n: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    status = n["status"]
    if status == "blocked":
        cause = f" ({labels.get(n['blocked_by'], n['blocked_by'])} failed)" if n.get("blocked_by") else ""
        return f"blocked: {n.get('error') or n.get('msg') or 'an earlier step failed'}{cause}"
    if status == "not-run":
        return "not run: the run stopped before this step"
    return n.get("msg") or ""


def _output_text(output: Any) -> str:
    """What the host printed, or the whole registered output when it printed nothing."""
    if output is None:
        return ""
    parts = host_streams(output)
    if not parts:
        text = (
            output
            if isinstance(output, str)
            else json.dumps(output, indent=2, ensure_ascii=False, default=str)
        )
        parts = [("registered output", text)]
    out = ""
    for stream, text in parts:
        if len(text) > FAILURE_OUTPUT_LIMIT:
            text = text[:FAILURE_OUTPUT_LIMIT] + "\n..."
        out += f"\n\n{stream}:\n{text}"
    return out


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:500] if text.strip() else "failed"


def _seconds(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, int | float) else "0.000"
