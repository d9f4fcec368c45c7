"""The HTML report of a real run, opened in headless Chromium: visible, inert, self-contained.

A real run (`cutover run` on a local-connection playbook) produces the journal: a verified
backup (artifact), a failing task, gates approved with --approve, a blocked gate left unsigned,
and a task whose name and output carry markup that would run if it were not escaped. Chromium (Debian `chromium` + `chromium-driver`, driven by Selenium) must show
the summary, every host, the failure, the checklist, and must neither fire an alert nor log a
console error. A full-page screenshot is kept in pytest's temporary directory (its path is
printed; pytest keeps the last three runs) for a person to look at.

Chromium writes only below the test's temporary directory: its profile (`--user-data-dir`), and
what it would otherwise put in the home directory (crash reports under ~/.config, dconf and
font caches under ~/.cache), because chromedriver and Chromium run with HOME and the XDG
directories pointed there.

If Chromium cannot start, the test is skipped with the reason printed, never passed; under
`CUTOVER_REQUIRE_SERVERS=1` (CI) it fails instead (tests/support/required.py).
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.journal.store import Journal
from engine.report import write_run_reports
from tests.support.required import server_unavailable

HOSTILE_TASK = "say <script>alert(1)</script>"
HOSTILE_OUTPUT = "<img src=x onerror=alert(2)>"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)
#: runs before any script of the page: records alerts instead of blocking on them
ALERT_TRAP = """
window.__alerts = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (message) { window.__alerts.push(name + ":" + String(message)); };
}
"""


def _write_estate(work: Path) -> tuple[Path, Path]:
    for host in ("web1", "web2"):
        (work / f"crm-{host}" / "WWWRoot").mkdir(parents=True)
        (work / f"crm-{host}" / "WWWRoot" / "eware.dll").write_bytes(b"MZ" + bytes(range(256)))
    inventory = work / "estate.yml"
    inventory.write_text(
        textwrap.dedent("""\
        estate: acme-crm
        hosts:
          web1: {connection: local}
          web2: {connection: local}
        """)
    )
    playbook = work / "upgrade.yml"
    playbook.write_text(
        textwrap.dedent(f"""\
        - name: upgrade
          hosts: all
          on_failure: continue
          tasks:
            - name: "{HOSTILE_TASK}"
              command: "echo '{HOSTILE_OUTPUT}'"
              register: greeting
            - name: back up the program files
              archive: {{path: "{work}/crm-{{{{ inventory_hostname }}}}", dest: "{work}/backups/<crm> {{{{ inventory_hostname }}}}.zip"}}
            - name: client approves the maintenance window
              gate: {{id: client_signoff, prompt: "maintenance window agreed?"}}
            - name: restart the CRM service
              command: "sh -c 'echo service CRMTomcat7 did not start >&2; exit 3'"
              when: inventory_hostname == 'web2'
            - name: smoke test login
              debug: {{msg: login works}}
              tags: [checklist]
            - name: final sign-off
              gate: {{id: final_signoff, prompt: "client signs the upgrade off"}}
        """)
    )
    return playbook, inventory


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real run of the playbook above: its state dir, run id and report paths."""
    work = tmp_path_factory.mktemp("report-e2e")
    playbook, inventory = _write_estate(work)
    state = work / "state"
    code = main(
        [
            "run",
            str(playbook),
            "-i",
            str(inventory),
            "--state-dir",
            str(state),
            "--operator",
            "alice",
            "--approve",
            "client_signoff=window agreed by ACME",
            "--approve",
            "final_signoff",
        ]
    )
    assert code == 1, "the run has a failing task, so it must end with exit code 1"
    journal = Journal(state / "runs.db")
    run_id = journal.find_run("last")["id"]
    simulated_dir = work / "simulated"
    simulated = write_run_reports(journal, run_id, simulated_dir, simulated=True)
    journal.close()
    html = state / "reports" / run_id / "report.html"
    assert html.is_file(), "the engine writes the report at the end of every run"
    return {"run_id": run_id, "html": html, "simulated_html": simulated[0]}


def _find(name: str, *candidates: str) -> str | None:
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


def chromium_environment(home: Path) -> dict[str, str]:
    """The environment of chromedriver and Chromium: every per-user directory inside `home`."""
    directories = {"XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache", "XDG_DATA_HOME": ".local/share"}
    runtime = home / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
    env.update({name: str(home / relative) for name, relative in directories.items()})
    env["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download anything
    return env


def start_chromium(scratch: Path) -> Any:
    """Headless Chromium through Selenium and the Debian chromedriver, writing only below `scratch`.

    Skips (fails under CUTOVER_REQUIRE_SERVERS=1) with the reason when it cannot start.
    """

    def unavailable(reason: str) -> None:
        print(f"report browser test: Chromium unavailable: {reason}")
        server_unavailable("Chromium", reason)

    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install selenium)")
    chromium = _find("chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
    driver_path = _find("chromedriver", "/usr/bin/chromedriver")
    if not chromium or not driver_path:
        unavailable("Chromium or chromedriver missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={scratch / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver_path, env=chromium_environment(scratch / "home"))
    try:
        return webdriver.Chrome(service=service, options=options)
    except WebDriverException as err:
        unavailable(f"Chromium did not start: {str(err.msg or err).splitlines()[0]}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module's tests; everything it writes stays in a temp dir."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ALERT_TRAP})
        yield driver
    finally:
        driver.quit()


def _open(browser: Any, path: Path) -> list[dict[str, Any]]:
    """Load a report; return the console entries of this page load."""
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(path.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    return browser.get_log("browser")


def _visible_text(browser: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    element = browser.find_element(By.CSS_SELECTOR, css)
    assert element.is_displayed(), f"{css} is not visible"
    return element.text


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: pytest's temporary directory, never the source tree."""
    return tmp_path_factory.mktemp("screenshots")


def _screenshot(browser: Any, directory: Path, name: str) -> Path:
    """A full-page PNG (Chromium's DevTools capture beyond the viewport)."""
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path = directory / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def test_report_shows_the_run_and_nothing_injected_runs(
    browser: Any, recorded_run: dict[str, Any], screenshots: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    console = _open(browser, recorded_run["html"])
    errors = [entry for entry in console if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == [], f"console errors: {errors}"
    assert browser.execute_script("return window.__alerts") == [], "an alert fired"
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the property access is the check
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0, (
        "the report fetched something: it must be self-contained"
    )

    summary = _visible_text(browser, "#summary")
    assert "acme-crm" in summary and "alice" in summary and recorded_run["run_id"] in summary
    assert _visible_text(browser, "#outcome") == "failed"
    assert f"cutover resume {recorded_run['run_id']}" in _visible_text(browser, "#resume-command")
    assert f"--from-run {recorded_run['run_id']}" in _visible_text(browser, "#rollback-command")
    artifacts = _visible_text(browser, "#artifacts")
    assert "backups/<crm> web1.zip" in artifacts and "backups/<crm> web2.zip" in artifacts
    shas = browser.find_elements(By.CSS_SELECTOR, "#artifacts code.sha[data-full]")
    assert len(shas) == 2  # shortened on the page, whole on hover (title) and copy (data-full)
    for sha in shas:
        full = sha.get_attribute("data-full")
        assert len(full) == 64 and sha.get_attribute("title") == full and sha.text == full[:12] + "…"

    hosts = _visible_text(browser, "#hosts")
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "h3.host-title") if e.is_displayed()]
    assert titles == ["web1", "web2"]
    assert "web1" in hosts and "web2" in hosts

    failed = browser.find_element(By.CSS_SELECTOR, "article.st-border-failed")
    error = failed.find_element(By.CSS_SELECTOR, "pre.error")
    assert error.is_displayed() and "non-zero return code 3" in error.text
    assert "service CRMTomcat7 did not start" in failed.text, "the failed step's output (stderr) is shown"
    blocked = browser.find_elements(By.CSS_SELECTOR, "article.st-border-blocked")
    assert blocked and all("blocked by: web2: restart the CRM service" in b.text for b in blocked)

    checklist = _visible_text(browser, "#checklist")
    assert "signed by alice" in checklist and "window agreed by ACME" in checklist
    red = browser.find_elements(By.CSS_SELECTOR, "#checklist-table tr.bad")
    assert {r.find_element(By.CSS_SELECTOR, "td").text for r in red} == {"final sign-off", "smoke test login"}
    cells = [r.find_element(By.CSS_SELECTOR, "td") for r in red]
    assert {c.value_of_css_property("color") for c in cells} == {"rgba(163, 21, 21, 1)"}, (
        "unsigned items in red"
    )

    # the hostile text is shown as text, and became no element
    assert HOSTILE_TASK in _visible_text(browser, "#steps")
    first_output = browser.find_element(By.CSS_SELECTOR, "details.output")
    browser.execute_script("arguments[0].open = true", first_output)
    assert HOSTILE_OUTPUT in first_output.text
    assert browser.find_elements(By.CSS_SELECTOR, "img, iframe, object, embed") == []
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 1
    assert browser.find_elements(By.CSS_SELECTOR, "#simulation-banner") == []

    assert browser.find_element(By.CSS_SELECTOR, "svg.gantt").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "svg.plan").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "svg.plan path.edge.crit"), "critical path drawn"
    browser.execute_script("arguments[0].open = false", first_output)
    shot = _screenshot(browser, screenshots, "report.png")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    print(f"screenshot: {shot}")


def test_print_layout_keeps_raw_json_folded_and_hides_controls(browser: Any, recorded_run: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, recorded_run["html"])
    closed = [d for d in browser.find_elements(By.CSS_SELECTOR, "details") if d.get_attribute("open") is None]
    assert closed, "the report keeps outputs folded on screen"
    hidden_pre = closed[0].find_element(By.CSS_SELECTOR, "pre")
    # Selenium's is_displayed() calls anything inside a closed <details> hidden whatever the CSS: ask the layout
    rendered = "return arguments[0].checkVisibility() && arguments[0].getBoundingClientRect().height > 0"
    assert not browser.execute_script(rendered, hidden_pre)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not browser.execute_script(rendered, hidden_pre), "raw JSON stays folded on paper"
        summary = closed[0].find_element(By.CSS_SELECTOR, "summary")
        assert browser.execute_script(rendered, summary), "its summary line is printed"
        assert not browser.find_element(By.CSS_SELECTOR, "nav.controls").is_displayed()
        background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
        pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
        assert base64.b64decode(pdf["data"]).startswith(b"%PDF")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_simulation_banner_is_visible(browser: Any, recorded_run: dict[str, Any], screenshots: Path) -> None:
    console = _open(browser, recorded_run["simulated_html"])
    assert [e for e in console if e["level"] == "SEVERE"] == []
    banner = _visible_text(browser, "#simulation-banner")
    assert banner.startswith("SIMULATION")
    assert "(SIMULATION)" in browser.title
    print(f"screenshot: {_screenshot(browser, screenshots, 'report-simulated.png')}")


def test_a_missing_chromium_fails_where_servers_are_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """In CI a report test that could not open the report is a failure, not a quiet skip."""
    monkeypatch.setattr(sys.modules[__name__], "_find", lambda name, *candidates: None)
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "1")
    with pytest.raises(
        pytest.fail.Exception, match="Chromium is not available: Chromium or chromedriver missing"
    ):
        start_chromium(tmp_path)
    monkeypatch.setenv("CUTOVER_REQUIRE_SERVERS", "0")
    with pytest.raises(pytest.skip.Exception, match="Chromium is not available"):
        start_chromium(tmp_path)
