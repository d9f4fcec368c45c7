"""Errors that reach the operator.

A mistake in user input (YAML, schema, templates, CLI flags, remote answers) is a `UserError`:
it carries where it happened (`file:line:col`) and, where one helps, a hint. The CLI prints
every collected error and exits with code 2; it never shows a traceback for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a source file; lines and columns count from 1 as editors show them."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


class CutoverError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: a message, where it is, and an optional hint to fix it."""

    message: str
    location: Location | None = None
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UserError(CutoverError):
    """Bad input from the operator: rendered as `file:line:col: message`, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.problems: list[Problem] = [Problem(message, location, hint)]
        super().__init__(self.render())

    @classmethod
    def many(cls, problems: Iterable[Problem]) -> UserError:
        """Bundle several problems so the operator sees all of them in one go."""
        items = list(problems)
        if not items:
            raise ValueError("UserError.many needs at least one problem")
        err = cls(items[0].message, items[0].location, items[0].hint)
        err.problems = items
        err.args = (err.render(),)
        return err

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)

    def __str__(self) -> str:
        return self.render()


class RefusedError(CutoverError):
    """The engine refuses to act (lock held, plan rule broken at run time, changed inputs)."""

    exit_code = 3


class RemoteError(CutoverError):
    """A host answered with an error, or could not be reached."""

    def __init__(self, message: str, host: str | None = None, kind: str = "error"):
        self.host = host
        self.kind = kind
        super().__init__(f"{host}: {message}" if host else message)


class ConnectionFailed(RemoteError):
    """The connection to a host could not be opened or was lost."""


class TaskTimeout(RemoteError):
    """A remote command ran past its deadline and was stopped."""


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word`, for 'did you mean' hints; None when nothing is close."""
    import difflib

    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def key_location(mapping: object, key: object, fallback: Location | None = None) -> Location | None:
    """Where `key` is written in `mapping`, for an error that points at the key's own line.

    Mappings loaded from YAML know where each key sits (engine/load/yaml_marks.py `LDict`); the
    layers below loading see them only as mappings, so this asks by duck type and falls back to
    the enclosing definition (a host, a section) for mappings built in code.
    """
    finder = getattr(mapping, "key_loc", None)
    found = finder(key) if callable(finder) else None
    return found if isinstance(found, Location) else fallback
