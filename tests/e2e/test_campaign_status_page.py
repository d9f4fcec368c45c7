"""`cutover campaign serve`: the read-only status page, opened in headless Chromium.

A real local campaign: one estate succeeded, one failed, one waits at its gate. The page is
loaded by Debian's Chromium in headless mode (its DOM after load, and a screenshot kept under
tests/e2e/artifacts/ for a person to look at); the content is asserted on the DOM. The report
link and the read-only answers are checked over HTTP.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.fleet import cli_env, wait_until, write_campaign

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,700"]
WAIT = 180.0


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


def spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=cwd, env=cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_status_page_shows_every_estate_in_chromium(tmp_path):
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    path = write_campaign(tmp_path, "night", {"acme": {}, "bolt": {"broken": True}, "coda": {"with_gate": True}},
                          concurrency=3, description="Sage CRM 7.3 for three clients")
    state = tmp_path / "state"
    driver = spawn(["campaign", "run", str(path), "--state-dir", str(state)], tmp_path)
    server = None
    try:
        def settled() -> bool:
            status = subprocess.run([sys.executable, "-m", "engine", "campaign", "status", "night", "--state-dir",
                                     str(state)], cwd=tmp_path, env=cli_env(), text=True, capture_output=True)
            text = status.stdout
            return bool(re.search(r"acme +succeeded", text) and re.search(r"bolt +failed", text)
                        and "GATE signoff waits" in text)

        wait_until(settled, WAIT, "two estates ended and one waiting at its gate")
        server = spawn(["campaign", "serve", "night", "--port", "0", "--state-dir", str(state)], tmp_path)
        url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline()).group(0)

        dom = chromium(["--dump-dom", url], tmp_path / "profile").stdout
        assert "Campaign night" in dom and "local backend" in dom
        rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr id="estate-(\w+)">(.*?)</tr>', dom, re.S)}
        assert set(rows) == {"acme", "bolt", "coda"}
        assert 'class="state succeeded">succeeded' in rows["acme"]
        assert 'class="state failed">failed' in rows["bolt"] and "'fail if asked' failed on app1" in rows["bolt"]
        coda = rows["coda"]
        assert 'class="state running">running' in coda and "client sign-off on app1" in coda
        run_id = re.search(r'href="runs/([\w-]+)/report.html"', coda).group(1)
        assert f"cutover approve {run_id} signoff --as NAME" in coda
        assert "the client has tested the upgraded CRM" in coda
        assert re.search(r"<td>\d+:\d\d:\d\d</td>", coda), "elapsed time of the running estate"
        assert "Europe/Paris" in coda

        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / ".gitignore").write_text("*\n")
        shot = ARTIFACTS / "campaign-status.png"
        shot.unlink(missing_ok=True)
        chromium([f"--screenshot={shot}", url], tmp_path / "profile")
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        report = urllib.request.urlopen(f"{url}runs/{run_id}/report.html", timeout=30)
        assert report.status == 200 and run_id in report.read().decode()
        for method, address, code in (("POST", url, 405), ("GET", f"{url}runs/nope/report.html", 404),
                                      ("GET", f"{url}etc/passwd", 404)):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(address, method=method, data=b"" if method == "POST"
                                                              else None), timeout=30)
            assert refused.value.code == code
        answer = subprocess.run([sys.executable, "-m", "engine", "approve", run_id, "signoff", "--as", "Claire",
                                 "--state-dir", str(state)], cwd=tmp_path, env=cli_env(), capture_output=True)
        assert answer.returncode == 0
        assert driver.wait(timeout=WAIT) == 1  # bolt failed
    finally:
        for proc in (server, driver):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
