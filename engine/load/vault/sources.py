"""Where vault passwords come from: a prompt, a file, an environment variable or a script.

An operator names each source as `ID@SOURCE` (`prod@prompt`, `prod@~/.cutover/prod.pw`,
`prod@env:PROD_VAULT_PW`, `prod@exec:/usr/local/bin/get-vault-pw`), or bare (`prompt`,
`~/.cutover/pw`) for the `default` id. Passwords never come from a command-line value: argv is
visible to every user of the machine through `ps`.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from pathlib import Path

from engine.core.errors import UserError

DEFAULT_VAULT_ID = "default"
#: The password itself, for the `default` id (CI systems inject secrets this way).
ENV_PASSWORD = "CUTOVER_VAULT_PASSWORD"
#: A file holding the password for the `default` id.
ENV_PASSWORD_FILE = "CUTOVER_VAULT_PASSWORD_FILE"
#: A vault id is a header field and the left side of `ID@SOURCE`: no `;`, `@` or spaces.
VAULT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SOURCE_HINT = (
    "give it as --vault-id {id}@prompt, {id}@/path/to/file, {id}@env:VAR or {id}@exec:/path/to/script"
)
SCRIPT_TIMEOUT_SECONDS = 120


def check_vault_id(vault_id: str) -> str:
    """`vault_id` unchanged when it is valid, else a UserError that says what is allowed."""
    if not VAULT_ID_RE.fullmatch(vault_id):
        raise UserError(
            f"invalid vault id {vault_id!r}",
            hint="use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return vault_id


def parse_source(arg: str) -> tuple[str, str]:
    """Split `ID@SOURCE` into (id, source); a bare source belongs to the `default` id.

    The text before the first `@` is an id only when it is a valid one, so a bare path that
    contains `@` (`/home/ops@corp/pw`) still reads as a path.
    """
    if not arg:
        raise UserError("empty --vault-id", hint=SOURCE_HINT.format(id="ID"))
    head, sep, tail = arg.partition("@")
    if sep and VAULT_ID_RE.fullmatch(head):
        if not tail:
            raise UserError(f"--vault-id {arg!r} names no password source", hint=SOURCE_HINT.format(id=head))
        return head, tail
    if sep and not head:
        raise UserError(f"--vault-id {arg!r} names no vault id", hint=SOURCE_HINT.format(id="ID"))
    return DEFAULT_VAULT_ID, arg


def read_password(vault_id: str, source: str, *, interactive: bool, confirm: bool = False) -> str:
    """The password for `vault_id` from `source`; `confirm` asks twice at a prompt (when encrypting)."""
    if source == "prompt":
        password = _prompt(vault_id, interactive=interactive, confirm=confirm)
    elif source.startswith("env:"):
        password = _from_env(vault_id, source[4:])
    elif source.startswith("exec:"):
        password = _from_script(vault_id, source[5:])
    elif _is_script(source):  # an executable password file runs, as ansible-vault runs it
        password = _from_script(vault_id, source)
    else:
        password = _from_file(vault_id, source)
    if not password:
        raise UserError(f"the password for vault id {vault_id!r} from {_describe(source)} is empty")
    return password


def password_from_environment() -> str | None:
    """The `default` id's password from CUTOVER_VAULT_PASSWORD(_FILE), None when neither is set."""
    inline = os.environ.get(ENV_PASSWORD)
    path = os.environ.get(ENV_PASSWORD_FILE)
    if inline and path:
        raise UserError(f"both {ENV_PASSWORD} and {ENV_PASSWORD_FILE} are set", hint="unset one of them")
    if path:
        return read_password(DEFAULT_VAULT_ID, path, interactive=False)
    return inline or None


def _describe(source: str) -> str:
    if source == "prompt":
        return "the prompt"
    if source.startswith("env:"):
        return f"environment variable {source[4:]}"
    if source.startswith("exec:"):
        return f"script {source[5:]}"
    return f"file {source}"


def _prompt(vault_id: str, *, interactive: bool, confirm: bool) -> str:
    """Ask on the terminal. getpass reads /dev/tty, so stdin stays free for data (encrypt-string)."""
    if not interactive or not _has_terminal():
        raise UserError(
            f"vault id {vault_id!r} asks for a password prompt, but there is no terminal to ask on",
            hint=f"use {vault_id}@/path/to/file or {vault_id}@env:VAR when running unattended",
        )
    return ask_hidden(f"Vault password ({vault_id})", confirm=confirm)


def ask_hidden(label: str, *, confirm: bool) -> str:
    """Read a secret on the terminal without echo; `confirm` asks twice and compares."""
    if not _has_terminal():
        raise UserError(f"cannot ask for {label}: there is no terminal", hint="pipe the value on stdin")
    value = getpass.getpass(f"{label}: ")
    if confirm and getpass.getpass(f"{label} (again): ") != value:
        raise UserError(f"the two entries for {label} differ")
    return value


def _has_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _from_env(vault_id: str, name: str) -> str:
    if not name:
        raise UserError(f"--vault-id {vault_id}@env: names no variable", hint=SOURCE_HINT.format(id=vault_id))
    if name not in os.environ:
        raise UserError(f"environment variable {name} (password for vault id {vault_id!r}) is not set")
    return os.environ[name]


def _from_file(vault_id: str, path_text: str) -> str:
    """The file's text without its trailing line break (editors add one; a password has none)."""
    path = Path(path_text).expanduser()
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise UserError(
            f"password file {path} for vault id {vault_id!r} does not exist",
            hint=SOURCE_HINT.format(id=vault_id),
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UserError(f"cannot read password file {path} for vault id {vault_id!r}: {reason}") from None


def _is_script(path_text: str) -> bool:
    path = Path(path_text).expanduser()
    return path.is_file() and os.access(path, os.X_OK)


def _from_script(vault_id: str, path_text: str) -> str:
    """Run a script that prints the password (a secret manager's CLI); its stderr goes to the operator.

    The vault id is passed in the environment, so one script can serve all ids; a script named
    `*-client` (ansible-vault's convention) also gets `--vault-id ID` as arguments.
    """
    path = str(Path(path_text).expanduser())
    env = {**os.environ, "CUTOVER_VAULT_ID": vault_id}
    argv = [path, "--vault-id", vault_id] if Path(path).stem.endswith("-client") else [path]
    try:
        done = subprocess.run(
            argv, env=env, stdout=subprocess.PIPE, timeout=SCRIPT_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise UserError(f"password script {path} for vault id {vault_id!r} could not run: {reason}") from None
    if done.returncode != 0:
        raise UserError(
            f"password script {path} for vault id {vault_id!r} exited with code {done.returncode}"
        )
    return done.stdout.decode("utf-8", "replace").rstrip("\r\n")
