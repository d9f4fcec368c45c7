"""The journal's tables, for SQLite (one file per state dir) and PostgreSQL (shared by a fleet).

Both databases hold the same tables with the same columns, so `Journal` writes one SQL text for
both (the PostgreSQL backend only changes the placeholders and the row-order column):

- runs, nodes, events, artifacts, findings, gates: what every run did (schema 1);
- gate_requests, gate_answers: gates a run waits at, and the answers given from any terminal
  with `cutover approve` (schema 2);
- campaigns, campaign_estates: a fleet campaign and where each of its estates stands (schema 2);
- estate_leases: PostgreSQL only, the fleet's estate locks (a lease row renewed by heartbeats,
  its expiry judged by the database's clock so that workers' clocks do not matter).

SQLite keeps its implicit `rowid` for insertion order; the PostgreSQL tables get a `seq`
identity column for the same purpose. PostgreSQL's schema is versioned in `cutover_schema`,
one row per applied migration; SQLite's version is in `meta`.
"""

from __future__ import annotations

#: the newest schema this cutover writes; a database newer than this is refused
SCHEMA_VERSION = 2

_RUN_TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, playbook TEXT, inventory TEXT, estate TEXT,
    playbook_hash TEXT, inventory_hash TEXT, operator TEXT, controller TEXT, pid {bigint},
    args TEXT, check_mode INTEGER, status TEXT, started TEXT, ended TEXT,
    parent_run TEXT, kind TEXT, notes TEXT, resumes INTEGER DEFAULT 0,
    plan TEXT, simulated INTEGER DEFAULT 0, allow_unprotected INTEGER DEFAULT 0{seq});
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT, node_id TEXT, host TEXT, task TEXT, module TEXT, location TEXT, play INTEGER,
    status TEXT, started TEXT, ended TEXT, duration {real}, attempts INTEGER DEFAULT 0,
    result TEXT, facts TEXT, diff TEXT, error TEXT, msg TEXT{seq},
    PRIMARY KEY (run_id, node_id));
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT, node_id TEXT, at TEXT, status TEXT, detail TEXT{seq});
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT, node_id TEXT, kind TEXT, resource TEXT, location TEXT, host TEXT,
    size {bigint}, sha256 TEXT, verified INTEGER, meta TEXT, taken_at TEXT{seq});
CREATE TABLE IF NOT EXISTS findings (
    run_id TEXT, node_id TEXT, category TEXT, severity TEXT, host TEXT, message TEXT, detail TEXT{seq});
CREATE TABLE IF NOT EXISTS gates (
    run_id TEXT, node_id TEXT, gate_id TEXT, approved INTEGER, by_whom TEXT, at TEXT, comment TEXT{seq});
CREATE INDEX IF NOT EXISTS events_run ON events(run_id);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts(run_id);
"""

_FLEET_TABLES = """
CREATE TABLE IF NOT EXISTS gate_requests (
    run_id TEXT, gate_id TEXT, host TEXT, prompt TEXT, asked_at TEXT, controller TEXT{seq},
    PRIMARY KEY (run_id, gate_id));
CREATE TABLE IF NOT EXISTS gate_answers (
    run_id TEXT, gate_id TEXT, approved INTEGER, by_whom TEXT, at TEXT, comment TEXT, from_host TEXT{seq},
    PRIMARY KEY (run_id, gate_id));
CREATE TABLE IF NOT EXISTS campaigns (
    name TEXT PRIMARY KEY, file TEXT, workdir TEXT, backend TEXT, operator TEXT, state TEXT,
    concurrency INTEGER, stop_after_failures INTEGER, created TEXT, updated TEXT, reason TEXT,
    driver TEXT, driver_pid {bigint}, settings TEXT{seq});
CREATE TABLE IF NOT EXISTS campaign_estates (
    campaign TEXT, estate TEXT, position INTEGER, playbook TEXT, inventory TEXT, args TEXT,
    timezone TEXT, window_start TEXT, window_end TEXT, state TEXT, run_id TEXT, worker TEXT,
    reason TEXT, dispatched_at TEXT, dispatches INTEGER DEFAULT 0, started_at TEXT, ended_at TEXT{seq},
    PRIMARY KEY (campaign, estate));
CREATE INDEX IF NOT EXISTS campaign_estates_run ON campaign_estates(run_id);
"""

_LEASES = """
CREATE TABLE IF NOT EXISTS estate_leases (
    estate TEXT PRIMARY KEY, campaign TEXT, run_id TEXT, holder TEXT, token TEXT,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(), renewed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL);
"""

_SQLITE = {"bigint": "INTEGER", "real": "REAL", "seq": ""}
_POSTGRES = {"bigint": "BIGINT", "real": "DOUBLE PRECISION", "seq": ", seq BIGINT GENERATED ALWAYS AS IDENTITY"}

#: SQLite: the whole schema, idempotent (CREATE ... IF NOT EXISTS), run at every open
SQLITE_DDL = (_RUN_TABLES + _FLEET_TABLES).format(**_SQLITE)

#: PostgreSQL: (version, what it adds, SQL), applied in order and recorded in cutover_schema
POSTGRES_MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "run journal: runs, nodes, events, artifacts, findings, gates", _RUN_TABLES.format(**_POSTGRES)),
    (2, "fleet: gate requests and answers, campaigns, estate leases",
     _FLEET_TABLES.format(**_POSTGRES) + _LEASES),
)

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS cutover_schema (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
"""
