"""The journal's PostgreSQL backend: the same runs, resumes and reports as with SQLite.

A real PostgreSQL server (tests/support/dbservers.py) and real `cutover` runs: the same
playbook journaled in SQLite and in PostgreSQL must read back the same; a run killed mid-way
resumes from PostgreSQL without redoing what was done; the schema is migrated under a lock and a
newer one is refused; no password of the URL ever reaches a message.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.errors import CutoverError
from engine.journal.backends import redact, to_postgres
from engine.journal.store import Journal
from tests.support.dbservers import APP_PASSWORD, postgres_server  # noqa: F401 - fixture
from tests.support.fleet import cli_env, cutover, fleet_journal_url, wait_until
from tests.support.runs import local_inventory, run_cli

PLAYBOOK = """\
- name: upgrade
  hosts: all
  tasks:
    - name: back up
      archive: {path: "{{ work }}/site", dest: "{{ work }}/backups/{{ inventory_hostname }}.zip"}
    - name: say hello
      command: "echo hello from {{ inventory_hostname }}"
    - name: nap
      command: "sleep {{ nap | default(0) }}"
    - name: sign-off
      gate: {id: signoff, prompt: "ok?"}
    - name: marker
      command: "sh -c 'echo {{ inventory_hostname }} >> {{ work }}/marker.log'"
"""


def estate(work: Path) -> tuple[Path, Path]:
    (work / "site").mkdir(parents=True, exist_ok=True)
    (work / "site" / "index.php").write_text("<?php echo 1;")
    (work / "upgrade.yml").write_text(PLAYBOOK)
    return work / "upgrade.yml", local_inventory(work / "estate.yml", ["web1", "web2"], estate="acme")


def shown(work: Path, state: Path) -> dict:
    result = run_cli(["show", "last", "--json", "--state-dir", str(state)], work)
    assert result.rc == 0, result.err
    return json.loads(result.out)


def test_the_same_run_reads_back_the_same_from_sqlite_and_postgresql(tmp_path, postgres_server, monkeypatch):  # noqa: F811
    def args(work: Path) -> list[str]:
        playbook, inventory = estate(work)
        return ["run", str(playbook), "-i", str(inventory), "-e", f"work={work}", "--approve", "signoff=fine",
                "--operator", "alice"]

    assert run_cli([*args(tmp_path / "a"), "--state-dir", str(tmp_path / "lite")], tmp_path).rc == 0
    lite = shown(tmp_path, tmp_path / "lite")
    monkeypatch.setenv("CUTOVER_JOURNAL_URL", fleet_journal_url(postgres_server))
    assert run_cli([*args(tmp_path / "b"), "--state-dir", str(tmp_path / "pg")], tmp_path).rc == 0
    assert not (tmp_path / "pg" / "runs.db").exists(), "with a journal URL nothing goes to SQLite"
    pg = shown(tmp_path, tmp_path / "pg")

    def same(doc: dict, work: Path) -> dict:
        doc = json.loads(json.dumps(doc).replace(str(work), "WORK"))
        return {
            "run": {k: doc["run"][k] for k in ("status", "estate", "operator", "kind", "check_mode", "args")},
            "nodes": sorted((n["node_id"], n["status"], n["attempts"], n["task"]) for n in doc["nodes"]),
            "artifacts": sorted((a["kind"], a["resource"], a["verified"]) for a in doc["artifacts"]),
            "gates": [(g["gate_id"], g["approved"], g["by_whom"], g["comment"]) for g in doc["gates"]],
        }

    assert same(pg, tmp_path / "b") == same(lite, tmp_path / "a")
    assert same(pg, tmp_path / "b")["gates"] == [("signoff", 1, "alice", "fine")] * 2
    listed = run_cli(["runs", "--state-dir", str(tmp_path / "pg")], tmp_path)
    assert pg["run"]["id"] in listed.out and "succeeded" in listed.out
    report = run_cli(["report", "last", "--format", "json", "-o", "-", "--state-dir", str(tmp_path / "pg")], tmp_path)
    assert report.rc == 0 and json.loads(report.out)["run"]["id"] == pg["run"]["id"]


def test_a_run_killed_mid_way_resumes_from_postgresql_without_redoing_steps(tmp_path, postgres_server):  # noqa: F811
    playbook, inventory = estate(tmp_path)
    url = fleet_journal_url(postgres_server)
    proc = subprocess.Popen([sys.executable, "-m", "engine", "run", str(playbook), "-i", str(inventory),
                             "-e", f"work={tmp_path}", "-e", "nap=12", "--approve", "signoff",
                             "--state-dir", str(tmp_path / "state")], cwd=tmp_path, env=cli_env(url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = Journal(tmp_path / "unused.db", url=url)
    try:
        def napping() -> bool:
            rows = journal.query("SELECT task, status FROM nodes", ())
            return sum(1 for r in rows if r["task"] == "nap" and r["status"] == "running") == 2

        wait_until(napping, 120, "both hosts to be in their long step")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        run_id = journal.runs(1)[0]["id"]
        again = cutover(["resume", run_id, "--approve", "signoff", "--state-dir", str(tmp_path / "state")],
                        tmp_path, journal_url=url, timeout=180)
        assert again.returncode == 0, again.stderr
        run = journal.run(run_id)
        assert run["status"] == "succeeded" and run["resumes"] == 1
        started: dict[str, int] = {}
        for row in journal.query("SELECT node_id FROM events WHERE run_id = ? AND status = 'running'", (run_id,)):
            started[row["node_id"]] = started.get(row["node_id"], 0) + 1
        assert started["p0/0@web1"] == started["p0/1@web1"] == 1, "done before the kill: never started again"
        assert started["p0/2@web1"] == started["p0/2@web2"] == 2, "interrupted by the kill: run again"
        assert sorted((tmp_path / "marker.log").read_text().split()) == ["web1", "web2"]
    finally:
        journal.close()


def test_the_schema_is_created_once_and_a_newer_one_is_refused(postgres_server):  # noqa: F811
    url = fleet_journal_url(postgres_server)
    journals = [Journal("unused.db", url=url) for _ in range(3)]
    versions = journals[0].query("SELECT version FROM cutover_schema ORDER BY version", ())
    assert [v["version"] for v in versions] == [1, 2]
    journals[0].execute("INSERT INTO cutover_schema (version, description) VALUES (99, 'from the future')", ())
    for journal in journals:
        journal.close()
    with pytest.raises(CutoverError, match="schema 99, newer than this cutover knows"):
        Journal("unused.db", url=url)


def test_a_password_in_the_url_never_reaches_a_message(postgres_server, tmp_path):  # noqa: F811
    url = fleet_journal_url(postgres_server)
    assert APP_PASSWORD not in redact(url) and "***" in redact(url)
    bad = url.rsplit("/", 1)[0] + "/no_such_database"
    failed = cutover(["runs"], tmp_path, journal_url=bad)
    assert failed.returncode == 1 and "cannot reach the journal database" in failed.stderr
    assert APP_PASSWORD not in failed.stderr and "Traceback" not in failed.stderr


def test_placeholders_are_translated_outside_quoted_strings():
    sql = "SELECT * FROM t WHERE a = ? AND b LIKE 'x?%' AND c = 'it''s ?' ORDER BY rowid"
    assert to_postgres(sql) == "SELECT * FROM t WHERE a = %s AND b LIKE 'x?%' AND c = 'it''s ?' ORDER BY seq"
    assert to_postgres("SELECT 5 % 2") == "SELECT 5 %% 2"
