"""What machines read from a run: the JSON-lines events (checked against the published schema) and
the JUnit XML (parsed with junitparser, as GitLab and Jenkins read it: suites, cases, failures, skips).

Both come from real runs of a small local playbook with an ok step, a skipped one, a failure and
the steps it blocks; nothing is hand-made.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from engine.load.vault.keyring import encrypt_text
from engine.schemas.generate import SCHEMA_DIR
from tests.support.runs import run_cli, write_yaml

EVENTS = json.loads((SCHEMA_DIR / "events.schema.json").read_text())


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two local hosts; the secret is a vault value (what the masker knows to hide)."""
    sealed = "".join(f"    {line}\n" for line in encrypt_text("hunter2", "pw").splitlines())
    (tmp_path / "inv.yml").write_text("estate: test\nvars:\n  db_password: !vault |\n" + sealed +
                                      "hosts:\n  h1: {connection: local}\n  h2: {connection: local}\n")
    monkeypatch.setenv("CUTOVER_VAULT_PASSWORD", "pw")
    write_yaml(tmp_path / "pb.yml", [{"name": "play", "hosts": "all", "on_failure": "continue", "tasks": [
        {"name": "hello", "debug": {"msg": "hello {{ inventory_hostname }}"}},
        {"name": "only on h2", "debug": {"msg": "x"}, "when": "inventory_hostname == 'h2'"},
        {"name": "break h1", "fail": {"msg": "h1 is broken: {{ db_password }}"},
         "when": "inventory_hostname == 'h1'"},
        {"name": "after", "debug": {"msg": "after"}},
    ]}])
    return tmp_path


def test_every_jsonl_line_is_valid_against_the_events_schema(estate):
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--output", "jsonl", "--no-report"], estate)
    assert result.rc == 1, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    validator = jsonschema.Draft202012Validator(EVENTS)
    for event in events:
        errors = list(validator.iter_errors(event))
        assert not errors, (event, [e.message for e in errors])
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_ended" and kinds.count("node_ended") == 8
    ended = {(e["host"], e["task"]): e for e in events if e["event"] == "node_ended"}
    assert ended[("h1", "break h1")]["status"] == "failed" and ended[("h1", "only on h2")]["status"] == "skipped"
    assert ended[("h1", "after")]["status"] == "blocked" and events[-1]["status"] == "failed"
    assert ended[("h2", "after")]["status"] == "ok" and events[-1]["counts"] == {"ok": 4, "skipped": 2, "failed": 1,
                                                                                 "blocked": 1}
    assert "hunter2" not in result.out and "h1 is broken: ********" in result.out
    assert not validator.is_valid({**events[-1], "status": "fine"})  # the schema can fail


def test_junit_is_what_gitlab_and_jenkins_parse(estate):
    assert run_cli(["run", "pb.yml", "-i", "inv.yml"], estate).rc == 1
    (report,) = (estate / ".cutover" / "reports").glob("*/junit.xml")
    xml = JUnitXml.fromfile(str(report))
    suites = {suite.name: suite for suite in xml}
    assert sorted(suites) == ["h1", "h2"]
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (8, 1, 0, 3)
    h1 = {case.name: case for case in suites["h1"]}
    assert all(case.classname == "h1" for case in h1.values())
    failure = h1["break h1"].result[0]
    assert isinstance(failure, Failure) and failure.message == "h1 is broken: ********"
    assert isinstance(h1["after"].result[0], Skipped) and "blocked" in h1["after"].result[0].message
    assert isinstance(h1["only on h2"].result[0], Skipped)
    assert next(case for case in suites["h2"] if case.name == "after").is_passed
    assert h1["hello"].is_passed and not any(isinstance(r, Error) for c in h1.values() for r in c.result)
    assert "hunter2" not in report.read_text()
