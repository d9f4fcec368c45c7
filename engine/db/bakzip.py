"""SQL Server backups zipped where the edition cannot compress them (Express, Web), and unzipped to restore.

Why: the Sage CRM guide's database backup (chapter 5) ends "4. Comprimez les fichiers de
sauvegarde pour gagner de l'espace. 5. Effacez les fichiers de sauvegarde de la base de données
non compressés." Where the edition has `WITH COMPRESSION` (engine/db/mssql.py decides from
SERVERPROPERTY) the .bak is already compressed; on Express and Web it is not, so after RESTORE
VERIFYONLY passed the .bak is zipped where it lies (on the database host by its own primitives:
the archive is written and read back there, streamed, never through the controller), the zip's
CRCs are read back, and the uncompressed .bak is removed. The artifact is then the zip (its
sha256 and size) and `meta["bak"]` keeps the .bak's name, sha256 and size: a restore unzips first
and restores only a .bak with exactly that sha256.
"""

from __future__ import annotations

import contextlib
import ntpath
import os
import posixpath
import shutil
import zipfile
from collections.abc import Iterator
from typing import Any

from engine.api.primitives import PrimitiveFailed
from engine.db.errors import BackupInvalid, DbError
from engine.db.files import HostFiles

#: Artifact.meta key of the zipped .bak: {name, sha256, size}
BAK_KEY = "bak"


def _pathmod(files: HostFiles) -> Any:
    return ntpath if files.platform == "windows" else posixpath


def _call(files: HostFiles, op: str, **args: Any) -> Any:
    try:
        return files.remote.call(op, **args)  # type: ignore[attr-defined]
    except PrimitiveFailed as exc:
        raise DbError(f"{op} on {files.host}: {exc}") from None


def zip_backup(files: HostFiles, bak: str, sha256: str, size: int) -> tuple[str, dict[str, Any]]:
    """Zip `bak` beside it, check the zip, remove `bak`; (the zip's location, the meta to record)."""
    pathmod = _pathmod(files)
    name = pathmod.basename(bak)
    zipped = bak + ".zip"
    if getattr(files, "remote", None) is None:  # the controller's own file
        _zip_local(bak, zipped, name)
        os.remove(bak)
    else:
        staging = bak + ".zipping"  # the folder archive.create zips: the .bak alone inside
        files.mkdir(staging)
        _call(files, "file.move", src=bak, dest=pathmod.join(staging, name), overwrite=True)
        try:
            _call(files, "archive.create", src=staging, dest=zipped, format="zip")
            checked = _call(files, "archive.verify", path=zipped)
            if not checked.get("ok"):
                raise BackupInvalid(f"{zipped}: the zip does not read back: {checked.get('error')}")
        except BaseException:
            _call(files, "file.move", src=pathmod.join(staging, name), dest=bak, overwrite=True)
            files.remove(zipped)
            raise
        _call(files, "file.remove", path=staging, recursive=True)
    return zipped, {BAK_KEY: {"name": name, "sha256": sha256, "size": size}, "zipped": True}


def _zip_local(bak: str, zipped: str, name: str) -> None:
    temp = zipped + ".part"
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            archive.write(bak, arcname=name)  # read and deflated in blocks: streamed
        with zipfile.ZipFile(temp) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise BackupInvalid(f"{zipped}: member {bad} does not read back")
        os.replace(temp, zipped)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


@contextlib.contextmanager
def unzipped(files: HostFiles, location: str, meta: dict[str, Any]) -> Iterator[str]:
    """The .bak of a zipped backup, extracted beside the zip and checked against the recorded
    sha256 (BackupInvalid otherwise); removed again afterwards, whatever the restore did."""
    bak = meta.get(BAK_KEY) or {}
    pathmod = _pathmod(files)
    folder = location + ".restore"
    path = pathmod.join(folder, str(bak.get("name") or ""))
    try:
        if getattr(files, "remote", None) is None:
            with zipfile.ZipFile(location) as archive:
                if archive.namelist() != [bak.get("name")]:
                    raise BackupInvalid(f"{location} holds {archive.namelist()}, not only {bak.get('name')}")
                archive.extractall(folder)
        else:
            _call(files, "archive.extract", src=location, dest=folder, overwrite=True)
        digest, _size = files.hash(path)
        if digest != bak.get("sha256"):
            raise BackupInvalid(
                f"{path} unzipped from {location} has sha256 {digest[:12]}..., recorded "
                f"{str(bak.get('sha256'))[:12]}...: not restored"
            )
        yield path
    finally:
        if getattr(files, "remote", None) is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            with contextlib.suppress(DbError):
                _call(files, "file.remove", path=folder, recursive=True)
