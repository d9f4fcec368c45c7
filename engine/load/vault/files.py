"""Files for `cutover vault`: atomic writes, and editing decrypted text without leaking it.

A vault file is either fully old or fully new after a write (temp file + fsync + rename), so an
interrupted `encrypt` or `rekey` never leaves a half-written or plaintext-and-ciphertext file.
`edit` puts the plaintext in a private directory (0700, in RAM under /dev/shm when the machine
has one) that is removed whatever happens, editor swap files included.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.core.errors import CutoverError, UserError

#: Mode of files this command creates: they hold secrets (encrypted or not), so owner only.
NEW_FILE_MODE = 0o600


def read_text(path: Path) -> str:
    """A file's text as is (line endings kept), or a UserError that names the file."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (the vault encrypts text files)") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read: {err.strerror or err}") from None


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` (through symlinks) with `text`, keeping its mode, or create it with 0600."""
    target = Path(os.path.realpath(path))
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    mode = stat.S_IMODE(old.st_mode) if old else NEW_FILE_MODE
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise UserError(f"{path}: cannot write: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if old is not None and os.geteuid() == 0:
                os.fchown(handle.fileno(), old.st_uid, old.st_gid)
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (a crash right after must not bring the old file back)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _private_parent() -> str | None:
    """/dev/shm keeps decrypted text in memory; elsewhere the system temp dir is used."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


@contextlib.contextmanager
def private_copy(text: str, suffix: str = "") -> Iterator[Path]:
    """A 0600 file holding `text` inside a fresh 0700 directory, removed on exit even on error."""
    directory = tempfile.mkdtemp(prefix="cutover-vault-", dir=_private_parent())
    try:
        path = Path(directory) / f"secret{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def editor_command() -> list[str]:
    """$VISUAL, then $EDITOR, then vi, split like a shell would (`code --wait` works)."""
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise UserError(f"cannot parse the editor command {command!r}: {err}") from None
    if not argv:
        raise UserError("the editor command is empty", hint="set EDITOR, e.g. EDITOR=nano")
    return argv


def edit_text(text: str, suffix: str = "") -> str:
    """Let the operator edit `text` in their editor; the edited text, or an error if the editor failed."""
    argv = editor_command()
    with private_copy(text, suffix) as path:
        try:
            done = subprocess.run([*argv, str(path)], check=False)
        except OSError as err:
            raise UserError(
                f"cannot start the editor {argv[0]!r}: {err.strerror or err}", hint="set EDITOR"
            ) from None
        if done.returncode != 0:
            raise CutoverError(f"the editor exited with code {done.returncode}; nothing was saved")
        return read_text(path)
