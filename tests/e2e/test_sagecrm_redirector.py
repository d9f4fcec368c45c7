"""Chapter 13: after the upgrade, SData and the dashboard answer through the redirector's rules.

The guide: "si Sage CRM 7,2 est installée après CRM 7,3, cette version remplacera les paramètres
SData dans IIS, et supprimera les règles du réécrivain pour l'installation Sage CRM 7,3"; the fix
is to run the 7.3 installer again with "Modifier l'installation existante". The SData URL form is
Sage's (https://help.sagecrm.com/on_premise/en/2024R2/Dev/Content/Developer/SD_URLs.htm:
"http://<Server>/sdata/<InstallName>j/sagecrm/-/<Target>"). The simulated IIS forwards
`/sdata/<install>j/...` to Tomcat by a rewrite rule on the SData application, as Sage CRM 7.2+
sets it up (ARR + URL Rewrite); `iis.rewrite_rules` is what a second install does to it.
"""

from __future__ import annotations

from tests.support.sagecrm_estates import SimEstate


def test_sdata_and_dashboard_checked_after_the_upgrade(tmp_path):
    estate = SimEstate(tmp_path, "single")
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc == 0, result.out + result.err
    checks = [n for n in estate.nodes(estate.last_run()).values() if n["module"] == "crm_redirector_check"]
    assert [n["status"] for n in checks] == ["ok"]


def test_a_removed_rewrite_rule_fails_with_the_guides_fix(tmp_path):
    estate = SimEstate(tmp_path, "single")
    # a Sage CRM 7.2 installed after 7.3 replaced the SData settings: no rule for CRMj any more
    before = estate.host("crm").set_rewrite_rules("Default Web Site/sdata", {"CRM72j": "CRMTomcat7"})
    assert before == {"CRMj": "CRMTomcat7"}
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert result.rc != 0
    failed = [n for n in estate.nodes(estate.last_run()).values() if n["status"] == "failed"]
    assert [n["module"] for n in failed] == ["crm_redirector_check"]
    error = failed[0]["error"]
    assert "http://localhost/sdata/CRMj/sagecrm/-/$schema: status 404" in error
    assert "http://localhost/sdata/CRMj/layout/-/$service/: status 404" in error
    assert "« Modifier l'installation existante »" in error and "Sage CRM 7.3 installer" in error


def test_tomcat_stopped_behind_the_rule_is_a_bad_gateway(tmp_path):
    estate = SimEstate(tmp_path, "single")
    host = estate.host("crm")
    host.set_service_state("CRMTomcat7", "stopped")
    answer = host.call([{"op": "http.get", "args": {"url": "http://localhost/sdata/CRMj/sagecrm/-/$schema"}}])
    assert answer[0]["value"]["status"] == 502
    assert "acting as a gateway or proxy server" in answer[0]["value"]["body"]
    host.set_service_state("CRMTomcat7", "running")
    answer = host.call([{"op": "http.get", "args": {"url": "http://localhost/sdata/CRMj/sagecrm/-/$schema"}}])
    assert answer[0]["value"]["status"] == 200 and "<feed" in answer[0]["value"]["body"]
