"""Journal faults are answers: one line naming the file and what to do, exit 2 or 3, nothing run.

Real SQLite produces every fault here (a file that is not a database, a truncated one, a bad
page, a full database via `PRAGMA max_page_count`, a read-only connection, a lock held by another
connection); the texts are SQLite's result-code messages (https://www.sqlite.org/rescode.html).
The tests run as root on this machine, where file modes do not stop writes, so a read-only state
directory is met through a read-only SQLite connection (the same SQLITE_READONLY).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.core.errors import RefusedError, UserError
from engine.journal.faults import answer, translated
from engine.journal.store import Journal
from tests.support.runs import local_inventory, run_cli


def estate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A one-step playbook that leaves a file behind when it runs."""
    marker = tmp_path / "ran"
    inventory = local_inventory(tmp_path / "inventory.yml", ["here"])
    playbook = tmp_path / "site.yml"
    playbook.write_text(f"- hosts: all\n  tasks:\n    - name: touch\n      command: touch {marker}\n",
                        encoding="utf-8")  # fmt: skip
    return playbook, inventory, marker


def run(tmp_path: Path, *extra: str):
    playbook, inventory, _ = estate(tmp_path)
    return run_cli(["run", str(playbook), "-i", str(inventory), "--no-report", *extra], tmp_path)


def one_line_answer(result, rc: int, *words: str) -> None:
    assert result.rc == rc, result.err + result.out
    assert "Traceback" not in result.err + result.out
    for word in words:
        assert word in result.err, result.err


def test_a_state_path_that_is_a_file_is_named_and_nothing_runs(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a folder")
    result = run(tmp_path, "--state-dir", str(tmp_path / "state"))
    one_line_answer(result, 2, f"the state directory {tmp_path / 'state'} cannot be made", "is a file, not a folder")
    assert not (tmp_path / "ran").exists()


def test_a_journal_that_is_not_a_database_is_named_and_nothing_runs(tmp_path: Path) -> None:
    (tmp_path / ".cutover").mkdir()
    (tmp_path / ".cutover" / "runs.db").write_bytes(b"these are my notes, not a journal\n" * 200)
    result = run(tmp_path)
    one_line_answer(result, 2, "runs.db is not a cutover journal (not an SQLite database)", "cutover journal check")
    assert not (tmp_path / "ran").exists()
    checked = run_cli(["journal", "check"], tmp_path)
    one_line_answer(checked, 2, "is not a cutover journal")


def _a_journal(tmp_path: Path) -> Path:
    assert run(tmp_path).rc == 0
    (tmp_path / "ran").unlink()
    path = tmp_path / ".cutover" / "runs.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def test_journal_check_says_whole_for_a_whole_journal(tmp_path: Path) -> None:
    _a_journal(tmp_path)
    checked = run_cli(["journal", "check"], tmp_path)
    assert checked.rc == 0, checked.err
    assert checked.out.startswith(f"journal {Path('.cutover') / 'runs.db'}: whole; 1 run(s), the last ")
    assert "(succeeded)" in checked.out


def test_a_bad_page_is_found_by_journal_check_and_stops_a_run(tmp_path: Path) -> None:
    path = _a_journal(tmp_path)
    with sqlite3.connect(path) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'nodes'").fetchone()[0]
    with open(path, "r+b") as handle:  # the nodes table's root page: garbage over its header
        handle.seek((root - 1) * page)
        handle.write(b"\xff" * 64)
    checked = run_cli(["journal", "check"], tmp_path)
    one_line_answer(checked, 2, "runs.db is damaged", ".recover")
    result = run(tmp_path)
    one_line_answer(result, 2, "runs.db is damaged (database disk image is malformed)", "cutover journal check")
    assert not (tmp_path / "ran").exists()


def test_a_truncated_journal_is_named(tmp_path: Path) -> None:
    path = _a_journal(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    result = run(tmp_path)
    one_line_answer(result, 2, "runs.db is damaged", "cutover journal check")
    assert not (tmp_path / "ran").exists()


def test_a_full_journal_is_an_answer_naming_the_file_and_free_space(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    journal = Journal(path)
    try:
        pages = journal.backend.db.execute("PRAGMA page_count").fetchone()[0]
        journal.backend.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL from the next page on
        with pytest.raises(UserError) as full:
            journal.start_run("r1", estate="e", notes=["x" * 100_000])
    finally:
        journal.close()
    assert f"journal {path}: the disk is full" in str(full.value)
    assert "free space on the file system of" in full.value.render()


def test_a_read_only_journal_and_a_locked_one_are_answers(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    Journal(path).close()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as ro, pytest.raises(UserError) as read_only:  # noqa: SIM117
        with translated(path):
            ro.execute("CREATE TABLE t (x)")
    assert f"journal {path} cannot be written (a read-only file or file system)" in str(read_only.value)

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        other = sqlite3.connect(path, timeout=0)
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("INSERT INTO meta VALUES ('k', 'v')")
        other.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    locked = answer(busy.value, path)
    assert isinstance(locked, RefusedError) and locked.exit_code == 3
    assert f"journal {path} is locked by another cutover process" in str(locked)
