"""The journal's batched writes: the ends and starts of one scheduler wake-up in one transaction,
row for row what one `node_ended`/`node_started` per node wrote, masked; and the run's row read
without its plan (the run's end does not decode the plan of every node)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from engine.api.module import Artifact, Finding
from engine.core.secrets import SECRET_PLACEHOLDER, Masker
from engine.execute.outcome import NodeOutcome
from engine.journal.store import Journal

RUN = "20261204-210000-fleet1"
SECRET = "s3cret-Pa55"


def _node(node_id: str, host: str) -> SimpleNamespace:
    return SimpleNamespace(
        id=node_id,
        host=host,
        label=f"task of {node_id}",
        task=SimpleNamespace(module="stat"),
        location="playbook.yml:3:7",
        play=0,
    )


def _ended(status: str, at: str, **extra: Any) -> NodeOutcome:
    return NodeOutcome(
        status, started="2026-12-04T21:00:00+00:00", ended=at, duration=0.5, attempts=1, **extra
    )


def _rows(journal: Journal, table: str) -> list[dict[str, Any]]:
    return journal.query(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY rowid", (RUN,))


def test_a_wake_up_is_journaled_in_one_transaction_row_for_row_and_masked(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "runs.db", Masker([SECRET]))
    journal.start_run(RUN, playbook="playbook.yml", plan={"steps": []})
    a, b, c = _node("s0@h1", "h1"), _node("s0@h2", "h2"), _node("s1@h1", "h1")
    with journal.transaction() as db:
        journal.nodes_started(db, RUN, [a, b], "2026-12-04T21:00:00+00:00")
    art = Artifact(
        kind="file_backup",
        resource="C:\\app",
        location="C:\\bak\\app.zip",
        host="h2",
        size=3,
        sha256="ab" * 32,
        verified=True,
        meta={"token": SECRET},
    )
    with journal.transaction() as db:
        journal.nodes_ended(
            db,
            RUN,
            [
                (a, _ended("ok", "2026-12-04T21:00:01+00:00", registered={"exists": True}, facts={})),
                (
                    b,
                    _ended(
                        "failed",
                        "2026-12-04T21:00:02+00:00",
                        error=f"login {SECRET} refused",
                        registered={"msg": SECRET},
                        artifacts=[art],
                        findings=[Finding(category="log", message=f"saw {SECRET}", host="h2")],
                    ),
                ),
            ],
        )
        journal.nodes_started(db, RUN, [c], "2026-12-04T21:00:01+00:00")

    nodes = {r["node_id"]: r for r in journal.nodes(RUN)}
    assert (nodes["s0@h1"]["status"], nodes["s0@h1"]["result"], nodes["s0@h1"]["facts"]) == (
        "ok",
        {"exists": True},
        {},
    )
    assert nodes["s0@h2"]["status"] == "failed" and nodes["s0@h2"]["attempts"] == 1
    assert nodes["s0@h2"]["error"] == f"login {SECRET_PLACEHOLDER} refused"
    assert nodes["s0@h2"]["result"] == {"msg": SECRET_PLACEHOLDER}
    assert (nodes["s1@h1"]["status"], nodes["s1@h1"]["attempts"]) == ("running", 1)
    events = [(e["node_id"], e["status"], e["detail"]) for e in _rows(journal, "events")]
    assert events == [
        ("s0@h1", "running", None),
        ("s0@h2", "running", None),
        ("s0@h1", "ok", None),
        ("s0@h2", "failed", f"login {SECRET_PLACEHOLDER} refused"),
        ("s1@h1", "running", None),
    ]
    [saved] = journal.artifacts(RUN)
    assert (saved.location, saved.verified, saved.meta) == (
        "C:\\bak\\app.zip",
        True,
        {"token": SECRET_PLACEHOLDER},
    )
    assert [f.message for f in journal.findings(RUN)] == [f"saw {SECRET_PLACEHOLDER}"]
    assert SECRET not in (tmp_path / "runs.db").read_bytes().decode("utf-8", "replace")


def test_the_run_row_without_its_plan(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "runs.db")
    journal.start_run(RUN, playbook="playbook.yml", plan={"steps": [{"id": "s0@h1"}]}, notes=["n"])
    light = journal.run(RUN, with_plan=False)
    assert light is not None and "plan" not in light
    assert (light["playbook"], light["notes"], light["status"]) == ("playbook.yml", ["n"], "running")
    full = journal.run(RUN)
    assert full is not None and full["plan"] == {"steps": [{"id": "s0@h1"}]}
