"""The journal: every run, node transition, result, artifact, finding and gate answer, durably.

By default SQLite in WAL mode at `.cutover/runs.db`; with `CUTOVER_JOURNAL_URL` a PostgreSQL
database shared by a fleet (see engine.journal.backends). The executor commits a node's end
before any node that depends on it starts, so a crash at any instant loses nothing that was
recorded done; `resume` and `rollback --from-run` read it. SQLite's WAL with synchronous=NORMAL
survives a killed process (the case that matters here); only a power loss could cost the last
commit. PostgreSQL commits synchronously. Everything written is masked by the run's Masker
first: secrets never reach the journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.api.module import Artifact, Finding, utcnow
from engine.journal.backends import Backend, Cursor, open_backend
from engine.journal.faults import translated
from engine.journal.schema_sql import SCHEMA_VERSION

__all__ = ["DONE", "FINAL", "SCHEMA_VERSION", "Journal"]

DONE = frozenset({"ok", "changed", "skipped", "would-change"})
FINAL = DONE | {"failed", "blocked"}


#: estate -> the run this process started or resumed last for it (one run per estate at a time:
#: the estate lock). A gatekeeper asks it which run a gate belongs to (engine.journal.gates).
_RUNNING_HERE: dict[str, str] = {}


def run_in_this_process(estate: str) -> str | None:
    """The run of `estate` this process started or resumed, if any."""
    return _RUNNING_HERE.get(estate)


def _as_is(value: Any) -> Any:
    """No masking: what `Journal._mask` does when no secret is known, without asking again."""
    return value


#: one encoder for every row: `json.dumps` with options builds a new JSONEncoder per call, and a
#: step writes up to three JSON fields
_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is dict and not value:  # a step without facts: most of them
        return "{}"
    return _encode(value)


def _run_many(db: Cursor, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """One statement for many rows: `executemany` where the cursor has it (SQLite), else a loop."""
    many = getattr(db, "executemany", None)
    if many is not None:
        many(sql, rows)
    else:
        for row in rows:
            db.execute(sql, row)


_NODE_STARTED = (
    "INSERT INTO nodes (run_id, node_id, host, task, module, location, play, status, started, attempts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, 1)"
    " ON CONFLICT (run_id, node_id) DO UPDATE SET status='running', started=excluded.started,"
    " attempts = nodes.attempts + 1, error = NULL"
)
_NODE_ENDED = (
    "INSERT INTO nodes (run_id, node_id, host, task, module, location, play, status, started, ended,"
    " duration, attempts, result, facts, diff, error, msg) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (run_id, node_id) DO UPDATE SET status=excluded.status, ended=excluded.ended,"
    " duration=excluded.duration, attempts=excluded.attempts, result=excluded.result,"
    " facts=excluded.facts, diff=excluded.diff, error=excluded.error, msg=excluded.msg"
)
_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?, ?)"


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Journal:
    """The journal of one state dir (or of the fleet's database); safe to use from several threads."""

    def __init__(self, path: str | Path, masker: Any = None, url: str | None = None):
        self.path = Path(path)
        #: the run this journal records now (started or resumed here): a fault's hint names its resume
        self.recording: str | None = None
        with translated(self.path):  # a journal fault is an answer (engine/journal/faults.py)
            self.backend: Backend = open_backend(self.path, url)
        self.masker = masker

    @property
    def kind(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.backend.kind

    def describe(self) -> str:
        """Where this journal is (a path, or the database URL without its password)."""
        return self.backend.describe()

    def close(self) -> None:
        self.backend.close()

    def mask(self, value: Any) -> Any:
        """`value` with every secret known to the run's Masker hidden (what the journal may keep)."""
        return self._mask(value)

    def _mask(self, value: Any) -> Any:
        # No secret known yet (most runs without vault values): nothing to mask, no copy to make.
        if self.masker is None or not len(self.masker):
            return value
        return self.masker.mask(value)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """Several writes committed together (the ends of nodes that finished at once)."""
        with translated(self.path, self.recording), self.backend.transaction() as db:
            yield db

    # --- runs ----------------------------------------------------------------------------------
    def start_run(self, run_id: str, **fields: Any) -> None:
        fields = {k: (_dumps(self._mask(v)) if k in ("args", "notes", "plan") else v) for k, v in fields.items()}
        cols = ["id", "status", "started", *fields]
        values = [run_id, "running", utcnow(), *fields.values()]
        with self.transaction() as db:
            db.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        self.recording = run_id
        if fields.get("estate"):
            _RUNNING_HERE[str(fields["estate"])] = run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "notes" in fields:
            fields["notes"] = _dumps(self._mask(fields["notes"]))
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])
        if fields.get("status") == "running":  # resumed by this process
            self.recording = run_id
            row = self._one("SELECT estate FROM runs WHERE id = ?", (run_id,))
            if row and row["estate"]:
                _RUNNING_HERE[str(row["estate"])] = run_id

    def run(self, run_id: str, with_plan: bool = True) -> dict[str, Any] | None:
        """The run's row; `with_plan=False` leaves out its plan, whose JSON holds every node (at
        1,000 hosts x 50 steps, decoding it took longer than the rest of the run's end)."""
        row = self._one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row:
            row["args"] = _loads(row["args"])
            row["notes"] = _loads(row["notes"]) or []
            if with_plan:
                row["plan"] = _loads(row.get("plan"))
            else:
                row.pop("plan", None)
        return row

    def find_run(self, prefix: str) -> dict[str, Any] | None:
        """A run by id or unique id prefix, or `last`."""
        if prefix == "last":
            row = self._one("SELECT id FROM runs WHERE COALESCE(kind, '') != 'unlock'"
                            " ORDER BY started DESC, rowid DESC LIMIT 1", ())  # an unlock is no run to resume
        else:
            rows = self._all("SELECT id FROM runs WHERE id LIKE ? ORDER BY started", (prefix + "%",))
            row = rows[0] if len(rows) == 1 else None
        return self.run(row["id"]) if row else None

    def runs(self, limit: int = 50, campaign: str | None = None) -> list[dict[str, Any]]:
        """The newest runs first; with `campaign`, only the runs of that campaign's estates."""
        if campaign is None:
            return self._all("SELECT * FROM runs ORDER BY started DESC, rowid DESC LIMIT ?", (limit,))
        return self._all(
            "SELECT * FROM runs WHERE id IN (SELECT run_id FROM campaign_estates WHERE campaign = ?)"
            " ORDER BY started DESC, rowid DESC LIMIT ?",
            (campaign, limit),
        )

    # --- nodes ---------------------------------------------------------------------------------
    def node_started(self, db: Cursor, run_id: str, node: Any, at: str) -> None:
        self.nodes_started(db, run_id, [node], at)

    def nodes_started(self, db: Cursor, run_id: str, nodes: list[Any], at: str) -> None:
        """The starts of `nodes` at `at`: two statements for all of them (`executemany`)."""
        _run_many(
            db,
            _NODE_STARTED,
            [
                (run_id, n.id, n.host, n.label, n.task.module if n.task else None, n.location, n.play, at)
                for n in nodes
            ],
        )
        _run_many(db, _EVENT, [(run_id, n.id, at, "running", None) for n in nodes])

    def node_ended(self, db: Cursor, run_id: str, node: Any, outcome: Any) -> None:
        """Record a node's end with its result, artifacts, findings and gate answer."""
        self.nodes_ended(db, run_id, [(node, outcome)])

    def nodes_ended(self, db: Cursor, run_id: str, ended: list[tuple[Any, Any]]) -> None:
        """The ends of several nodes in the caller's transaction: their rows and events sent with
        one statement each (`executemany`), then each one's artifacts, findings and gate."""
        # one look at the masker per wake-up, not one per field (most runs know no secret)
        mask = self._mask if self.masker is not None and len(self.masker) else _as_is
        rows, events = [], []
        for node, outcome in ended:
            error = mask(outcome.error)
            rows.append(
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
                    _dumps(mask(outcome.registered)),
                    _dumps(mask(outcome.facts)),
                    _dumps(mask(outcome.diff)),
                    error,
                    mask(outcome.msg),
                )
            )
            events.append((run_id, node.id, outcome.ended, outcome.status, error))
        _run_many(db, _NODE_ENDED, rows)
        _run_many(db, _EVENT, events)
        for node, outcome in ended:
            if outcome.artifacts or outcome.findings or outcome.gate is not None:
                self._node_extras(db, run_id, node, outcome)

    def _node_extras(self, db: Cursor, run_id: str, node: Any, outcome: Any) -> None:
        """A node's artifacts, findings and gate answer (few nodes have any)."""
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

    # --- queries for the other tables of the journal's database (gates, campaigns) --------------
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; SQL with `?` placeholders (translated for PostgreSQL)."""
        return self._all(sql, params)

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        return self._one(sql, params)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""
        with translated(self.path, self.recording):
            return self.backend.execute(sql, params)

    # --- helpers -------------------------------------------------------------------------------
    def _all(self, sql: str, params: Iterable[Any]) -> list[dict[str, Any]]:
        with translated(self.path, self.recording):
            return self.backend.query(sql, params)

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def integrity_ok(self) -> bool:
        return self.backend.healthy()
