"""SQL Server Express/Web backups zipped as the Sage CRM guide says (issue 16, item 11).

Microsoft: "Backup compression is supported on SQL Server editions: Enterprise, Standard, and
Developer" (https://learn.microsoft.com/sql/relational-databases/backup-restore/backup-compression-sql-server),
so on Express and Web `BACKUP ... WITH COMPRESSION` is not available and the .bak is written
uncompressed. The guide's backup steps then say "4. Comprimez les fichiers de sauvegarde pour
gagner de l'espace. 5. Effacez les fichiers de sauvegarde de la base de données non compressés."

Through the real modules (db_backup, db_restore) on a real host connection (the POSIX helper:
its archive primitives zip and unzip where the file lies) with the recording SQL Server
connection of the golden tests standing in for pyodbc (no SQL Server runs here): its BACKUP
writes the .bak file, its RESTORE reads the file it is given.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

import engine.db.database as database_module
from engine.api.module import RunContext
from tests.support.modharness import local_connection, run_module
from tests.unit.test_db_mssql_golden import (
    EDITION,
    ENTERPRISE,
    EXPRESS,
    PROGRESS,
    RecordingConnection,
    Script,
)

BAK = b"TAPE" + bytes(range(256)) * 64  # what the fake BACKUP writes
WEB: Any = [[(2, "Web Edition (64-bit)")]]


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Script:
    """Every ODBC connection of the test is the golden tests' RecordingConnection on one script."""
    recorded = Script()
    monkeypatch.setattr(
        database_module,
        "odbc_connect",
        lambda text, autocommit, timeout: RecordingConnection(recorded, text, autocommit),
    )
    return recorded


def target(tmp_path: Path) -> dict[str, Any]:
    return {
        "dialect": "mssql", "server": "sql1", "database": "CRM", "user": "sa", "password": "pw",
        "host": "local", "backup_dir": str(tmp_path / "backups"),
    }  # fmt: skip


def writes_bak(sql: str, params: tuple[Any, ...]) -> Any:
    Path(params[0]).write_bytes(BAK)
    return PROGRESS


def run(tmp_path: Path, artifacts: dict[str, list[Any]] | None = None) -> RunContext:
    return RunContext(
        run_id="r1", operator="tester", databases={"crm": target(tmp_path)}, artifacts=artifacts or {}
    )


@pytest.mark.parametrize("edition", [EXPRESS, WEB], ids=["express", "web"])
def test_backup_zipped_on_an_edition_without_compression(
    script: Script, tmp_path: Path, edition: Any
) -> None:
    script.answers = [(EDITION, edition, None), (r"^BACKUP DATABASE", writes_bak, None)]
    with local_connection() as conn:
        result = run_module("db_backup", {"db": "crm"}, connection=conn, run=run(tmp_path))
    assert not result.failed, result.msg
    (art,) = result.artifacts
    assert art.location.endswith(".bak.zip") and art.meta["zipped"] is True
    assert not Path(art.location[: -len(".zip")]).exists()  # the uncompressed .bak is removed
    zipped = Path(art.location).read_bytes()
    assert art.sha256 == hashlib.sha256(zipped).hexdigest() and art.size == len(zipped) < len(BAK)
    assert art.meta["bak"] == {
        "name": Path(art.location).name[: -len(".zip")],
        "sha256": hashlib.sha256(BAK).hexdigest(),
        "size": len(BAK),
    }
    with zipfile.ZipFile(art.location) as archive:
        assert archive.namelist() == [art.meta["bak"]["name"]]
        assert archive.read(art.meta["bak"]["name"]) == BAK
    assert not any("COMPRESSION" in line for line in script.log)


def test_backup_left_as_is_where_the_edition_compresses(script: Script, tmp_path: Path) -> None:
    script.answers = [(EDITION, ENTERPRISE, None), (r"^BACKUP DATABASE", writes_bak, None)]
    with local_connection() as conn:
        result = run_module("db_backup", {"db": "crm"}, connection=conn, run=run(tmp_path))
    (art,) = result.artifacts
    assert (
        art.location.endswith(".bak") and "zipped" not in art.meta and Path(art.location).read_bytes() == BAK
    )


def test_restore_unzips_verifies_and_restores_the_bak(script: Script, tmp_path: Path) -> None:
    script.answers = [(EDITION, EXPRESS, None), (r"^BACKUP DATABASE", writes_bak, None)]
    with local_connection() as conn:
        (art,) = run_module("db_backup", {"db": "crm"}, connection=conn, run=run(tmp_path)).artifacts
        seen: list[bytes] = []

        def restore_reads(sql: str, params: tuple[Any, ...]) -> Any:
            seen.append(Path(params[0]).read_bytes())
            return PROGRESS

        script.answers = [(r"^RESTORE DATABASE", restore_reads, None), (r"DB_ID", [[(7,)]], None)]
        result = run_module(
            "db_restore", {"db": "crm"}, connection=conn, run=run(tmp_path, {"db:crm": [art]})
        )
    assert not result.failed, result.msg
    assert seen == [BAK]  # SQL Server was given the unzipped .bak, whole
    assert result.output["backup"] == art.location and result.output["sha256"] == art.sha256
    assert not Path(art.location + ".restore").exists()  # the unzipped copy is removed again


def test_restore_refused_when_the_unzipped_bak_is_not_the_one_recorded(
    script: Script, tmp_path: Path
) -> None:
    script.answers = [(EDITION, EXPRESS, None), (r"^BACKUP DATABASE", writes_bak, None)]
    with local_connection() as conn:
        (art,) = run_module("db_backup", {"db": "crm"}, connection=conn, run=run(tmp_path)).artifacts
        art.meta["bak"] = {**art.meta["bak"], "sha256": "0" * 64}
        script.log.clear()
        result = run_module(
            "db_restore", {"db": "crm"}, connection=conn, run=run(tmp_path, {"db:crm": [art]})
        )
    assert result.failed and "unzipped from" in result.msg and "not restored" in result.msg
    assert not any(line.startswith(("RESTORE DATABASE", "ALTER DATABASE")) for line in script.log)
    assert not Path(art.location + ".restore").exists()
