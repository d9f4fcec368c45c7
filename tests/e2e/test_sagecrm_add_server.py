"""playbooks/sagecrm/add-server.yml: a new web server joins an existing estate (chapter 6).

The guide: "installez d'abord Sage CRM sur le serveur Web principal ... Ensuite, vous pouvez
installer Sage CRM sur les autres serveurs Web du cluster. La base de données ne sera pas installée
pour ces installations", "une seule instance Moteur de duplication", "le service Tomcat est
installé sur chaque serveur Web du cluster", the UNC library ("un chemin d'accès réseau UNC
partagé ... est requis") and the DTLS name ("le même que celui spécifié sur le certificat SSL").
The simulated cluster (crm1..3, Sage CRM 7.2) gets crm4, a fresh Windows server with IIS and no CRM.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from simulation.sagecrm.setup_program import media
from tests.support.runs import REPO, run_cli, write_yaml
from tests.support.sagecrm_estates import MEDIA, SIM_PARAMETERS, SimEstate, inventory_doc, sim_initial

LIBRARY = "\\\\fs1\\crmlib"
NEW_RESPONSE = f"{MEDIA}\\install-new.iss"
RESPONSE = (
    "[SageCRM]\nMode=Install\nInstallName=CRM\nLicenceKey=SIM-LICENCE-KEY\nDatabase=No\nDatabaseServer=crm2\n"
)


def _doc(
    share: bool = True, roles: list[str] | None = None, certificate: str | None = None, **section: Any
) -> dict:
    doc = inventory_doc("cluster", library=LIBRARY, **section)
    doc["sagecrm"]["installer"]["response_files"]["new"] = NEW_RESPONSE
    fresh: dict[str, Any] = {
        "preset": "sagecrm",
        "installed": False,
        "files": {f"{MEDIA}\\setup.exe": media("7.2"), NEW_RESPONSE: RESPONSE},
    }
    if share:
        fresh["disks"] = {LIBRARY: {"total": 1 << 34, "free": 1 << 33}}
        fresh["directories"] = [LIBRARY]
    doc["hosts"]["crm4"] = {"roles": roles or ["web"], "sim": {"initial": fresh}}
    if certificate is not None:
        doc["hosts"]["crm1"]["sim"] = {
            "initial": {**sim_initial(), "hostname": "crm1.test.local", "iis": {"certificate": certificate}}
        }
    doc["groups"] = {"new_servers": {"hosts": ["crm4"]}}
    return doc


def _run(estate: SimEstate):
    return estate.run("add-server.yml")


def _params(estate: SimEstate) -> dict[str, str]:
    with sqlite3.connect(estate.db_path) as db:
        rows = db.execute("SELECT Parm_Name, Parm_Value FROM custom_sysparams").fetchall()
    return {name: value for name, value in rows if name in SIM_PARAMETERS.values()}


def test_the_plan_installs_once_after_the_checks_and_the_backup(tmp_path):
    estate = SimEstate(tmp_path, "cluster", doc=_doc())
    result = run_cli(
        [
            "plan",
            str(REPO / "playbooks/sagecrm/add-server.yml"),
            "-i",
            str(estate.inventory),
            "--format",
            "json",
        ],
        tmp_path,
    )
    assert result.rc == 0, result.err
    steps = json.loads(result.out)["steps"]
    wave = {(s["module"], s["host"], s["task"]): s["wave"] for s in steps}
    check = next(w for (m, h, t), w in wave.items() if m == "crm_add_server" and "No Sage CRM yet" in t)
    install = next(w for (m, h, t), w in wave.items() if m == "crm_add_server" and "installer" in t)
    backup = next(w for (m, h, _t), w in wave.items() if m == "crm_backup")
    settings = next(w for (m, h, _t), w in wave.items() if m == "crm_sysparams")
    assert check < backup < install < settings
    assert {h for (m, h, _t) in wave if m == "crm_add_server"} == {"crm4"}
    assert {h for (m, h, _t) in wave if m == "crm_backup"} == {"crm2"}
    assert not any(m == "crm_installer" for (m, _h, _t) in wave)  # nothing is upgraded


def test_the_new_server_is_installed_and_in_the_multi_server_settings(tmp_path):
    estate = SimEstate(tmp_path, "cluster", doc=_doc())
    before = _params(estate)
    result = _run(estate)
    assert result.rc == 0, result.out + result.err
    crm4 = estate.host("crm4")
    assert crm4.registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")["data"] == "7.2"
    assert crm4.service("CRMTomcat7")["state"] == "running"
    assert estate.db_version() == "7.2"  # the database is not upgraded (nor installed) again
    after = _params(estate)
    assert after[SIM_PARAMETERS["servers"]] == "crm1;crm2;crm3;crm4" != before.get(SIM_PARAMETERS["servers"])
    assert after[SIM_PARAMETERS["fqdns"]].endswith(";crm4")
    nodes = estate.nodes(estate.last_run()).values()
    assert {n["module"]: n["status"] for n in nodes if n["host"] == "crm4"}["crm_redirector_check"] == "ok"


def test_a_second_replication_engine_is_refused(tmp_path):
    doc = _doc(roles=["web", "replication"])
    inventory = write_yaml(tmp_path / "inventory.yml", doc)
    result = run_cli(["run", str(REPO / "playbooks/sagecrm/add-server.yml"), "-i", str(inventory)], tmp_path)
    assert result.rc == 2, result.out + result.err
    assert "crm4 is a second replication engine (the first is crm1)" in result.err
    assert "new server crm4 has the role 'replication': one replication engine only" in result.err
    assert "Traceback" not in result.err and not (tmp_path / ".cutover" / "sim").exists()


def test_an_unreachable_library_stops_before_anything_is_installed(tmp_path):
    estate = SimEstate(tmp_path, "cluster", doc=_doc(share=False))
    result = _run(estate)
    assert result.rc != 0
    failed = [n for n in estate.nodes(estate.last_run()).values() if n["status"] == "failed"]
    assert [(n["module"], n["host"]) for n in failed] == [("crm_add_server", "crm4")]
    assert f"the document library {LIBRARY} is not reachable from crm4" in failed[0]["error"]
    assert (
        estate.host("crm4").registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")
        is None
    )


def test_a_dtls_name_not_on_the_certificate_is_refused(tmp_path):
    good = SimEstate(
        tmp_path / "good", "cluster", doc=_doc(certificate="crm1.test.local", multi_server=_https())
    )
    assert _run(good).rc == 0
    estate = SimEstate(
        tmp_path / "bad", "cluster", doc=_doc(certificate="crm1-old.test.local", multi_server=_https())
    )
    result = _run(estate)
    assert result.rc != 0
    failed = [n for n in estate.nodes(estate.last_run()).values() if n["status"] == "failed"]
    assert [n["module"] for n in failed] == ["crm_add_server"]
    error = failed[0]["error"]
    assert "the DTLS name crm1.test.local does not answer HTTPS with its certificate on crm1" in error
    assert "Could not establish trust relationship for the SSL/TLS secure channel" in error
    assert "le même que celui spécifié sur le certificat SSL" in error


def _https() -> dict[str, Any]:
    return {
        "load_balancing": True,
        "dtls_name": "crm1.test.local",
        "https": True,
        "parameters": dict(SIM_PARAMETERS),
    }
