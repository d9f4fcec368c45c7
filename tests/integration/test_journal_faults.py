"""Journal faults are answers: one line naming the file and what to do, exit 2 or 3, nothing run.

Real SQLite produces every fault here (a file that is not a database, a truncated one, a bad
page, a full database via `PRAGMA max_page_count`, a read-only connection, a lock held by another
connection); the texts are SQLite's result-code messages (https://www.sqlite.org/rescode.html).
The tests run as root on this machine, where file modes do not stop writes, so a read-only state
directory is met through a read-only SQLite connection (the same SQLITE_READONLY).
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.core.errors import RefusedError, UserError
from engine.journal.faults import answer, translated
from engine.journal.store import Journal
from tests.support.runs import first_to_end, local_inventory, run_cli, spawn_cli, write_yaml


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
    one_line_answer(
        result, 2, f"the state directory {tmp_path / 'state'} cannot be made", "is a file, not a folder"
    )
    assert not (tmp_path / "ran").exists()


def test_a_journal_that_is_not_a_database_is_named_and_nothing_runs(tmp_path: Path) -> None:
    (tmp_path / ".cutover").mkdir()
    (tmp_path / ".cutover" / "runs.db").write_bytes(b"these are my notes, not a journal\n" * 200)
    result = run(tmp_path)
    one_line_answer(
        result, 2, "runs.db is not a cutover journal (not an SQLite database)", "cutover journal check"
    )
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
    one_line_answer(
        result, 2, "runs.db is damaged (database disk image is malformed)", "cutover journal check"
    )
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


# --------------------------------------------------------------------------- through the CLI, on real file systems
# A full and a read-only file system are real ones here: a small tmpfs (`mount -t tmpfs -o size=`),
# filled up or remounted read-only (`mount -o remount,ro`), so SQLite meets ENOSPC and EROFS from
# the kernel itself (mount(8), tmpfs(5): "size: the limit of allocated bytes"). Mounting needs
# root (CAP_SYS_ADMIN), which the tests have on this machine; elsewhere they skip, saying so.
# File modes are no test as root (root writes through 0500), hence the mounts.


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextmanager
def small_filesystem(folder: Path, size: str = "1m", *options: str) -> Iterator[Path]:
    """`folder` as a tmpfs of `size` (more mount options after it), unmounted at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(folder))
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(
            f"cannot mount a tmpfs here (root and CAP_SYS_ADMIN needed): {getattr(err, 'stderr', err)}"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def fill(folder: Path) -> None:
    """Write into `folder` until its file system has no byte left (ENOSPC), as a log or a dump would."""
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err


def steps_estate(tmp_path: Path, *shell: str) -> tuple[Path, Path]:
    """A playbook of one shell step per `shell` line on the controller, and its inventory."""
    inventory = local_inventory(tmp_path / "inventory.yml", ["here"])
    tasks = [{"name": f"step {n}", "shell": line} for n, line in enumerate(shell, 1)]
    playbook = write_yaml(tmp_path / "steps.yml", [{"hosts": "all", "tasks": tasks}])
    return playbook, inventory


def run_steps(tmp_path: Path, state: Path, *extra: str):
    return run_cli(["run", "steps.yml", "-i", "inventory.yml", "--no-report", "--state-dir", str(state), *extra],
                   tmp_path)  # fmt: skip


def first_line(result) -> str:
    return result.err.splitlines()[0] if result.err else ""


def test_a_missing_state_directory_is_made_with_its_parents_and_the_run_journaled_there(
    tmp_path: Path,
) -> None:
    steps_estate(tmp_path, f"touch {tmp_path / 'ran'}")
    state = tmp_path / "not" / "yet" / "state"

    result = run_steps(tmp_path, state)

    assert result.rc == 0, result.err + result.out
    assert (tmp_path / "ran").exists()
    journal = Journal(state / "runs.db")
    try:
        assert [r["status"] for r in journal.runs()] == ["succeeded"]
    finally:
        journal.close()


def test_a_state_directory_that_cannot_be_made_is_named_and_nothing_runs(tmp_path: Path) -> None:
    """/proc takes no new folder, even from root (proc(5)): mkdir answers ENOENT."""
    steps_estate(tmp_path, f"touch {tmp_path / 'ran'}")
    state = Path("/proc/cutover-no-such/state")

    result = run_steps(tmp_path, state)

    one_line_answer(result, 2)
    assert first_line(result) == (
        f"the state directory {state} is missing and cannot be made in /proc (No such file or directory)"
    ), result.err
    assert f"create {state} yourself, or point --state-dir" in result.err
    assert not (tmp_path / "ran").exists()


def test_a_state_directory_under_a_read_only_file_system_is_named_and_nothing_runs(tmp_path: Path) -> None:
    steps_estate(tmp_path, f"touch {tmp_path / 'ran'}")
    with small_filesystem(tmp_path / "ro", "1m", "ro") as ro:
        made_here = run_steps(tmp_path, ro)
        made_below = run_steps(tmp_path, ro / "sub" / "state")

    one_line_answer(made_here, 2, "make it writable by this user, or point --state-dir elsewhere")
    assert first_line(made_here) == f"the state directory {ro} cannot be written (Read-only file system)"
    one_line_answer(made_below, 2)
    assert first_line(made_below) == (
        f"the state directory {ro / 'sub' / 'state'} is missing and cannot be made in {ro} "
        "(Read-only file system)"
    )
    assert not (tmp_path / "ran").exists()


def test_a_journal_on_a_file_system_remounted_read_only_stops_the_run_before_any_step(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    steps_estate(tmp_path, f"echo once >> {marker}")
    with small_filesystem(tmp_path / "state", "4m") as state:
        assert run_steps(tmp_path, state).rc == 0
        _mount("-o", "remount,ro", str(state))

        refused = run_steps(tmp_path, state)

        _mount("-o", "remount,rw", str(state))
        journal = Journal(state / "runs.db")
        try:
            runs = journal.runs()
        finally:
            journal.close()
    one_line_answer(refused, 2, "make it writable by this user, or point --state-dir elsewhere")
    assert first_line(refused) == f"the state directory {state} cannot be written (Read-only file system)"
    assert marker.read_text() == "once\n", "the refused run ran no step"
    assert [r["status"] for r in runs] == ["succeeded"], "and recorded nothing"


@pytest.mark.parametrize("journal_before", [False, True], ids=["fresh", "journal-exists"])
def test_a_full_file_system_before_the_run_is_an_answer_and_nothing_runs(
    tmp_path: Path, journal_before: bool
) -> None:
    marker = tmp_path / "ran"
    steps_estate(tmp_path, f"echo once >> {marker}")
    with small_filesystem(tmp_path / "state", "1m") as state:
        if journal_before:
            assert run_steps(tmp_path, state).rc == 0
        fill(state)

        full = run_steps(tmp_path, state)

    one_line_answer(full, 2, f"free space on the file system of {state}, then run again")
    assert first_line(full) == f"journal {state / 'runs.db'}: the disk is full; nothing was run"
    assert marker.read_text() == "once\n" if journal_before else not marker.exists()


def test_a_disk_that_fills_during_a_run_stops_it_where_it_stands_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    """Step 1's output (3 MB) cannot be recorded on a 1 MB file system: the run stops there,
    step 2 never starts; with room again, `resume` (named in the hint) runs step 1 again and step 2."""
    first, second = tmp_path / "first", tmp_path / "second"
    steps_estate(tmp_path, f"echo ran >> {first}; head -c 3000000 /dev/zero | tr '\\0' x", f"touch {second}")
    with small_filesystem(tmp_path / "state", "1m") as state:
        full = run_steps(tmp_path, state)

        one_line_answer(full, 2)
        journal = Journal(state / "runs.db")
        try:
            [stopped] = journal.runs()
            done = journal.done_nodes(stopped["id"])
        finally:
            journal.close()
        assert first_line(full) == (
            f"journal {state / 'runs.db'}: the disk is full; nothing more can be recorded, "
            f"so run {stopped['id']} stopped"
        )
        assert f"free space on the file system of {state}, then `cutover resume {stopped['id']}`" in full.err
        assert not second.exists(), "nothing ran after the step whose end could not be recorded"
        assert done == {} and stopped["status"] != "succeeded"

        _mount("-o", "remount,size=16m", str(state))  # the operator frees space
        resumed = run_cli(["resume", stopped["id"], "--no-report", "--state-dir", str(state)], tmp_path)

        assert resumed.rc == 0, resumed.err + resumed.out
        journal = Journal(state / "runs.db")
        try:
            assert journal.run(stopped["id"])["status"] == "succeeded"
            assert len(journal.done_nodes(stopped["id"])) == 2
        finally:
            journal.close()
    assert first.read_text() == "ran\nran\n" and second.exists()


def test_two_real_starts_together_on_a_fresh_state_directory_one_runs_the_other_is_refused(
    tmp_path: Path,
) -> None:
    """Two `cutover run` processes started at once on an empty folder race for the journal's
    creation and the lock: whichever loses is told the holder (exit 3), never a traceback, and
    the estate sees one run. Repeated, so the race is met at different instants."""
    for round_ in range(4):
        work = tmp_path / f"round{round_}"
        ran, go = work / "ran", work / "go"
        steps_estate(work, f"echo $$ >> {ran}; while [ ! -e {go} ]; do sleep 0.05; done")
        args = ["run", "steps.yml", "-i", "inventory.yml", "--no-report"]
        both = [spawn_cli(args, work), spawn_cli(args, work)]
        try:
            refused = first_to_end(both)
        finally:
            go.write_text("go")
            outputs = [proc.communicate(timeout=120) for proc in both]
        codes = sorted(proc.returncode for proc in both)
        said = "".join(out + err for out, err in outputs)
        assert codes == [0, 3], f"round {round_}: {codes} {said}"
        assert "Traceback" not in said
        _, refused_err = outputs[both.index(refused)]
        assert "is locked by" in refused_err, refused_err
        assert len(ran.read_text().splitlines()) == 1, "the estate saw one run"
        journal = Journal(work / ".cutover" / "runs.db")
        try:
            assert [r["status"] for r in journal.runs()] == ["succeeded"]
        finally:
            journal.close()
