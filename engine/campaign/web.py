"""`cutover campaign serve CAMPAIGN`: a small read-only status page (standard library HTTP server).

Three addresses, all GET only: `/` the page (every estate's state, current step, elapsed time,
window, gates waiting with the command that answers them, a link to each run's report; it
reloads itself every few seconds), `/status.json` the same as data, `/runs/RUN/report.html` the
run's report rendered from the journal (so it works for runs made on any worker). Nothing on it
changes anything: answering a gate stays a named person's `cutover approve`.

It listens on 127.0.0.1 unless told otherwise; the journal it reads is already masked, and the
journal's URL is shown without its password.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.campaign.status import campaign_status
from engine.journal.store import Journal

REFRESH_SECONDS = 5
_REPORT = re.compile(r"^/runs/([A-Za-z0-9_.:-]+)/report\.html$")
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


@cache
def _template() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["j2", "html"]))
    return env.get_template("status.html.j2")


def _window_text(window: dict[str, str]) -> str:
    zone = ZoneInfo(window["timezone"])
    start = dt.datetime.fromisoformat(window["start"]).astimezone(zone)
    end = dt.datetime.fromisoformat(window["end"]).astimezone(zone)
    until = end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M")
    return f"{start:%Y-%m-%d %H:%M} -> {until} {window['timezone']}"


def render_page(status: dict[str, Any]) -> str:
    for estate in status["estates"]:
        estate["window_text"] = _window_text(estate["window"])
    return _template().render(s=status, refresh=REFRESH_SECONDS)


def handler_for(campaign: str, open_journal: Callable[[], Journal]) -> type[BaseHTTPRequestHandler]:
    class StatusHandler(BaseHTTPRequestHandler):
        server_version = "cutover-status"

        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            path = self.path.split("?", 1)[0]
            try:
                journal = open_journal()
            except Exception as err:  # noqa: BLE001 - say why on the page, keep serving
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, f"journal unavailable: {err}", "text/plain")
            try:
                if path == "/":
                    page = render_page(campaign_status(journal, campaign))
                    return self._send(HTTPStatus.OK, page, "text/html", _PAGE_POLICY)
                if path == "/status.json":
                    return self._send(HTTPStatus.OK, json.dumps(campaign_status(journal, campaign), indent=2),
                                      "application/json")
                found = _REPORT.match(path)
                if found:
                    return self._report(journal, found.group(1))
                return self._send(HTTPStatus.NOT_FOUND, "not found", "text/plain")
            finally:
                journal.close()

        def _report(self, journal: Journal, run_id: str) -> None:
            from engine.report import build_report, renderer

            owned = {r["run_id"] for r in journal.query(
                "SELECT run_id FROM campaign_estates WHERE campaign = ?", (campaign,))}
            if run_id not in owned or journal.run(run_id) is None:
                return self._send(HTTPStatus.NOT_FOUND, f"no run {run_id} in campaign {campaign}", "text/plain")
            self._send(HTTPStatus.OK, renderer("html")(build_report(journal, run_id)), "text/html")

        do_HEAD = do_GET  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, "this page is read-only", "text/plain")

        do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

        def _send(self, status: HTTPStatus, body: str, kind: str, policy: str | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if policy:
                self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
            pass

    return StatusHandler


def serve(campaign: str, open_journal: Callable[[], Journal], bind: str = "127.0.0.1", port: int = 8421) -> int:
    """Serve until Ctrl-C; a campaign that does not exist is refused before listening (exit 2)."""
    journal = open_journal()
    try:
        campaign_status(journal, campaign)
    finally:
        journal.close()
    try:
        server = ThreadingHTTPServer((bind, port), handler_for(campaign, open_journal))
    except OSError as err:
        from engine.core.errors import UserError

        raise UserError(f"cannot listen on {bind}:{port}: {err.strerror or err}",
                        hint="--port 0 picks a free port") from None
    host, real_port = server.server_address[:2]
    print(f"campaign {campaign}: status page at http://{host}:{real_port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
