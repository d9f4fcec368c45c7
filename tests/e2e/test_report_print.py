"""The report a client signs, printed to A4 by headless Chromium: readable, whole, and first things first.

The demo of README.md (the simulated three-server Sage CRM estate) is upgraded and rolled back;
each run's HTML report is printed with Chromium's own `--print-to-pdf` (Debian `chromium`,
profile, HOME and XDG folders in the test's temporary directory). The PDF must be A4 (the
report's `@page { size: A4 }`: Chromium's default would be Letter), stay under a page bound,
and its first page must carry the first screen (versions per server, outcome, findings,
backups, gates, duration). Laid out as print at the A4 text width (210 mm less 2 x 12 mm
margins at 96 px per inch: 703 px) no table, picture or line is wider than the page. The pages
are turned into PNG with `pdftoppm` (Debian poppler-utils) and kept for a person to look at.

Chromium prints as https://developer.chrome.com/docs/chromium/headless documents
(`--headless --print-to-pdf=FILE`); `--no-pdf-header-footer` leaves out the date and URL lines.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_demo_as_documented import INVENTORY, fresh_copy
from tests.e2e.test_report_browser import CHROMIUM_FLAGS, chromium_environment, start_chromium
from tests.support.required import server_unavailable
from tests.support.runs import run_cli

#: the demo's upgrade report prints on at most this many A4 pages (it held 11 when this was written)
UPGRADE_PAGE_BOUND = 16
#: A4 in PostScript points, as pdfinfo prints it
A4_POINTS = (595.0, 842.0)
#: the A4 text width in CSS pixels: (210 mm - 2 x 12 mm) / 25.4 mm x 96 px
A4_TEXT_WIDTH_PX = 703


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        server_unavailable(name, f"not installed (apt-get install {package})")
    return str(found)


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = fresh_copy(tmp_path_factory.mktemp("demo"))
    upgrade = run_cli(["run", "playbooks/sagecrm/upgrade.yml", "-i", INVENTORY, "--approve-all",
                       "--approve", "upgrade-log-fixed-crm2=vCompanyPE merged by hand"], root)
    assert upgrade.rc == 0, upgrade.out + upgrade.err
    rollback = run_cli(["run", "playbooks/sagecrm/rollback.yml", "-i", INVENTORY, "--from-run", "last"], root)
    assert rollback.rc == 0, rollback.out + rollback.err
    ids = re.findall(r"^run (\S+): succeeded", upgrade.out + rollback.out, flags=re.M)
    assert len(ids) == 2
    return {kind: root / ".cutover" / "reports" / run_id / "report.html" for kind, run_id in zip(
        ("upgrade", "rollback"), ids, strict=True)}


def print_to_pdf(html: Path, scratch: Path) -> Path:
    chromium = _tool("chromium", "chromium")
    pdf = scratch / (html.parent.name + ".pdf")
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--window-size")]
    subprocess.run(
        [chromium, *flags, f"--user-data-dir={scratch / 'profile'}", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", html.as_uri()],
        env=chromium_environment(scratch / "home"), check=True, capture_output=True, timeout=120,
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    return pdf


def pdf_pages(pdf: Path) -> tuple[int, list[tuple[float, float]]]:
    """Page count and every page's size in points (pdfinfo -l)."""
    info = subprocess.run([_tool("pdfinfo", "poppler-utils"), "-l", "999", str(pdf)], check=True,
                          capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M).group(1))
    sizes = [(float(w), float(h)) for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, flags=re.M)]
    return pages, sizes


def first_page_text(pdf: Path) -> str:
    return subprocess.run([_tool("pdftotext", "poppler-utils"), "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                          check=True, capture_output=True, text=True).stdout


def to_png(pdf: Path, out: Path) -> list[Path]:
    subprocess.run([_tool("pdftoppm", "poppler-utils"), "-png", "-r", "60", str(pdf), str(out / pdf.stem)],
                   check=True, capture_output=True)
    return sorted(out.glob(f"{pdf.stem}*.png"))


@pytest.mark.parametrize("kind", ["upgrade", "rollback"])
def test_the_report_prints_on_a4_with_the_first_screen_first(demo_reports, kind, tmp_path):
    pdf = print_to_pdf(demo_reports[kind], tmp_path)
    pages, sizes = pdf_pages(pdf)

    assert len(sizes) == pages and all(abs(w - A4_POINTS[0]) < 1 and abs(h - A4_POINTS[1]) < 1 for w, h in sizes)
    assert pages <= UPGRADE_PAGE_BOUND
    first = first_page_text(pdf)
    assert "At a glance" in first and "succeeded" in first and "Backups" in first and "Gates" in first
    if kind == "upgrade":
        for host in ("crm1", "crm2", "crm3"):
            assert re.search(rf"{host}\s+7\.2\s+→\s+7\.3", first), first
        assert re.search(r"\d+ to act on", first) and "approved by flag" in first
    else:
        assert "restored db:crm from" in first and "matched the backup of run" in first
    pictures = to_png(pdf, tmp_path)
    assert len(pictures) == pages
    print(f"{kind} report: {pdf} ({pages} pages); pages as PNG: {pictures[0].parent}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield driver
    finally:
        driver.quit()


OVERFLOWS = """
const width = document.documentElement.clientWidth;
const wide = [];
for (const el of document.querySelectorAll("table, svg, pre, dl, .signature, h1, p")) {
  const box = el.getBoundingClientRect();
  if (box.width === 0) continue;
  if (box.right > width + 0.5 || el.scrollWidth > el.clientWidth + 1) {
    wide.push(el.tagName + (el.id ? "#" + el.id : "") + " " + Math.round(box.right) + "/" + width);
  }
}
return [width, document.documentElement.scrollWidth, wide];
"""


@pytest.mark.parametrize("kind", ["upgrade", "rollback"])
def test_nothing_is_wider_than_the_a4_page(browser, demo_reports, kind):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": A4_TEXT_WIDTH_PX, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    browser.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": True})  # paper has no scrollbar
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        browser.get(demo_reports[kind].as_uri())
        width, page_width, wide = browser.execute_script(OVERFLOWS)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        browser.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": False})
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert width == A4_TEXT_WIDTH_PX
    assert wide == [] and page_width <= width


def test_report_files_are_readable_by_the_group_and_the_mode_is_configurable(demo_reports, monkeypatch):
    html = demo_reports["upgrade"]
    for path in (*html.parent.iterdir(),):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert stat.S_IMODE(html.parent.stat().st_mode) == 0o750
    root = html.parents[3]
    monkeypatch.setenv("CUTOVER_REPORT_MODE", "0600")
    monkeypatch.setenv("CUTOVER_REPORT_DIR", str(root / "shared-reports"))
    again = run_cli(["report", html.parent.name], root)
    assert again.rc == 0, again.err
    target = root / "shared-reports" / html.parent.name / "report.html"
    assert again.out.strip() == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def pdf_text_pages(pdf: Path) -> list[str]:
    """The text of every page (pdftotext -layout; pages are separated by a form feed)."""
    text = subprocess.run([_tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-"],
                          check=True, capture_output=True, text=True).stdout
    return text.split("\f")


@pytest.mark.parametrize("kind", ["upgrade", "rollback"])
def test_printed_the_glance_gives_the_duration_and_one_page_holds_the_whole_signature_block(
        demo_reports, kind, tmp_path):
    import json

    from engine.report.html_render import duration

    data = json.loads(demo_reports[kind].with_name("report.json").read_text(encoding="utf-8"))
    pages = pdf_text_pages(print_to_pdf(demo_reports[kind], tmp_path))

    assert re.search(rf"Duration\s+{re.escape(duration(data['glance']['duration']))}", pages[0]), pages[0]
    anchor = f"We have read this report of run {data['run']['id']}"
    holding = [page for page in pages if anchor in page]
    assert len(holding) == 1, "the sign-off sentence is missing or split"
    block = holding[0].split(anchor, 1)[1]  # the section is the last one: the rest of its page
    for word in ("Name", "Role", "Date", "Signature"):
        assert len(re.findall(rf"\b{word}\b", block)) == 2, (word, block)  # client's and operator's
    assert re.search(r"\bClient\b", block) and re.search(r"\bOperator\b", block)
    assert data["run"]["operator"] in block


SIGNATURE_LINES = """
return [...document.querySelectorAll("#signatures .signature dd")].map(dd => {
  const style = getComputedStyle(dd);
  return [dd.closest(".signature").id, dd.previousElementSibling.textContent,
          style.borderBottomStyle, parseFloat(style.borderBottomWidth), dd.getBoundingClientRect().width];
});
"""


def test_printed_each_signature_field_has_a_line_to_write_on(browser, demo_reports):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": A4_TEXT_WIDTH_PX, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        browser.get(demo_reports["upgrade"].as_uri())
        fields = browser.execute_script(SIGNATURE_LINES)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert [(who, label) for who, label, *_ in fields] == [
        (f"signature-{who}", label) for who in ("client", "operator") for label in ("Name", "Role", "Date", "Signature")
    ]
    # a pen needs room: a solid rule under each field, at least a third of the half-page block wide
    assert all(style == "solid" and width >= 1 and box >= A4_TEXT_WIDTH_PX / 6 for *_, style, width, box in fields)
