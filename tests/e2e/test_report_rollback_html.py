"""The rollback report's artifact tables, the signature block and the glance's duration, read from
the HTML of real runs (a simulated single-server Sage CRM estate upgraded, then rolled back).

The HTML is parsed (lxml), never searched as text: a heading is only worth something above the
right table, and an artifact only under the heading that says what it is: "Artifacts this
rollback used" (what the upgrade recorded and the rollback restored) and "Artifacts this rollback
took itself" (what the rollback saved before overwriting).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from engine.report.html_render import duration
from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate


def _run_with_report(estate: SimEstate, playbook: str, *args: str) -> tuple[str, Path]:
    result = run_cli(["run", str(PLAYBOOKS / playbook), "-i", str(estate.inventory), *args], estate.root)
    assert result.rc == 0, result.out + result.err
    run_id = estate.last_run()
    return run_id, estate.state_dir / "reports" / run_id / "report.html"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    estate = SimEstate(tmp_path_factory.mktemp("estate"), "single")
    upgrade, upgrade_html = _run_with_report(estate, "upgrade.yml", "--approve-all", *estate.repaired())
    rollback, rollback_html = _run_with_report(estate, "rollback.yml", "--from-run", upgrade)
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        rows = db.execute("SELECT run_id, resource, location FROM artifacts").fetchall()
    return {
        "estate": estate,
        "runs": {"upgrade": upgrade, "rollback": rollback},
        "html": {"upgrade": upgrade_html, "rollback": rollback_html},
        "artifacts": {run: {(r, loc) for rid, r, loc in rows if rid == run} for run in (upgrade, rollback)},
    }


def _page(path: Path) -> Any:
    return lxml.html.fromstring(path.read_text(encoding="utf-8"))


def _text(element: Any) -> str:
    return " ".join(element.text_content().split())


def _table_under(page: Any, heading_id: str) -> tuple[str, Any]:
    """The heading's text and the table right after it (the next element, nothing between)."""
    (heading,) = page.xpath(f'//h3[@id="{heading_id}"]')
    table = heading.getnext()
    assert table is not None and table.tag == "table", f"no table right under {heading_id}"
    return _text(heading), table


def _rows(table: Any, resource_col: int, location_col: int) -> set[tuple[str, str]]:
    """(resource, location) of each body row; the resource cell's first line only (the step follows)."""
    found = set()
    for row in table.xpath("./tbody/tr"):
        cells = row.xpath("./td")
        found.add((cells[resource_col].text.strip(), _text(cells[location_col])))
    return found


def test_each_artifact_is_under_the_heading_that_says_what_it_is(reports):
    page = _page(reports["html"]["rollback"])
    upgrade, rollback = reports["runs"]["upgrade"], reports["runs"]["rollback"]

    used_title, used = _table_under(page, "artifacts-used-title")
    took_title, took = _table_under(page, "artifacts-title")

    assert used_title == f"Artifacts this rollback used (restored from what run {upgrade} recorded)"
    assert took_title == "Artifacts this rollback took itself"
    restored = _rows(used, 0, 2)  # Restored | Host | From
    taken = _rows(took, 1, 3)  # Kind | Protects | Host | Location
    assert restored and restored <= reports["artifacts"][upgrade]  # every one the upgrade's
    assert {r for r, _ in restored} >= {"db:crm", r"files:crm:C:\Program Files (x86)\Sage\CRM\CRM"}
    assert taken == reports["artifacts"][rollback]  # exactly the rollback's own, none of the upgrade's
    assert not taken & reports["artifacts"][upgrade]
    checks = {
        row.xpath("./td")[0].text.strip(): _text(row.xpath("./td")[6]) for row in used.xpath("./tbody/tr")
    }
    assert checks["db:crm"] == "sha256 matched"


def test_an_upgrade_report_has_one_table_headed_for_what_a_rollback_would_use(reports):
    page = _page(reports["html"]["upgrade"])
    title, table = _table_under(page, "artifacts-title")
    assert title == "Artifacts this run took (what a rollback would use)"
    assert _rows(table, 1, 3) == reports["artifacts"][reports["runs"]["upgrade"]]
    assert page.xpath('//*[@id="artifacts-used-title"]') == []


@pytest.mark.parametrize("kind", ["upgrade", "rollback"])
def test_the_signature_block_has_client_and_operator_with_name_role_date_and_a_line(reports, kind):
    page = _page(reports["html"][kind])
    (section,) = page.xpath('//section[@id="signatures"]')
    blocks = section.xpath('.//div[contains(concat(" ", @class, " "), " signature ")]')

    assert [_text(b.xpath("./h3")[0]) for b in blocks] == ["Client", "Operator"]
    operator = json.loads(reports["html"][kind].with_name("report.json").read_text())["run"]["operator"]
    for block, name in zip(blocks, ["", operator], strict=True):
        labels = [_text(dt) for dt in block.xpath(".//dl/dt")]
        assert labels == ["Name", "Role", "Date", "Signature"]
        values = block.xpath(".//dl/dd")
        assert [_text(dd) for dd in values] == [name, "", "", ""]  # left blank for the pen
        assert "line" in values[3].classes
    assert operator and reports["runs"][kind] in _text(section)


@pytest.mark.parametrize("kind", ["upgrade", "rollback"])
def test_the_glance_gives_the_duration_of_the_run(reports, kind):
    page = _page(reports["html"][kind])
    run = json.loads(reports["html"][kind].with_name("report.json").read_text())
    (row,) = page.xpath('//table[@id="glance-facts"]/tr[th="Duration"]')

    seconds = run["glance"]["duration"]
    assert isinstance(seconds, int | float) and seconds > 0
    assert _text(row.xpath("./td")[0]) == f"{duration(seconds)} · started {run['run']['started']}"
