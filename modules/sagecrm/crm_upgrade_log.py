"""Read the Sage CRM upgrade log the guide asks a person to read, and list what needs fixing.

`<install>\\Setup\\UPGRADELOG.HTML` links a report per ES script (CustomPages.es, views.es,
Tables.es, ...) with its outcome, and the SQL scripts' logs; a SQL script that had errors gets an
extra HTML file whose link text ends with `*`. This module reads the summary and every page it
links (through the host, read-only) and turns into Findings (category `upgrade_log`):
- each script reported as failed (error);
- every line marked "NB must be fixed" / "NB doit être réparé" / "NB muss behoben werden", in the
  log's own language and words (warning: these need a manual fix);
- each SQL log with an error file, with the error summary (error).

The log's format is read loosely (links, list items, paragraphs), since Sage CRM versions and
languages differ. `fail_on_errors: true` fails the task when there is an error-level finding;
by default the findings go to the run report and the upgrade goes on (the guide's "review").
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, ClassVar

from engine.api.module import Finding, Module, ModuleFailed, Result, TaskContext
from modules._common import digest, object_schema, read_bytes
from modules.sagecrm import _sagecrm as crm

NB_MARKERS = ("nb must be fixed", "nb doit être réparé", "nb doit etre repare", "nb muss behoben werden")
FAILED_WORDS = ("failed", "échec", "echec", "erreur", "error", "fehlgeschlagen", "fehler")
OK_WORDS = ("succeeded", "success", "réussi", "reussi", "ok", "erfolgreich")
MAX_PAGE = 4 << 20


class _Page(HTMLParser):
    """Links with their text and the text that follows them on the line, and every text line."""

    BLOCKS = frozenset({"p", "li", "div", "tr", "br", "h1", "h2", "h3", "td", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.lines: list[str] = []
        self._line: list[str] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self._flush()
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(
                {"href": self._href, "text": " ".join("".join(self._text).split()), "after": ""}
            )
            self._href = None
        if tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        self._line.append(data)
        if self._href is not None:
            self._text.append(data)
        elif self.links and not self.links[-1]["after"]:
            self.links[-1]["after"] = data.strip(" :-\t\r\n")

    def _flush(self) -> None:
        text = " ".join("".join(self._line).split())
        if text:
            self.lines.append(text)
        self._line = []

    def close(self) -> None:
        super().close()
        self._flush()


def parse_page(data: bytes) -> _Page:
    page = _Page()
    page.feed(data.decode("utf-8", "replace"))
    page.close()
    return page


def marked_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if any(m in line.casefold() for m in NB_MARKERS)]


def outcome(text: str) -> bool | None:
    words = set(re.findall(r"[\wéè]+", text.casefold()))
    if words & set(FAILED_WORDS):
        return False
    if words & set(OK_WORDS):
        return True
    return None


def read_upgrade_log(ctx: TaskContext, path: str) -> tuple[dict[str, Any], list[Finding]]:
    """The log's scripts, SQL logs, errors and lines to fix (output) and its Findings.

    Shared with the installer, which reads the database server's log before any other server
    starts (the guide: every error is recorded and put right first).
    """
    remote = ctx.require_remote()
    try:
        data, _cut = read_bytes(remote, path, max_bytes=MAX_PAGE)
    except ModuleFailed as exc:
        raise ModuleFailed(f"cannot read the upgrade log {path}: {exc}") from None
    summary = parse_page(data)
    base = ntpath.dirname(path)
    scripts, sql_logs, findings = [], [], []
    for line in marked_lines(summary.lines):
        findings.append(_finding(ctx, "warning", f"{ntpath.basename(path)}: {line}", path, line))
    for link in summary.links:
        target = ntpath.join(base, link["href"].replace("/", "\\"))
        name = link["text"]
        if name.endswith("*"):
            page = _read(ctx, target)
            detail = "; ".join(page.lines[-10:]) if page else "(error file unreadable)"
            sql_logs.append({"name": name.rstrip("*").strip(), "errors": True, "file": target})
            findings.append(
                _finding(
                    ctx,
                    "error",
                    f"SQL script errors: {name.rstrip('*').strip()}: {detail}",
                    target,
                    detail,
                )
            )
            continue
        ok = outcome(link["after"])
        if ok is None and not name.lower().endswith((".es", ".es.html")):
            sql_logs.append({"name": name, "errors": False, "file": target})
            continue
        scripts.append({"name": name, "ok": ok is not False, "report": target})
        if ok is False:
            findings.append(_finding(ctx, "error", f"script {name} failed", target, link["after"]))
        page = _read(ctx, target)
        for line in marked_lines(page.lines if page else []):
            findings.append(_finding(ctx, "warning", f"{name}: {line}", target, line))
    output = {
        "path": path,
        "scripts": scripts,
        "sql_logs": sql_logs,
        "to_fix": [f.message for f in findings if f.severity == "warning"],
        "errors": [f.message for f in findings if f.severity == "error"],
    }
    return output, findings


def _read(ctx: TaskContext, path: str) -> _Page | None:
    try:
        data, _cut = read_bytes(ctx.require_remote(), path, max_bytes=MAX_PAGE)
    except ModuleFailed:
        return None
    return parse_page(data)


def _finding(ctx: TaskContext, severity: str, message: str, source: str, line: str) -> Finding:
    return Finding(
        "upgrade_log", message, severity, host=ctx.host.name, detail={"file": source, "line": line}
    )


#: the `path` argument of the modules that read the upgrade log (this one and crm_log_review)
LOG_PATH_ARG: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "description": "Default <install>\\Setup\\UPGRADELOG.HTML.",
}


class CrmUpgradeLog(Module):
    """UPGRADELOG.HTML and the pages it links -> script outcomes and what must be fixed, as Findings."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Read the Sage CRM upgrade log (UPGRADELOG.HTML and its script logs) into Findings.",
        {
            "path": LOG_PATH_ARG,
            "fail_on_errors": {"type": "boolean", "default": False},
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        skipped = crm.no_crm_here(est, ctx.host.name)
        if skipped is not None:
            return skipped
        path = str(args.get("path") or est.log_path)
        remote = ctx.require_remote()
        if ctx.check_mode and digest(remote, path) is None:
            return Result(
                skipped=True, msg=f"{path} does not exist yet (check mode: the installer did not run)"
            )
        output, findings = read_upgrade_log(ctx, path)
        result = Result(
            changed=False,
            output=output,
            findings=findings,
            msg=f"{len(output['scripts'])} script(s), {len(output['errors'])} error(s), "
            f"{len(output['to_fix'])} item(s) to fix",
        )
        if args.get("fail_on_errors") and output["errors"]:
            result.failed = True
            result.msg = f"upgrade log has {len(output['errors'])} error(s): {output['errors'][0]}"
        return result
