"""The report as one self-contained HTML file: inline CSS, script and SVG, nothing fetched.

Jinja2 with autoescape on (a plain Environment: the template is ours, the data is what must
not run; the engine's sandbox is for operators' templates, a different threat). Host names,
task names, outputs and errors come from playbooks and remote machines, so they are escaped
everywhere, and the page's Content-Security-Policy allows only the one script shipped here,
by its hash: even a markup injection that slipped through could not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from engine.db.copies import where_text
from engine.report.document import STATUSES, host_streams
from engine.report.svg import clip, gantt, plan_graph
from engine.report.textsafe import clean

HERE = Path(__file__).resolve().parent
#: characters of a node's output shown in the HTML (report.json keeps OUTPUT_LIMIT)
HTML_OUTPUT_LIMIT = 20_000
PROBLEMS = ("failed", "blocked", "running", "not-run")
CATEGORY_TITLES = {
    "upgrade_log": "Upgrade log (UPGRADELOG.HTML): lines to fix",
    "new_view": "Customised views kept: new _New views to review",
    "dta_object": "Tuning objects (_dta_index*, _dta_stat_*) dropped before the upgrade",
    "solo_reference": "Customisations that reference the removed Solo tables",
    "session": "Database sessions",
}
OUTCOME_CLASSES = {"succeeded": "good", "failed": "bad", "interrupted": "bad", "stopped": "bad"}


def pretty(value: Any) -> str:
    """Data as indented JSON; text (an output cut to size) as it is."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {sec:02d} s" if hours else f"{minutes} min {sec:02d} s"


def size(value: Any) -> str:
    if not isinstance(value, int):
        return "—"
    amount, unit = float(value), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            break
        amount /= 1024
    return f"{value} bytes" if unit == "bytes" else f"{amount:.1f} {unit} ({value} bytes)"


def preview(output: Any) -> str:
    """One line for the closed <details>: the first line of stdout or msg when there is one."""
    if isinstance(output, Mapping):
        for key in ("stdout", "msg", "stderr"):
            if isinstance(output.get(key), str) and output[key].strip():
                output = output[key]
                break
    text = pretty(output)
    first = next((line.strip() for line in text.splitlines() if line.strip() not in ("", "{", "[")), "")
    return clip(first, 90)


#: characters of a sha256 shown; the full value is the element's title (hover) and what a copy takes
SHA_SHOWN = 12


def sha(value: Any) -> Markup:
    """A sha256 shortened for the page (a full one breaks tables on A4); hover shows it whole and
    copying it copies it whole (report.js), and report.json keeps it."""
    if not value:
        return Markup("—")
    text = str(value)
    if len(text) <= SHA_SHOWN:
        return Markup('<code class="sha">{}</code>').format(text)
    return Markup('<code class="sha" title="{0}" data-full="{0}">{1}&hellip;</code>').format(text, text[:SHA_SHOWN])


def clip_html(text: str) -> str:
    if len(text) <= HTML_OUTPUT_LIMIT:
        return text
    return text[:HTML_OUTPUT_LIMIT] + f"\n... {len(text) - HTML_OUTPUT_LIMIT} more characters in report.json"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # the compiled template kept between runs (jinja2's per-user, owner-only temp folder; keyed
        # by the template's source): compiling it is ~40 ms of every run that writes a report
        bytecode_cache=FileSystemBytecodeCache(),
    )
    env.filters.update(pretty=pretty, dur=duration, size=size, preview=preview, clip_html=clip_html, sha=sha,
                       offsite=where_text)
    return env


@cache
def _asset(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script."""
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def render_html(doc: Mapping[str, Any]) -> str:
    """The HTML report of a `cutover-report/1` document."""
    doc = clean(doc)
    nodes = doc["nodes"]
    anchors = {n["id"]: f"n{i}" for i, n in enumerate(nodes)}
    labels = {n["id"]: f"{n.get('host')}: {n.get('task')}" for n in nodes}
    plan = doc.get("plan")
    graph = plan_graph(nodes, plan["edges"], plan["critical_path"], anchors) if plan else ""
    by_host: dict[str, list[Mapping[str, Any]]] = {}
    for n in nodes:
        by_host.setdefault(n.get("host") or "(controller)", []).append(n)
    findings: dict[str, list[Mapping[str, Any]]] = {}
    for f in doc["findings"]:
        findings.setdefault(f["category"], []).append(f)
    script = _asset("report.js")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            doc=doc,
            run=doc["run"],
            statuses=STATUSES,
            problem_statuses=PROBLEMS,
            outcome_class=OUTCOME_CLASSES.get(doc["run"]["status"], "warn"),
            anchors=anchors,
            node_label=lambda node_id: labels.get(node_id, node_id),
            host_says=host_streams,
            nodes_by_host=sorted(by_host.items()),
            findings_by_category=sorted(findings.items()),
            category_titles=CATEGORY_TITLES,
            checklist_ok=sum(1 for item in doc["checklist"] if item["ok"]),
            checklist_skipped=sum(1 for item in doc["checklist"] if item["state"] == "skipped"),
            checklist_flagged=sum(1 for item in doc["checklist"] if item["state"] == "approved-by-flag"),
            gantt=Markup(gantt(nodes, anchors)),
            graph=Markup(graph),
            css=Markup(_asset("report.css")),
            js=Markup(script),
            script_hash=script_hash(script),
        )
    )
