"""The report's checklist lists each item once, and a skipped item as skipped (issue #22)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.api.module import Finding
from engine.report.checklist import checklist, item


def step(node_id: str, task: str, host: str, status: str, output: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "task": task, "host": host, "status": status, "module": "crm_checklist",
            "tags": ["checklist"], "output": output, "ended": "2026-01-01T10:00:00Z", **extra}  # fmt: skip


def finding(host: str, label: str, ok: bool, evidence: str) -> Finding:
    detail = {"item": label, "evidence": evidence, "ok": ok, "key": "k"}
    return Finding("checklist", f"{label}: {evidence}", "info" if ok else "error", host=host, detail=detail)


def states(items: list[dict[str, Any]]) -> list[tuple[str, str | None, str, bool]]:
    return [(i["item"], i["host"], i["state"], i["ok"]) for i in items]


def test_a_check_step_and_its_own_finding_are_one_item_with_the_findings_verdict() -> None:
    label = "Data integrity: random sample of 20 company records"
    nodes = [
        step("n1", "Checklist: 20 company records", "crm2", "ok", {"item": label, "ok": False}),
        step("n2", "Checklist: version", "crm2", "ok", {"item": "Version", "ok": True}),
    ]
    findings = [
        finding("crm2", label, False, "no queryable backup from before the upgrade"),
        finding("crm2", "Version", True, "registry 7.3, database 7.3"),
    ]
    items = checklist(nodes, [], findings)
    assert states(items) == [(label, "crm2", "failed", False), ("Version", "crm2", "passed", True)]
    assert (
        items[0]["node_id"] == "n1" and items[0]["evidence"] == "no queryable backup from before the upgrade"
    )


def test_a_finding_is_matched_on_its_own_host_only() -> None:
    nodes = [step("a", "Checklist: login", "web1", "ok", {"item": "Login works"})]
    findings = [finding("web2", "Login works", False, "503"), finding("web1", "Login works", True, "200")]
    assert states(checklist(nodes, [], findings)) == [
        ("Login works", "web1", "passed", True),
        ("Login works", "web2", "failed", False),  # a finding of no tagged step stays an item of its own
    ]


def test_a_skipped_check_is_skipped_not_failed() -> None:
    nodes = [
        step("s1", "Checklist: library location", "crm1", "skipped", msg="condition is false"),
        step("s2", "Checklist: services running", "crm1", "failed", error="service.get: timed out"),
        step("s3", "Checklist: upgrade log", "crm1", "blocked"),
    ]
    items = checklist(nodes, [], [])
    assert states(items) == [
        ("Checklist: library location", "crm1", "skipped", False),
        ("Checklist: services running", "crm1", "failed", False),
        ("Checklist: upgrade log", "crm1", "not-run", False),
    ]
    assert items[0]["evidence"] == "step skipped: condition is false"


def test_a_gate_skipped_by_its_condition_is_skipped_and_a_blocked_one_unsigned() -> None:
    gate = {"module": "gate", "tags": ["checklist"], "host": "crm2"}
    nodes = [
        {**gate, "id": "g1", "task": "Data integrity", "status": "skipped", "msg": "condition is false"},
        {**gate, "id": "g2", "task": "Client sign-off", "status": "blocked"},
    ]
    assert states(checklist(nodes, [], [])) == [
        ("Data integrity", "crm2", "skipped", False),
        ("Client sign-off", "crm2", "unsigned", False),
    ]


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of"):
        item("x", "automated", "half-done")
