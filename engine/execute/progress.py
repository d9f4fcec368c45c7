"""What a running step's live line says about a progress frame its host sent.

A helper (POSIX, PowerShell or the simulation) sends progress frames while a long primitive runs:
a program's log line (`process.run` with `progress_log`: an installer's log tail) or how far an
archive is. The executor turns each into one short line for `RunContext.on_progress`; nothing of it
is journaled (a step's result keeps only the last line, `progress_last` of the answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: Longest live line: a log line can be anything, the console shows one row per step.
MAX_LINE = 200


def progress_line(values: Mapping[str, Any]) -> str:
    """One line for the console: the log line itself, a percentage, or done/total of an archive."""
    line = values.get("line")
    if isinstance(line, str) and line.strip():
        text = " ".join(line.split())
        return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"
    percent = values.get("percent")
    if isinstance(percent, int | float) and not isinstance(percent, bool):
        return f"{values.get('what') or values.get('op') or ''} {percent:g} %".strip()
    done, total = values.get("bytes"), values.get("bytes_total")
    if isinstance(done, int | float) and isinstance(total, int | float) and total:
        return f"{values.get('op') or 'working'}: {done / 1e6:,.0f} of {total / 1e6:,.0f} MB"
    return ""


def frame_forwarder(
    node_id: str, on_progress: Callable[[str, str], None]
) -> Callable[[dict[str, Any]], None]:
    """The callback a step's Remote gives its connection: each frame's line to the live console."""

    def forward(values: dict[str, Any]) -> None:
        line = progress_line(values)
        if line:
            on_progress(node_id, line)

    return forward
