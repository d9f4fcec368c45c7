"""The demo site's web server: answers the way nginx + PHP in front of a 1CRM install would.

Why a stand-in: the demo must run on a machine without PHP. cutover's checks of a 1CRM site only
look at what a browser sees: while the maintenance page `<install>/maintenance.html` exists, every
request gets it with status 503 (the web server rule docs/onecrm.md gives); otherwise the page
names the version `sugar_version.php` states. That is what this server does, and nothing more.

    python3 web.py INSTALL_FOLDER PORT     (started and stopped by `start` and `stop`)
"""

from __future__ import annotations

import http.server
import re
import sys
from pathlib import Path

VERSION = re.compile(r"\$sugar_version\s*=\s*'([^']+)'")


def page_for(root: Path) -> tuple[int, bytes]:
    """(status, body) of any request to the site right now."""
    maintenance = root / "maintenance.html"
    if maintenance.exists():
        return 503, maintenance.read_bytes()
    found = VERSION.search((root / "sugar_version.php").read_text(encoding="utf-8"))
    version = found.group(1) if found else "unknown"
    return 200, f"<html><head><title>1CRM</title></head><body>1CRM {version}</body></html>".encode()


def serve(root: Path, port: int) -> None:
    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            status, body = page_for(root)
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            return

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Site).serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
