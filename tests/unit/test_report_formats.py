"""Run reports: the JSON against its schema, JUnit against the common XSD, escaping and masking.

The journal is a real one (engine.journal.store on SQLite in tmp_path), filled through its own
writing API with a run that has every status, artifacts, findings, gates signed and refused,
and remote text that is hostile (markup, control characters, a secret the journal was not told
about). Browser rendering is tested in tests/e2e/test_report_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from engine.api.module import Artifact, Finding
from engine.cli import main
from engine.core.secrets import SECRET_PLACEHOLDER, Masker
from engine.execute.outcome import NodeOutcome
from engine.journal.store import Journal
from engine.report import build_report, render_json, write_run_reports
from engine.report.document import OUTPUT_LIMIT
from engine.report.html_render import render_html
from engine.report.junit import render_junit
from engine.report.svg import MAX_GANTT_ROWS, ROW, gantt, plan_graph
from engine.report.timeline import schedule

try:
    from lxml import etree
except ImportError:  # the JUnit tests skip, saying so; the rest run
    etree = None

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "engine" / "schemas" / "report.schema.json").read_text())
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_HOST = "web-<b>2</b>"
SECRET = "hunter2&Secret"
RUN = "20250101-000000-abc123"
T0 = "2025-01-01T10:00:00+00:00"


def _at(seconds: int) -> str:
    return f"2025-01-01T10:00:{seconds:02d}+00:00"


def _node(node_id: str, host: str, label: str, module: str = "command") -> SimpleNamespace:
    return SimpleNamespace(
        id=node_id,
        host=host,
        label=label,
        task=SimpleNamespace(module=module),
        location=f"playbooks/sagecrm/upgrade.yml:{len(node_id)}:7",
        play=0,
    )


def _record(
    journal: Journal, node: SimpleNamespace, status: str, start: int, duration: float, **extra: Any
) -> None:
    outcome = NodeOutcome(
        status,
        started=_at(start),
        ended=_at(start + int(duration)),
        duration=duration,
        attempts=0 if status in ("blocked", "skipped") else 1,
        **extra,
    )
    with journal.transaction() as db:
        journal.node_started(db, RUN, node, _at(start))
        journal.node_ended(db, RUN, node, outcome)


STEPS = [  # id, host, task, module, wave, tags
    ("backup@db1", "db1", "back up the CRM database", "db_backup", 1, []),
    ("install@db1", "db1", "run the installer", "command", 2, []),
    ("signoff@db1", "db1", "client sign-off", "gate", 3, []),
    ("smoke@db1", "db1", "smoke test login", "debug", 4, ["checklist"]),
    ("stop@web", HOSTILE_HOST, f"stop IIS {HOSTILE}", "command", 1, []),
    ("start@web", HOSTILE_HOST, "start IIS", "command", 2, []),
    ("approve@web", HOSTILE_HOST, "web sign-off", "gate", 1, []),
    ("cache@web", HOSTILE_HOST, "clear cache", "command", 2, []),
    ("preview@web", HOSTILE_HOST, "preview change", "file", 2, []),
    ("index@web", HOSTILE_HOST, "start the indexing service", "service", 3, []),
    ("final@web", HOSTILE_HOST, "final sign-off", "gate", 4, []),
]
EDGES = [
    ["backup@db1", "install@db1"],
    ["install@db1", "signoff@db1"],
    ["signoff@db1", "smoke@db1"],
    ["stop@web", "start@web"],
    ["approve@web", "cache@web"],
    ["approve@web", "preview@web"],
    ["start@web", "index@web"],
    ["index@web", "final@web"],
]


def _plan() -> dict[str, Any]:
    return {
        "format": "cutover-plan/1",
        "playbook": "playbooks/sagecrm/upgrade.yml",
        "inventory": "inventories/acme.yml",
        "estate": "acme",
        "steps": [
            {
                "id": i,
                "host": h,
                "task": t,
                "module": m,
                "kind": "task",
                "play": 0,
                "wave": w,
                "location": "playbooks/sagecrm/upgrade.yml:1:1",
                "tags": tags,
            }
            for i, h, t, m, w, tags in STEPS
        ],
        "edges": EDGES,
        "waves": 4,
        "critical_path": {
            "steps": ["backup@db1", "install@db1", "signoff@db1", "smoke@db1"],
            "estimate": 4.0,
        },
        "notes": ["UNPROTECTED (override): none"],
    }


def _journal(tmp_path: Path, *, plan: bool = True, simulated: int = 1, check: bool = False) -> Journal:
    """A run with every status. The journal has no masker: SECRET reaches it in clear on purpose."""
    journal = Journal(tmp_path / "state" / "runs.db")
    journal.start_run(
        RUN,
        playbook="playbooks/sagecrm/upgrade.yml",
        inventory="inventories/acme.yml",
        estate="acme <crm>",
        operator="alice",
        controller="ops-laptop",
        args={"forks": 20},
        check_mode=int(check),
        kind="check" if check else "run",
        notes=["a note"],
        plan=_plan() if plan else None,
        simulated=simulated,
    )
    steps = {s[0]: _node(s[0], s[1], s[2], s[3]) for s in STEPS}
    _record(
        journal,
        steps["backup@db1"],
        "changed",
        0,
        2.5,
        artifacts=[
            Artifact(
                kind="db-backup",
                resource="db:crm",
                location=f"D:\\backups\\{HOSTILE}.bak",
                host="db1",
                size=5 * 1024 * 1024,
                sha256="ab" * 32,
                verified=True,
            )
        ],
    )
    _record(
        journal,
        steps["install@db1"],
        "ok",
        2,
        1.25,
        findings=[
            Finding("upgrade_log", f"NB must be fixed: {HOSTILE}", "error", "db1", {"line": 12}),
            Finding("new_view", "vCompany_New needs review", "warning", "db1"),
            Finding(
                "checklist",
                "data integrity",
                "warning",
                "db1",
                {"item": "20 random companies match", "evidence": "3 differ", "ok": False},
            ),
        ],
    )
    _record(
        journal,
        steps["signoff@db1"],
        "changed",
        4,
        0.0,
        gate={"id": "client_signoff", "approved": True, "by": "carol", "at": _at(4), "comment": "go"},
    )
    _record(journal, steps["smoke@db1"], "ok", 4, 0.1, msg="login works", registered={"msg": "login works"})
    _record(
        journal,
        steps["stop@web"],
        "failed",
        0,
        0.4,
        error=f"non-zero return code 1 {HOSTILE}\ncaused by: password {SECRET} rejected",
        registered={"rc": 1, "stdout": f"{HOSTILE}\x1b[31mred\x00", "stderr": f"login {SECRET} failed"},
    )
    _record(journal, steps["start@web"], "blocked", 1, 0.0, error="an earlier step on this host failed")
    _record(
        journal,
        steps["approve@web"],
        "failed",
        0,
        0.0,
        error="gate web_ok not approved",
        gate={"id": "web_ok", "approved": False, "by": "bob", "at": _at(0), "comment": HOSTILE},
    )
    _record(journal, steps["cache@web"], "skipped", 0, 0.0, msg="condition is false")
    _record(journal, steps["preview@web"], "would-change", 0, 0.2, diff={"before": "a", "after": HOSTILE})
    with journal.transaction() as db:  # started, never ended: the controller crashed here
        journal.node_started(db, RUN, steps["index@web"], _at(1))
    # final@web is in the plan only: never started
    journal.update_run(RUN, status="failed", ended=_at(6))
    return journal


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = _journal(tmp_path)
    yield j
    j.close()


def _validate_json(doc: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def _by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in doc["nodes"]}


# --- JSON --------------------------------------------------------------------------------------


def test_json_report_validates_against_its_schema(journal: Journal) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    doc = build_report(journal, RUN)
    text = render_json(doc)
    assert _validate_json(json.loads(text)) == []
    assert json.loads(text)["format"] == "cutover-report/1"
    assert doc["counts"] == {
        "ok": 2,
        "changed": 2,
        "would-change": 1,
        "skipped": 1,
        "failed": 2,
        "blocked": 1,
        "running": 1,
        "not-run": 1,
    }
    nodes = _by_id(doc)
    assert nodes["final@web"]["status"] == "not-run" and nodes["final@web"]["timeline"] is None
    assert nodes["index@web"]["status"] == "running"
    assert nodes["start@web"]["blocked_by"] == "stop@web"
    assert [n for n in nodes if nodes[n]["critical"]] == [
        "backup@db1",
        "install@db1",
        "signoff@db1",
        "smoke@db1",
    ]
    assert {h["name"]: h["status"] for h in doc["hosts"]} == {"db1": "changed", HOSTILE_HOST: "failed"}
    assert doc["artifacts"][0]["sha256"] == "ab" * 32 and doc["artifacts"][0]["verified"] is True
    assert doc["commands"]["rollback"] == (
        f"cutover run playbooks/sagecrm/rollback.yml -i inventories/acme.yml --from-run {RUN}"
    )
    assert doc["run"]["simulated"] is True and doc["run"]["operator"] == "alice"
    assert [f["category"] for f in doc["findings"]] == ["upgrade_log", "new_view"]


def test_schema_rejects_what_is_not_a_version_1_report(journal: Journal) -> None:
    doc = build_report(journal, RUN)
    assert _validate_json({**doc, "format": "cutover-report/2"})
    broken = json.loads(render_json(doc))
    broken["nodes"][0]["status"] = "done"
    assert _validate_json(broken)
    del broken["run"]
    assert any("'run' is a required property" in e for e in _validate_json(broken))


def test_timeline_starts_no_step_before_what_it_waited_for(journal: Journal) -> None:
    nodes = _by_id(build_report(journal, RUN))
    for a, b in EDGES:
        if nodes[a]["timeline"] and nodes[b]["timeline"]:
            assert nodes[b]["timeline"]["start"] >= nodes[a]["timeline"]["end"]
    # recorded to the second: the installer started "at 2 s" and ended "at 3 s" after 1.25 s
    assert nodes["install@db1"]["timeline"] == {"start": 2.5, "end": 3.75}


def test_timeline_without_a_plan_follows_each_host_in_order() -> None:
    rows = [
        {"node_id": "a", "host": "h", "started": T0, "ended": T0, "duration": 0.3},
        {"node_id": "b", "host": "h", "started": T0, "ended": T0, "duration": 0.2},
        {"node_id": "c", "host": "k", "started": T0, "ended": T0, "duration": 0.1},
    ]
    spans = schedule(rows, T0, None)
    assert (spans["b"].start, spans["b"].end) == (pytest.approx(0.3), pytest.approx(0.5))
    assert spans["c"].start == 0.0


def test_report_without_a_stored_plan_degrades(tmp_path: Path) -> None:
    journal = _journal(tmp_path, plan=False)
    doc = build_report(journal, RUN)
    journal.close()
    assert _validate_json(doc) == []
    assert doc["plan"] is None and not any(n["critical"] for n in doc["nodes"])
    assert "final@web" not in _by_id(doc)  # only the plan knew about it
    # without edges, the cause is the latest failed step before it on its host
    assert _by_id(doc)["start@web"]["blocked_by"] == "approve@web"
    html = render_html(doc)
    assert "The plan was not stored with this run" in html and 'class="plan"' not in html


def test_large_outputs_are_cut_and_flagged(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    _record(
        journal,
        _node("big@db1", "db1", "dump"),
        "ok",
        5,
        0.1,
        registered={"stdout": "x" * (OUTPUT_LIMIT + 10)},
    )
    doc = build_report(journal, RUN)
    journal.close()
    big = _by_id(doc)["big@db1"]
    assert big["output_truncated"] is True and len(big["output"]) == OUTPUT_LIMIT
    assert "more characters in report.json" in render_html(doc)


# --- JUnit -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xsd() -> Any:
    """The common JUnit schema, compiled by lxml (the standard library cannot validate XSD)."""
    if etree is None:
        pytest.skip(
            "lxml is not installed (pip install lxml): JUnit XML is validated against the XSD with it"
        )
    return etree.XMLSchema(etree.parse(str(ROOT / "tests" / "support" / "junit.xsd")))


def _junit(doc: dict[str, Any], xsd: Any) -> Any:
    tree = etree.fromstring(render_junit(doc).encode("utf-8"))
    assert xsd.validate(tree), xsd.error_log
    return tree


def test_junit_validates_against_the_xsd_and_maps_each_status(journal: Journal, xsd: Any) -> None:
    tree = _junit(build_report(journal, RUN), xsd)
    cases = {(c.get("classname"), c.get("name")): c for c in tree.iter("testcase")}
    assert len(cases) == len(STEPS)
    stop = cases[(HOSTILE_HOST, f"stop IIS {HOSTILE}")]
    assert stop.find("failure").get("message") == f"non-zero return code 1 {HOSTILE}"
    assert "caused by: password" in stop.find("failure").text
    assert cases[(HOSTILE_HOST, "start IIS")].find("skipped").get("message").startswith("blocked: ")
    assert cases[(HOSTILE_HOST, "clear cache")].find("skipped").get("message") == "condition is false"
    assert cases[(HOSTILE_HOST, "start the indexing service")].find("error") is not None
    assert cases[(HOSTILE_HOST, "final sign-off")].find("skipped").get("message").startswith("not run")
    assert list(cases[("db1", "run the installer")]) == []  # passed: no child element
    assert cases[("db1", "back up the CRM database")].get("time") == "2.500"
    assert {k: tree.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "11",
        "failures": "2",
        "errors": "1",
        "skipped": "3",
    }
    suites = {s.get("name"): s for s in tree.iter("testsuite")}
    assert suites["db1"].get("failures") == "0" and suites[HOSTILE_HOST].get("failures") == "2"


def test_junit_xsd_rejects_malformed_reports(journal: Journal, xsd: Any) -> None:
    tree = etree.fromstring(render_junit(build_report(journal, RUN)).encode("utf-8"))
    tree.find("testsuite").set("tests", "eleven")
    assert not xsd.validate(tree)
    tree = etree.fromstring(render_junit(build_report(journal, RUN)).encode("utf-8"))
    del tree.find("testsuite/testcase").attrib["name"]
    assert not xsd.validate(tree)


def test_control_characters_become_visible_pictures(journal: Journal, xsd: Any) -> None:
    doc = build_report(journal, RUN)
    junit = render_junit(doc)
    assert "\x1b" not in junit and "\x00" not in junit
    tree = _junit(doc, xsd)
    failure = next(c for c in tree.iter("testcase") if c.get("name").startswith("stop IIS")).find("failure")
    assert "\u241b[31mred\u2400" in failure.text  # ESC and NUL as their control pictures
    html = render_html(doc)
    assert "\x1b" not in html and "\u241b[31mred\u2400" in html


# --- escaping, masking, self-containment --------------------------------------------------------


class _Tags(HTMLParser):
    """Every start tag and attribute of a document, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_html_escapes_every_remote_text(journal: Journal) -> None:
    html = render_html(build_report(journal, RUN))
    parsed = _Tags()
    parsed.feed(html)
    assert parsed.tags.count("script") == 1
    assert "img" not in parsed.tags and "b" not in parsed.tags  # neither the output's nor the host name's
    assert [a for a in parsed.attributes if a[1].startswith("on")] == []
    assert HOSTILE not in html and HOSTILE_HOST not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "web-&lt;b&gt;2&lt;/b&gt;" in html


def test_svg_pictures_escape_names_and_stay_well_formed(journal: Journal) -> None:
    doc = build_report(journal, RUN)
    anchors = {n["id"]: f"n{i}" for i, n in enumerate(doc["nodes"])}
    for svg in (
        gantt(doc["nodes"], anchors),
        plan_graph(doc["nodes"], doc["plan"]["edges"], doc["plan"]["critical_path"], anchors),
    ):
        root = ET.fromstring(svg)  # well-formed XML: nothing broke out of a text
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert HOSTILE_HOST in texts
        assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
        links = {a.get("href") for a in root.iter("{http://www.w3.org/2000/svg}a")}
        assert links and links <= {f"#{anchor}" for anchor in anchors.values()}


def test_big_runs_get_a_compact_timeline_and_no_plan_picture() -> None:
    nodes = [
        {
            "id": f"s{i}",
            "host": f"h{i % 3}",
            "task": f"step {i}",
            "status": "ok",
            "critical": False,
            "wave": i,
            "timeline": {"start": i * 0.01, "end": i * 0.01 + 0.005},
        }
        for i in range(MAX_GANTT_ROWS + 1)
    ]
    anchors = {n["id"]: f"n{i}" for i, n in enumerate(nodes)}
    root = ET.fromstring(gantt(nodes, anchors))
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "task"]
    assert labels == [] and len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == len(nodes) + 3
    assert float(root.get("height")) < 10 * ROW  # three hosts, two rows each, and the axis
    assert plan_graph(nodes, [], [], anchors) == ""
    assert sum(1 for e in ET.fromstring(gantt(nodes[:10], anchors)).iter() if e.get("class") == "task") == 10


def test_masker_hides_secrets_the_journal_missed_in_every_format(journal: Journal, tmp_path: Path) -> None:
    unmasked = render_json(build_report(journal, RUN))
    assert SECRET in unmasked  # the fixture really put it there
    paths = write_run_reports(journal, RUN, tmp_path / "out", masker=Masker([SECRET]))
    assert [p.name for p in paths] == ["report.html", "report.json", "junit.xml"]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text and "hunter2&amp;Secret" not in text, path.name
        assert SECRET_PLACEHOLDER in text, path.name


def test_html_is_self_contained_with_a_strict_content_security_policy(journal: Journal) -> None:
    html = render_html(build_report(journal, RUN))
    parsed = _Tags()
    parsed.feed(html)
    links = [(tag, name, value) for tag, name, value in parsed.attributes if name in ("src", "href")]
    assert all(value.startswith(("#", "data:")) for _tag, _name, value in links), links
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "@import" not in html and "url(" not in html
    csp = next(
        v for t, n, v in parsed.attributes if t == "meta" and n == "content" and "default-src" in (v or "")
    )
    digest = base64.b64encode(hashlib.sha256(parsed.scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_banners_for_simulation_and_check_mode(tmp_path: Path) -> None:
    simulated = _journal(tmp_path / "a", simulated=1)
    assert 'id="simulation-banner"' in render_html(build_report(simulated, RUN))
    assert 'id="simulation-banner"' not in render_html(build_report(simulated, RUN, simulated=False))
    simulated.close()
    real = _journal(tmp_path / "b", simulated=0, check=True)
    html = render_html(build_report(real, RUN))
    real.close()
    assert 'id="simulation-banner"' not in html and 'id="check-banner"' in html


def test_checklist_lists_signatures_evidence_and_what_is_missing(journal: Journal) -> None:
    doc = build_report(journal, RUN)
    states = {(i["item"], i["host"]): (i["state"], i["ok"]) for i in doc["checklist"]}
    assert states == {
        ("client sign-off", "db1"): ("signed", True),
        ("web sign-off", HOSTILE_HOST): ("refused", False),
        ("final sign-off", HOSTILE_HOST): ("unsigned", False),
        ("smoke test login", "db1"): ("passed", True),
        ("20 random companies match", "db1"): ("failed", False),
    }
    signed = next(i for i in doc["checklist"] if i["state"] == "signed")
    assert (signed["by"], signed["at"], signed["comment"]) == ("carol", _at(4), "go")
    html = render_html(doc)
    rows = re.findall(r'<tr class="check-item (good|bad)">', html)
    assert sorted(rows) == ["bad", "bad", "bad", "good", "good"]


# --- the command -------------------------------------------------------------------------------


def test_report_command_writes_each_format(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    state = str(tmp_path / "state")
    out = tmp_path / "r.json"
    assert main(["report", RUN[:12], "--format", "json", "-o", str(out), "--state-dir", state]) == 0
    assert _validate_json(json.loads(out.read_text())) == []
    assert main(["report", "last", "--format", "junit", "--state-dir", state]) == 0
    junit = ET.parse(tmp_path / "state" / "reports" / RUN / "junit.xml").getroot()
    assert junit.tag == "testsuites" and junit.get("tests") == str(len(STEPS))
    capsys.readouterr()
    assert main(["report", RUN, "--state-dir", state, "-o", "-"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("<!DOCTYPE html>") and f"--state-dir {state}" in printed


def test_report_command_explains_bad_input(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["report", "nope", "--state-dir", str(tmp_path / "state")]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["report", RUN, "--state-dir", str(tmp_path / "elsewhere")]) == 2
    err = capsys.readouterr().err
    assert "no journal at" in err and "Traceback" not in err
    assert not (tmp_path / "elsewhere").exists()
