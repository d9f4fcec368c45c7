"""Secret masking: keep known secrets out of the console, logs, the journal and reports.

Every secret the engine learns (a decrypted vault value, a vault password, a connection
password) is registered with a `Masker`; everything the engine prints or stores goes through
`Masker.mask` / `mask_text` first. Masking is by value, not by variable name, because a secret
travels: it is templated into a command line, JSON-encoded into a PowerShell payload,
URL-encoded into a connection string, or echoed back in a remote error message.

Rules (documented in docs/vault.md):
- values of `MIN_SECRET_LENGTH` (4) characters or more are masked wherever they occur, in
  their plain form and in the encodings a secret takes on its way to a host (JSON escaping,
  URL encoding, base64, HTML escaping, doubled single quotes, shell quoting, Python repr);
- shorter values are masked only where a whole string equals them: masking `"1"` or `"no"`
  inside every string would make output unreadable while hiding little (such a secret is weak
  anyway, and its length is then the only thing left to guess);
- a multi-line secret (a PEM key) also has each of its lines of 8 characters or more masked,
  because logs often split output by line.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import shlex
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

SECRET_PLACEHOLDER = "********"
#: Shorter secrets are masked only as whole strings (see the module docstring).
MIN_SECRET_LENGTH = 4
#: Lines of a multi-line secret at least this long are masked on their own.
MIN_LINE_LENGTH = 8

T = TypeVar("T")


def encoded_forms(secret: str) -> set[str]:
    """The forms `secret` takes once escaped or encoded on its way to a host or a file.

    Substring matching on these forms catches a secret inside a JSON document, a URL, a
    PowerShell or SQL literal, an HTML report, or the repr in an exception message. A form that
    cannot be computed (a lone surrogate has no UTF-8 encoding) is left out, never an error.
    """
    forms = {secret}
    for encode in _ENCODINGS:
        try:
            forms.add(encode(secret))
        except UnicodeError:
            continue
    if "\n" in secret:
        forms.update(line for line in secret.splitlines() if len(line.strip()) >= MIN_LINE_LENGTH)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _b64(secret: str, urlsafe: bool = False, padded: bool = True) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(secret.encode("utf-8")).decode("ascii")
    return text if padded else text.rstrip("=")


_ENCODINGS: tuple[Callable[[str], str], ...] = (
    lambda s: json.dumps(s)[1:-1],
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    lambda s: urllib.parse.quote(s, safe=""),
    urllib.parse.quote,
    urllib.parse.quote_plus,
    _b64,
    lambda s: _b64(s, padded=False),
    lambda s: _b64(s, urlsafe=True),
    lambda s: _b64(s, urlsafe=True, padded=False),
    html.escape,
    lambda s: html.escape(s, quote=False),
    lambda s: s.replace("'", "''"),  # SQL and PowerShell single-quoted literals
    shlex.quote,
    lambda s: repr(s)[1:-1],
)


class _State(NamedTuple):
    """An immutable snapshot, swapped in one assignment so readers never need the lock."""

    pattern: re.Pattern[str] | None
    exact: frozenset[str]


class Masker:
    """Replaces every registered secret with `SECRET_PLACEHOLDER` in text and data structures.

    Thread-safe: all secrets are matched by one compiled regular expression, rebuilt under a
    lock after `add` and published with a single assignment; `mask` and `mask_text` then only
    read that snapshot, so the many calls made while a run prints and journals cost one regex
    pass each and do not contend.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._exact: set[str] = set()
        self._state = _State(None, frozenset())
        self._dirty = False
        for secret in secrets:
            self.add(secret)

    def __repr__(self) -> str:
        return f"Masker({len(self._forms) + len(self._exact)} patterns)"

    def __len__(self) -> int:
        """How many patterns are masked (a secret counts once per distinct encoded form)."""
        with self._lock:
            return len(self._exact) + len(self._forms)

    def add(self, value: str) -> None:
        """Register a secret. Empty values are ignored; short ones are masked as whole strings only.

        The regex is rebuilt lazily, on the next `mask`, so registering fifty decrypted values
        in a row costs one compilation, not fifty.
        """
        if not isinstance(value, str):
            value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if not value:
            return
        with self._lock:
            if len(value) < MIN_SECRET_LENGTH:
                self._exact.add(value)
            else:
                self._forms |= encoded_forms(value)
            self._dirty = True

    def _current(self) -> _State:
        """The snapshot to mask with, rebuilt first if secrets were added since it was made."""
        if self._dirty:
            with self._lock:
                if self._dirty:
                    self._state = _State(self._compile(), frozenset(self._exact))
                    self._dirty = False
        return self._state

    def _compile(self) -> re.Pattern[str] | None:
        """One alternation, longest form first, so a secret that contains another is masked whole."""
        if not self._forms:
            return None
        ordered = sorted(self._forms, key=lambda form: (-len(form), form))
        return re.compile("|".join(map(re.escape, ordered)))

    def mask_text(self, text: str) -> str:
        """`text` with every secret occurrence replaced by the placeholder."""
        state = self._current()
        if text in state.exact:
            return SECRET_PLACEHOLDER
        if state.pattern is None:
            return text
        return state.pattern.sub(SECRET_PLACEHOLDER, text)

    def mask(self, obj: T) -> T:
        """A masked copy of nested str/bytes/dict/list/tuple/set data; other values are returned as-is."""
        return self._mask(obj, {})

    def _mask(self, obj: Any, seen: dict[int, Any]) -> Any:
        if isinstance(obj, str):
            return self.mask_text(obj)
        if isinstance(obj, bytes | bytearray):
            masked = self.mask_text(bytes(obj).decode("utf-8", "surrogateescape"))
            return type(obj)(masked.encode("utf-8", "surrogateescape"))
        if not isinstance(obj, Mapping | list | tuple | set | frozenset):
            return obj
        if id(obj) in seen:  # a self-referencing structure: keep the cycle, do not recurse forever
            return seen[id(obj)]
        if isinstance(obj, Mapping):
            copy: dict[Any, Any] = {}
            seen[id(obj)] = copy
            for key, value in obj.items():
                copy[self._mask(key, seen)] = self._mask(value, seen)
            return copy
        if isinstance(obj, list):
            items: list[Any] = []
            seen[id(obj)] = items
            items.extend(self._mask(item, seen) for item in obj)
            return items
        masked_items = [self._mask(item, seen) for item in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple keeps its type
            return type(obj)(*masked_items)
        return type(obj)(masked_items)


class MaskingFilter(logging.Filter):
    """A logging filter that masks the formatted message, the exception text and the stack.

    Attach it to handlers (`handler.addFilter(MaskingFilter(masker))`), not loggers: a logger's
    filters do not see records propagated from its children, a handler's filters see them all.
    The message is formatted here (`msg % args`) so a secret passed as an argument is masked too.
    """

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep both parts, masked, rather than lose the line
            message = f"{record.msg} {record.args!r}"
        record.msg = self.masker.mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.masker.mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.masker.mask_text(record.stack_info)
        return True


def masked_exception_text(exc: BaseException, masker: Masker, *, with_traceback: bool = False) -> str:
    """An exception rendered for the operator, its chain included, with every secret masked.

    Remote errors often quote the command that failed, and that command may hold a secret;
    this is the one way the engine turns an exception into text for the console or journal.
    """
    if with_traceback:
        text = "".join(traceback.format_exception(exc))
    else:
        parts: list[str] = []
        current: BaseException | None = exc
        while current is not None and len(parts) < 20:
            parts.append("".join(traceback.format_exception_only(current)).rstrip("\n"))
            current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        text = "\ncaused by: ".join(parts)
    return masker.mask_text(text)
