"""The journal: every run, node transition, result, artifact, finding and gate answer, durably.

SQLite in WAL mode at `.cutover/runs.db`. The executor commits a node's end before any node
that depends on it starts, so a crash at any instant loses nothing that was recorded done;
`resume` and `rollback --from-run` read it. WAL with synchronous=NORMAL survives a killed
process (the case that matters here); only a power loss could cost the last commit.
Everything written is masked by the run's Masker first: secrets never reach this file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.api.module import Artifact, Finding, utcnow

SCHEMA_VERSION = 1
DONE = frozenset({"ok", "changed", "skipped", "would-change"})
FINAL = DONE | {"failed", "blocked"}

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, playbook TEXT, inventory TEXT, estate TEXT,
    playbook_hash TEXT, inventory_hash TEXT, operator TEXT, controller TEXT, pid INTEGER,
    args TEXT, check_mode INTEGER, status TEXT, started TEXT, ended TEXT,
    parent_run TEXT, kind TEXT, notes TEXT, resumes INTEGER DEFAULT 0,
    plan TEXT, simulated INTEGER DEFAULT 0, allow_unprotected INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT, node_id TEXT, host TEXT, task TEXT, module TEXT, location TEXT, play INTEGER,
    status TEXT, started TEXT, ended TEXT, duration REAL, attempts INTEGER DEFAULT 0,
    result TEXT, facts TEXT, diff TEXT, error TEXT, msg TEXT,
    PRIMARY KEY (run_id, node_id));
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT, node_id TEXT, at TEXT, status TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT, node_id TEXT, kind TEXT, resource TEXT, location TEXT, host TEXT,
    size INTEGER, sha256 TEXT, verified INTEGER, meta TEXT, taken_at TEXT);
CREATE TABLE IF NOT EXISTS findings (
    run_id TEXT, node_id TEXT, category TEXT, severity TEXT, host TEXT, message TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS gates (
    run_id TEXT, node_id TEXT, gate_id TEXT, approved INTEGER, by_whom TEXT, at TEXT, comment TEXT);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts(run_id);
"""


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Journal:
    """One SQLite connection used from the scheduler thread (writes are serialised by a lock)."""

    def __init__(self, path: str | Path, masker: Any = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_DDL)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self.lock = threading.RLock()
        self.masker = masker
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    def close(self) -> None:
        self.db.close()

    def _mask(self, value: Any) -> Any:
        # No secret known yet (most runs without vault values): nothing to mask, no copy to make.
        if self.masker is None or not len(self.masker):
            return value
        return self.masker.mask(value)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several writes committed together (the ends of nodes that finished at once)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # --- runs ----------------------------------------------------------------------------------
    def start_run(self, run_id: str, **fields: Any) -> None:
        fields = {k: (_dumps(self._mask(v)) if k in ("args", "notes", "plan") else v) for k, v in fields.items()}
        cols = ["id", "status", "started", *fields]
        values = [run_id, "running", utcnow(), *fields.values()]
        with self.transaction() as db:
            db.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "notes" in fields:
            fields["notes"] = _dumps(self._mask(fields["notes"]))
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row:
            row["args"] = _loads(row["args"])
            row["notes"] = _loads(row["notes"]) or []
            row["plan"] = _loads(row.get("plan"))
        return row

    def find_run(self, prefix: str) -> dict[str, Any] | None:
        """A run by id or unique id prefix, or `last`."""
        if prefix == "last":
            row = self._one("SELECT id FROM runs ORDER BY started DESC, rowid DESC LIMIT 1", ())
        else:
            rows = self._all("SELECT id FROM runs WHERE id LIKE ? ORDER BY started", (prefix + "%",))
            row = rows[0] if len(rows) == 1 else None
        return self.run(row["id"]) if row else None

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM runs ORDER BY started DESC, rowid DESC LIMIT ?", (limit,))

    # --- nodes ---------------------------------------------------------------------------------
    def node_started(self, db: sqlite3.Connection, run_id: str, node: Any, at: str) -> None:
        task = node.task
        db.execute(
            "INSERT INTO nodes (run_id, node_id, host, task, module, location, play, status, started, attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, 1)"
            " ON CONFLICT (run_id, node_id) DO UPDATE SET status='running', started=excluded.started,"
            " attempts = attempts + 1, error = NULL",
            (
                run_id,
                node.id,
                node.host,
                node.label,
                task.module if task else None,
                node.location,
                node.play,
                at,
            ),
        )
        db.execute("INSERT INTO events VALUES (?, ?, ?, 'running', NULL)", (run_id, node.id, at))

    def node_ended(self, db: sqlite3.Connection, run_id: str, node: Any, outcome: Any) -> None:
        """Record a node's end with its result, artifacts, findings and gate answer."""
        result = self._mask(outcome.registered)
        db.execute(
            "INSERT INTO nodes (run_id, node_id, host, task, module, location, play, status, started, ended,"
            " duration, attempts, result, facts, diff, error, msg) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (run_id, node_id) DO UPDATE SET status=excluded.status, ended=excluded.ended,"
            " duration=excluded.duration, attempts=excluded.attempts, result=excluded.result,"
            " facts=excluded.facts, diff=excluded.diff, error=excluded.error, msg=excluded.msg",
            (
                run_id,
                node.id,
                node.host,
                node.label,
                node.task.module if node.task else None,
                node.location,
                node.play,
                outcome.status,
                outcome.started,
                outcome.ended,
                outcome.duration,
                outcome.attempts,
                _dumps(result),
                _dumps(self._mask(outcome.facts)),
                _dumps(self._mask(outcome.diff)),
                self._mask(outcome.error),
                self._mask(outcome.msg),
            ),
        )
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (run_id, node.id, outcome.ended, outcome.status, self._mask(outcome.error)),
        )
        for art in outcome.artifacts:
            db.execute(
                "INSERT INTO artifacts VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    node.id,
                    art.kind,
                    art.resource,
                    art.location,
                    art.host,
                    art.size,
                    art.sha256,
                    int(art.verified),
                    _dumps(self._mask(art.meta)),
                    art.taken_at,
                ),
            )
        for f in outcome.findings:
            db.execute(
                "INSERT INTO findings VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    node.id,
                    f.category,
                    f.severity,
                    f.host,
                    self._mask(f.message),
                    _dumps(self._mask(f.detail)),
                ),
            )
        if outcome.gate is not None:
            g = outcome.gate
            db.execute(
                "INSERT INTO gates VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    node.id,
                    g.get("id"),
                    int(bool(g.get("approved"))),
                    g.get("by"),
                    g.get("at"),
                    self._mask(g.get("comment")),
                ),
            )

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM nodes WHERE run_id = ? ORDER BY started, rowid", (run_id,))
        for r in rows:
            for key in ("result", "facts", "diff"):
                r[key] = _loads(r[key])
        return rows

    def done_nodes(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {r["node_id"]: r for r in self.nodes(run_id) if r["status"] in DONE}

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM events WHERE run_id = ? ORDER BY rowid", (run_id,))

    # --- artifacts, findings, gates ------------------------------------------------------------
    def artifacts(self, run_id: str) -> list[Artifact]:
        out = []
        for r in self._all("SELECT * FROM artifacts WHERE run_id = ? ORDER BY rowid", (run_id,)):
            out.append(
                Artifact(
                    kind=r["kind"],
                    resource=r["resource"],
                    location=r["location"],
                    host=r["host"],
                    size=r["size"],
                    sha256=r["sha256"],
                    verified=bool(r["verified"]),
                    meta=_loads(r["meta"]) or {},
                    taken_at=r["taken_at"],
                )
            )
        return out

    def artifact_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM artifacts WHERE run_id = ? ORDER BY rowid", (run_id,))

    def findings(self, run_id: str) -> list[Finding]:
        return [
            Finding(
                category=r["category"],
                message=r["message"],
                severity=r["severity"],
                host=r["host"],
                detail=_loads(r["detail"]) or {},
            )
            for r in self._all("SELECT * FROM findings WHERE run_id = ? ORDER BY rowid", (run_id,))
        ]

    def gates(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM gates WHERE run_id = ? ORDER BY rowid", (run_id,))

    # --- helpers -------------------------------------------------------------------------------
    def _all(self, sql: str, params: Iterable[Any]) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.db.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def integrity_ok(self) -> bool:
        with self.lock:
            return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
