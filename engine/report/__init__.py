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
#: report files are readable by the group that runs cutover (the operators' group), nobody else
DEFAULT_MODE = 0o640


def report_mode() -> int:
    """The file mode of reports: `report.mode` of cutover.toml (CUTOVER_REPORT_MODE), else 0640."""
    text = os.environ.get("CUTOVER_REPORT_MODE", "").strip()
    try:
        return int(text, 8) & 0o777 if text else DEFAULT_MODE
    except ValueError:
        return DEFAULT_MODE


def folder_mode(mode: int) -> int:
    """A folder's mode for files of `mode`: whoever may read the files may also enter it."""
    return mode | ((mode & 0o444) >> 2) | 0o700


def reports_root(state_dir: str | Path) -> Path:
    """Where run reports go: `report.dir` of cutover.toml (CUTOVER_REPORT_DIR), else <state dir>/reports."""
    configured = os.environ.get("CUTOVER_REPORT_DIR", "").strip()
    return Path(configured) if configured else Path(state_dir) / "reports"


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


def write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    """Write via a temporary file and rename: a reader never sees half a report. The file gets
    `mode` (default: `report_mode()`), not the private mode of a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, report_mode() if mode is None else mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_reports(
    journal: Any, run_id: str, out_dir: str | Path, masker: Any = None, simulated: bool | None = None,
    state_dir: str | None = None, keep_earlier: bool = False,
) -> list[Path]:
    """Write report.html, report.json and junit.xml of a run into `out_dir`; the HTML comes first.

    `out_dir` is normally `reports_root(state dir)/<run id>`; the state directory (given, or
    taken from `<state dir>/reports/<run id>`) lets the resume/rollback commands shown in the
    report name it when it is not the default. Files and folder get the report mode.
    """
    out = Path(out_dir)
    if state_dir is None and out.parent.name == "reports":
        state_dir = str(out.parent.parent)
    doc = build_report(journal, run_id, masker=masker, simulated=simulated, state_dir=state_dir)
    mode = report_mode()
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(folder_mode(mode))
    if keep_earlier:
        keep_earlier_reports(out, mode)
    paths = []
    for fmt, name in FILES.items():
        path = out / name
        write_atomically(path, renderer(fmt)(doc), mode)
        paths.append(path)
    return paths


def keep_earlier_reports(out: Path, mode: int) -> Path | None:
    """Move the reports in `out` (an earlier attempt's) into `out/attempt-N/`, N counting from 1."""
    earlier = [out / name for name in FILES.values() if (out / name).is_file()]
    if not earlier:
        return None
    number = 1 + sum(1 for p in out.glob("attempt-*") if p.is_dir())
    target = out / f"attempt-{number}"
    target.mkdir(mode=folder_mode(mode))
    for path in earlier:
        path.replace(target / path.name)
    return target


__all__ = [
    "DEFAULT_MODE",
    "FILES",
    "REPORT_FORMAT",
    "build_report",
    "render_json",
    "renderer",
    "report_mode",
    "reports_root",
    "write_atomically",
    "write_run_reports",
]
