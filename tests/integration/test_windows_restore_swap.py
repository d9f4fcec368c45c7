"""A restore never leaves a server without its install folder, whatever fails on the way.

Before: the restore removed the live folder and then moved the extracted copy in; a failure in
between (the move refused, the connection lost) left no install at all. Now the copy is extracted
beside the live folder and checked, the live folder is renamed aside, the copy moved in and
checked, and the aside copy deleted last; a failure while the folders change places moves the
live folder back, and a run resumed after a crash finishes with its own folders. A rename that
Windows refuses because files are in use (ERROR_SHARING_VIOLATION, "The process cannot access the
file because it is being used by another process") fails before anything changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.api.module import Artifact, RunContext
from engine.connect.sim import SimConnection
from modules.windows.win_archive import work_folders
from tests.support.modharness import run_module
from tests.support.sim_hosts import sagecrm_server

SAGE = "C:\\Program Files (x86)\\Sage\\CRM"
CRM = f"{SAGE}\\CRM"
ZIP = "C:\\Backup\\crm.zip"
EXTRACT = {"path": CRM, "dest": ZIP, "state": "extracted"}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[SimConnection]:
    connection = sagecrm_server(tmp_path)
    yield connection
    connection.close()


def run_with(run_id: str, *artifacts: Artifact) -> RunContext:
    run = RunContext(run_id=run_id, operator="tester")
    for art in artifacts:
        run.artifacts.setdefault(art.resource, []).append(art)
    return run


def upgraded(conn: SimConnection) -> dict:
    """Back up the install folder, then change it as an upgrade would; (backup artifacts, state after)."""
    backup = run_module("win_archive", {"path": CRM, "dest": ZIP}, connection=conn)
    assert not backup.failed, backup.msg
    conn.sim.write_bytes(f"{CRM}\\eware.dll", b"eware.dll Sage CRM 7.3\n")
    return {"artifacts": backup.artifacts, "after_upgrade": conn.sim.snapshot(exclude=["C:\\Backup"])}


def install_files(conn: SimConnection) -> dict:
    return {k: v for k, v in conn.sim.snapshot()["files"].items() if k.startswith(CRM + "\\")}


def test_when_the_copy_cannot_be_moved_in_the_live_folder_is_put_back(conn) -> None:
    state = upgraded(conn)
    conn.sim.add_fault({"op": "file.move", "match": {"src": "*.new"}, "kind": "denied",
                        "error": "Access to the path is denied."})  # fmt: skip

    result = run_module("win_archive", EXTRACT, connection=conn, run=run_with("r1", *state["artifacts"]))

    assert result.failed
    assert "was put back as it was" in result.msg
    after = conn.sim.snapshot(exclude=["C:\\Backup"])
    assert {k: v for k, v in after["files"].items() if ".cutover-" not in k} == {
        k: v for k, v in state["after_upgrade"]["files"].items()
    }  # the install folder is there, as the upgrade left it
    assert conn.sim.read_bytes(f"{CRM}\\eware.dll") == b"eware.dll Sage CRM 7.3\n"


def test_files_in_use_refuse_the_rename_and_nothing_changes(conn) -> None:
    state = upgraded(conn)
    conn.sim.add_fault({"op": "file.move", "match": {"src": CRM}, "kind": "denied",
                        "error": "The process cannot access the file because it is being used by another process."})  # fmt: skip

    result = run_module("win_archive", EXTRACT, connection=conn, run=run_with("r1", *state["artifacts"]))

    assert result.failed and "being used by another process" in result.msg
    assert install_files(conn) == {
        k: v for k, v in state["after_upgrade"]["files"].items() if k.startswith(CRM + "\\")
    }


def test_a_run_cut_short_after_the_rename_finishes_with_its_own_folders(conn) -> None:
    state = upgraded(conn)
    run = run_with("r1", *state["artifacts"])
    conn.sim.add_fault({"op": "file.move", "match": {"src": "*.new"}, "kind": "connection"})
    with pytest.raises(Exception):  # noqa: B017 - the connection drops: the step does not end
        run_module("win_archive", EXTRACT, connection=conn, run=run)
    ctx_folders = _folders(run, CRM)
    assert not conn.sim.exists(CRM) and conn.sim.exists(ctx_folders[1])  # the live folder is aside

    resumed = run_module("win_archive", EXTRACT, connection=conn, run=run)

    assert not resumed.failed, resumed.msg
    assert conn.sim.read_bytes(f"{CRM}\\eware.dll").startswith(b"eware.dll Sage CRM 7.2")
    assert not [p for p in conn.sim.snapshot()["files"] if ".cutover-" in p]


def test_the_work_folders_are_the_runs_own_and_short(conn) -> None:
    staging, aside = _folders(run_with("20261203-101500-abc123"), CRM)
    other_run = _folders(run_with("20261203-101501-def456"), CRM)

    assert staging.startswith(CRM + ".cutover-") and staging.endswith(".new") and aside.endswith(".old")
    assert len(staging) - len(CRM) == len(aside) - len(CRM) == 21
    assert {staging, aside}.isdisjoint(other_run)


def test_a_folder_named_like_a_work_folder_of_another_run_is_never_touched(conn) -> None:
    state = upgraded(conn)
    stranger = f"{CRM}.cutover-restore"  # the name earlier versions used: maybe an operator's folder
    conn.sim.write_bytes(f"{stranger}\\keep.txt", b"not ours")

    result = run_module("win_archive", EXTRACT, connection=conn, run=run_with("r2", *state["artifacts"]))

    assert not result.failed, result.msg
    assert conn.sim.read_bytes(f"{stranger}\\keep.txt") == b"not ours"


def _folders(run: RunContext, path: str) -> tuple[str, str]:
    class _Ctx:
        def __init__(self, run: RunContext) -> None:
            self.run = run

    return work_folders(_Ctx(run), path)  # type: ignore[arg-type]
