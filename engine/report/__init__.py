"""Run reports a client can sign: HTML (self-contained), JSON (`cutover-report/1`), JUnit XML.

The engine calls `write_run_reports` at the end of every run; `cutover report RUN` renders one
format on demand. All three are built from the journal only (see engine.report.document).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.report.document import REPORT_FORMAT, build_report

FILES = {"html": "report.html", "json": "report.json", "junit": "junit.xml"}


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def renderer(fmt: str) -> Callable[[dict[str, Any]], str]:
    """The function that turns a report document into text of `fmt` (html, json, junit)."""
    if fmt == "html":
        from engine.report.html_render import render_html

        return render_html
    if fmt == "junit":
        from engine.report.junit import render_junit

        return render_junit
    if fmt == "json":
        return render_json
    raise ValueError(f"unknown report format {fmt!r}")


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_reports(
    journal: Any, run_id: str, out_dir: str | Path, masker: Any = None, simulated: bool | None = None
) -> list[Path]:
    """Write report.html, report.json and junit.xml of a run into `out_dir`; the HTML comes first.

    `out_dir` is normally `<state dir>/reports/<run id>`; the state directory is taken from it
    so the resume/rollback commands shown in the report name it when it is not the default.
    """
    out = Path(out_dir)
    state_dir = str(out.parent.parent) if out.parent.name == "reports" else None
    doc = build_report(journal, run_id, masker=masker, simulated=simulated, state_dir=state_dir)
    paths = []
    for fmt, name in FILES.items():
        path = out / name
        write_atomically(path, renderer(fmt)(doc))
        paths.append(path)
    return paths


__all__ = [
    "FILES",
    "REPORT_FORMAT",
    "build_report",
    "render_json",
    "renderer",
    "write_atomically",
    "write_run_reports",
]
