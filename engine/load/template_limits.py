"""Limits that keep a template from hanging a run or filling the controller's memory.

Jinja2's sandbox stops a template reaching Python's internals, not one that computes for ever
(`{% for i in range(99999) %}{% for j in range(99999) %}...`) or builds a huge value
(`{{ 'x' * 10**10 }}`, `{{ 9 ** 9 ** 9 }}`). Three guards, each a one-line refusal with the
template's file:line:col (engine/load/templating.py turns them into `UserError`s):

- **time**: a render that runs longer than `CUTOVER_TEMPLATE_SECONDS` (default 10 s) is stopped
  by one watchdog thread, which raises `TemplateLimit` in the rendering thread
  (`PyThreadState_SetAsyncExc`: delivered between two Python bytecodes, so a Jinja loop stops;
  one long C-level call is what the next guard is for);
- **size of what `*` and `**` would build** (the sandbox's `intercepted_binops`): a string or
  list repeated past the output limit, a power whose result has more bits than the limit, is
  refused before it is computed;
- **output size**: a rendered text (or a single expression's string) longer than
  `CUTOVER_TEMPLATE_MAX_BYTES` characters (default 16 MiB) is refused.

The sandbox's own `range()` limit (100,000 items, jinja2.sandbox.MAX_RANGE) stays.
"""

from __future__ import annotations

import contextlib
import operator
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from engine.core.errors import UserError

SECONDS_ENV = "CUTOVER_TEMPLATE_SECONDS"
BYTES_ENV = "CUTOVER_TEMPLATE_MAX_BYTES"
DEFAULT_SECONDS = 10.0
DEFAULT_BYTES = 16 * 1024 * 1024


class TemplateLimit(BaseException):  # noqa: N818 - not an error of the template's code: a stop
    """A template passed a limit. BaseException: Jinja2 and filters must not swallow it."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason or time_reason()


def _setting(name: str, default: float, kind: type) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UserError(
            f"{name}={raw!r} is not a positive number", hint=f"unset it for the default ({default})"
        )
    return value


def max_seconds() -> float:
    return float(_setting(SECONDS_ENV, DEFAULT_SECONDS, float))


def max_bytes() -> int:
    return int(_setting(BYTES_ENV, DEFAULT_BYTES, int))


def time_reason() -> str:
    return f"the template ran longer than {max_seconds():g} s ({SECONDS_ENV}) and was stopped"


def size_reason(what: str, size: int) -> str:
    return f"{what} would be {size:,} characters, more than the {max_bytes():,} allowed ({BYTES_ENV})"


def check_output_size(length: int, what: str = "the rendered text") -> None:
    if length > max_bytes():
        raise TemplateLimit(size_reason(what, length))


def guarded_binop(op: str, left: Any, right: Any) -> Any:
    """`*` and `**` refused before they build a value past the output limit."""
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple | bytes) and isinstance(times, int) and times > 0:
                check_output_size(len(seq) * times, "a repeated value")
        return operator.mul(left, right)
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = abs(left).bit_length() * right
            if bits > max_bytes() * 8:
                raise TemplateLimit(
                    f"a power of about {bits:,} bits is more than the output limit ({BYTES_ENV})"
                )
        return operator.pow(left, right)
    raise AssertionError(f"operator {op!r} is not intercepted")


def joined_within_limit(chunks: Iterable[str]) -> str:
    """The rendered text, refused as soon as it passes the output limit."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        check_output_size(size)
        out.append(chunk)
    return "".join(out)


def compute_reason(err: BaseException) -> str:
    """One line for the operator: Python's message, or what a bare MemoryError/RecursionError means."""
    if isinstance(err, MemoryError):
        return "it needs more memory than the controller has"
    if isinstance(err, RecursionError):
        return "it recurses too deeply"
    return str(err) or type(err).__name__


#: what a template's own computation may raise (besides Jinja2's errors): a failure of the step, not a bug
COMPUTE_ERRORS = (
    TypeError,
    ValueError,
    KeyError,
    ZeroDivisionError,
    AttributeError,
    OverflowError,
    MemoryError,
    RecursionError,
)

INTERCEPTED = frozenset({"*", "**"})


class _Watchdog:
    """One daemon thread that stops renders past their deadline (registered per thread)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deadlines: dict[int, float] = {}
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Guard the render inside; nested renders (a variable that is a template) share the outer one."""
        depth = getattr(self._local, "depth", 0)
        deadline = 0.0 if depth else time.monotonic() + max_seconds()  # a bad setting raises here, first
        self._local.depth = depth + 1
        if depth:
            try:
                yield
            finally:
                self._local.depth = depth
            return
        tid = threading.get_ident()
        with self._lock:
            self._deadlines[tid] = deadline
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cutover-template-watchdog", daemon=True
                )
                self._thread.start()
            self._lock.notify()
        try:
            yield
        finally:
            self._local.depth = 0
            with self._lock:
                self._deadlines.pop(tid, None)
                if tid in self._fired:  # fired as the render ended: take back what was not delivered
                    self._fired.discard(tid)
                    import ctypes  # ~2 ms at start-up: only when a render overran its limit

                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._deadlines:
                    self._lock.wait()
                    continue
                now = time.monotonic()
                for tid, deadline in list(self._deadlines.items()):
                    if now >= deadline and tid not in self._fired:
                        import ctypes  # ~2 ms at start-up: only when a render overruns its limit

                        self._fired.add(tid)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(tid), ctypes.py_object(TemplateLimit)
                        )
                pending = [d for t, d in self._deadlines.items() if t not in self._fired]
                self._lock.wait(max(0.01, min(pending) - now) if pending else None)


_WATCHDOG = _Watchdog()
watch = _WATCHDOG.watch
