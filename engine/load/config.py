"""`cutover.toml`: the settings an operator would otherwise type on every command line.

Where the files are, lowest precedence first (each one found adds to and overrides the ones
before it, so a repository's file can set the inventory and a person's the colour):

1. the user's config dir: `$XDG_CONFIG_HOME/cutover/cutover.toml` (default `~/.config/cutover/`);
2. every `cutover.toml` from the git root (the nearest folder holding `.git`) down to the working
   directory, the nearest one last;

`CUTOVER_CONFIG=FILE` replaces that search with one file (as ANSIBLE_CONFIG does for Ansible).
Above all files: the environment variables the commands already know (`CUTOVER_STATE_DIR`, ...),
then the command-line flags. Relative paths in a file are relative to that file's folder.

    inventory = "inventories/acme.ini"
    vault_password_file = "~/.config/cutover/acme.pw"
    state_dir = ".cutover"
    timezone = "Europe/Paris"
    forks = 10
    colour = "auto"            # auto | always | never

    [report]
    dir = "reports"
    mode = "0640"

    [campaign]                 # a campaign file's `backend:` wins over these
    broker = "redis://broker.example:6379/0"
    journal = "postgresql://cutover@db.example/cutover"
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tomllib

from engine.core.errors import Location, Problem, UserError, closest

FILE_NAME = "cutover.toml"
ENV_FILE = "CUTOVER_CONFIG"


def _path(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("a path (text)")
    expanded = Path(value).expanduser()
    return str(expanded if expanded.is_absolute() else base / expanded)


def _positive_int(value: Any, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("a whole number of at least 1")
    return value


def _colour(value: Any, _base: Path) -> str:
    if value not in ("auto", "always", "never"):
        raise ValueError('"auto", "always" or "never"')
    return str(value)


def _mode(value: Any, _base: Path) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3}", value):
        raise ValueError('an octal file mode as text, e.g. "0640"')
    return value.zfill(4)


def _zone(value: Any, _base: Path) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise ValueError('an IANA time zone, e.g. "Europe/Paris"')
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError('an IANA time zone, e.g. "Europe/Paris"') from None
    return value


def _url(value: Any, _base: Path) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not urlsplit(value).scheme or not urlsplit(value).netloc:
        raise ValueError('a URL, e.g. "redis://broker:6379/0"')
    return value


def shown(value: Any) -> str:
    """A setting's value as `config --show` and `-vv` print it: a URL's password masked."""
    from urllib.parse import urlsplit, urlunsplit

    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
            return repr(urlunsplit(parts._replace(netloc=netloc)))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its key in the file, how its value is checked, and the variable above files."""

    key: str
    check: Callable[[Any, Path], Any]
    env: str | None
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("inventory", _path, "CUTOVER_INVENTORY", "the -i inventory when none is given"),
    Setting("vault_password_file", _path, "CUTOVER_VAULT_PASSWORD_FILE", "the default vault id's password file"),
    Setting("state_dir", _path, "CUTOVER_STATE_DIR", "journal, locks and reports (--state-dir)"),
    Setting("timezone", _zone, "CUTOVER_TIMEZONE", "time zone for times shown when the inventory sets none"),
    Setting("forks", _positive_int, "CUTOVER_FORKS", "how many steps run at once (-f/--forks)"),
    Setting("colour", _colour, "CUTOVER_COLOUR", "colour on a terminal: auto, always or never"),
    Setting("report.dir", _path, "CUTOVER_REPORT_DIR", "where run reports are written"),
    Setting("report.mode", _mode, "CUTOVER_REPORT_MODE", "file mode of run reports, e.g. 0640"),
    Setting("campaign.broker", _url, "CUTOVER_BROKER_URL", "a campaign's broker when its file names none"),
    Setting("campaign.journal", _url, "CUTOVER_JOURNAL_URL", "a campaign's shared journal when its file names none"),
)
BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Value:
    """An effective setting and where it came from (a file:line:col, or an environment variable)."""

    value: Any
    origin: str


def config_files(cwd: Path | None = None, environ: dict[str, str] | None = None) -> list[Path]:
    """The files that apply, lowest precedence first."""
    environ = dict(os.environ if environ is None else environ)
    chosen = environ.get(ENV_FILE)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise UserError(f"{ENV_FILE}={chosen}: no such file", hint=f"unset {ENV_FILE} or point it at a file")
        return [path]
    cwd = (cwd or Path.cwd()).resolve()
    home = Path(environ.get("XDG_CONFIG_HOME") or Path(environ.get("HOME", "~")).expanduser() / ".config")
    found = [home / "cutover" / FILE_NAME] if (home / "cutover" / FILE_NAME).is_file() else []
    chain = []
    for folder in (cwd, *cwd.parents):
        chain.append(folder)
        if (folder / ".git").exists():
            break
    else:
        chain = [cwd]  # outside a git repository only the working directory's own file counts
    found += [folder / FILE_NAME for folder in reversed(chain) if (folder / FILE_NAME).is_file()]
    return list(dict.fromkeys(found))


def load_settings(cwd: Path | None = None, environ: dict[str, str] | None = None) -> dict[str, Value]:
    """The effective settings (only those set somewhere); every mistake of every file at once."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Value] = {}
    problems: list[Problem] = []
    for path in config_files(cwd, environ):
        for key, value in _read(path, problems).items():
            values[key] = value
    if problems:
        raise UserError.many(problems)
    for setting in SETTINGS:
        if setting.env and environ.get(setting.env):
            try:
                raw: Any = environ[setting.env]
                if setting.check is _positive_int and raw.strip().isdigit():  # the environment holds only text
                    raw = int(raw)
                values[setting.key] = Value(setting.check(raw, Path.cwd()), f"${setting.env}")
            except ValueError as err:
                raise UserError(f"${setting.env}: must be {err}") from None
    return values


def _read(path: Path, problems: list[Problem]) -> dict[str, Value]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(Problem(f"cannot read {path}: {getattr(err, 'strerror', None) or err}", Location(str(path))))
        return {}
    import tomllib  # ~8 ms (with datetime): only when there is a settings file to read

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        problems.append(_toml_problem(path, err))
        return {}
    out: dict[str, Value] = {}
    for key, value in _flatten(data):
        where = _locate(text, key, path)
        setting = BY_KEY.get(key)
        if setting is None:
            guess = closest(key, list(BY_KEY))
            problems.append(Problem(f"unknown setting {key!r}", where,
                                    hint=f"did you mean {guess!r}?" if guess else f"the settings: {', '.join(BY_KEY)}"))
            continue
        try:
            out[key] = Value(setting.check(value, path.parent), str(where))
        except ValueError as err:
            problems.append(Problem(f"{key} must be {err}, not {value!r}", where))
    return out


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and f"{name}." in {s.key[: len(name) + 1] for s in SETTINGS}:
            items.extend(_flatten(value, f"{name}."))
        else:
            items.append((name, value))
    return items


def _toml_problem(path: Path, err: tomllib.TOMLDecodeError) -> Problem:
    """tomllib says `... (at line 3, column 7)`: that becomes file:line:col."""
    message = str(err)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return Problem(f"TOML syntax error: {message[: found.start()]}",
                       Location(str(path), int(found.group(1)), int(found.group(2))),
                       hint="strings are quoted (\"...\"), keys are key = value, tables are [name]")
    found = re.search(r"\s*\(at end of document\)$", message)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() or [""]
    where = Location(str(path), len(lines), len(lines[-1]) + 1) if found else Location(str(path))
    return Problem(f"TOML syntax error: {message[: found.start()] if found else message}", where)


def _locate(text: str, key: str, path: Path) -> Location:
    """Where `key` (`report.mode` = `mode` under `[report]`, or a dotted key) is written."""
    table, _, leaf = key.rpartition(".")
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
            continue
        for name in ({leaf} if current == table else set()) | ({key} if not current else set()):
            found = re.match(rf"\s*{re.escape(name)}\s*=", line)
            if found:
                return Location(str(path), number, len(line) - len(line.lstrip()) + 1)
    return Location(str(path), 1, 1)
