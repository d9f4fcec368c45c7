"""Reading UPGRADELOG.HTML loosely: outcomes, "NB must be fixed" lines, SQL logs marked with `*`."""

from __future__ import annotations

from modules.sagecrm.crm_upgrade_log import marked_lines, outcome, parse_page

ENGLISH = b"""<html><body><h1>Upgrade summary</h1>
<h2>Sage CRM script logs</h2><ul>
<li><a href="Logs/CustomPages.es.html">CustomPages.es</a> : Succeeded</li>
<li><a href="Logs/views.es.html">views.es</a> - Failed</li>
</ul><h2>SQL script logs</h2><ul>
<li><a href="Logs/Update_indexes_mssql.sql.log">Update_indexes_mssql.sql.log</a></li>
<li><a href="Logs/Update_indexes_mssql.sql.html">Update_indexes_mssql.sql.html*</a></li>
</ul><p><b>NB must be fixed</b>: view vPersonPE was customised</p></body></html>"""


def test_links_keep_their_text_and_what_follows():
    page = parse_page(ENGLISH)
    texts = [(link["text"], outcome(link["after"])) for link in page.links]
    assert texts[:2] == [("CustomPages.es", True), ("views.es", False)]
    assert page.links[3]["text"].endswith("*")


def test_marked_lines_in_every_language():
    page = parse_page(ENGLISH)
    assert marked_lines(page.lines) == ["NB must be fixed: view vPersonPE was customised"]
    french = parse_page("<p><b>NB doit être réparé</b> : la vue vCompanyPE</p><p>autre</p>".encode())
    assert marked_lines(french.lines) == ["NB doit être réparé : la vue vCompanyPE"]
    german = parse_page(b"<p>NB muss behoben werden: Index</p>")
    assert marked_lines(german.lines) == ["NB muss behoben werden: Index"]
