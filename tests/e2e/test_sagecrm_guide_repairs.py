"""The Sage CRM guide's repairs come before anything goes on (issue points 1 and 2).

The guide (shared/seeds/sagecrm-upgrade-guide-fr.txt): of the upgrade log's lines "NB doit être
réparé ... Vous devez corriger ces problèmes manuellement", and of the database server's errors
"Il est important que toutes ces erreurs soit enregistrées et rectifiées" before the other
servers are upgraded. Through the simulated estates:
1. users are let back in only once the log's lines are signed as repaired, by the gate's own id;
2. a failed database upgrade (Tables.es) stops the run before any other server's installer.
"""

from __future__ import annotations

import json
import sqlite3

from tests.support.sagecrm_estates import SimEstate, inventory_doc, mirror_test_estate

CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
#: the go/no-go gates of a live upgrade, each named (no --approve-all: every other gate refuses)
LIVE_GATES = [
    f"--approve={gate}"
    for gate in ("licence-tested", "downtime-announced", "test-upgrade-passed", "live-frozen", "client-go")
]


def locked(estate: SimEstate) -> bool:
    with sqlite3.connect(estate.db_path) as db:
        row = db.execute(
            "SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'SysLockedByUsrID'"
        ).fetchone()
    return bool(row and row[0])


def by_module(estate: SimEstate, run_id: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for node in estate.nodes(run_id).values():
        out.setdefault(node["module"], set()).add(node["status"])
    return out


def test_no_user_is_let_back_in_before_the_log_repairs_are_signed_by_name(tmp_path):
    estate = SimEstate(tmp_path, "cluster")
    first = estate.run("upgrade.yml", "--approve-all")  # a blanket answer does not sign repairs
    assert first.rc != 0
    run_id = estate.last_run()
    nodes = estate.nodes(run_id)
    failed = [n for n in nodes.values() if n["status"] == "failed"]
    assert [(n["module"], n["host"]) for n in failed] == [("crm_log_review", "crm2")]
    assert "gate upgrade-log-fixed-crm2 needs its own approval" in failed[0]["error"]
    assert "vCompanyPE" in failed[0]["error"]  # the line to repair is named
    modules = by_module(estate, run_id)
    assert "crm_login_check" not in modules or modules["crm_login_check"] <= {"blocked", "pending"}
    assert locked(estate), "users were let back in before the repairs were signed"

    resumed = estate.resume(run_id, "--approve-all", "--approve", "upgrade-log-fixed-crm2=vCompanyPE merged")
    assert resumed.rc == 0, resumed.out + resumed.err
    assert not locked(estate)
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        gates = db.execute(
            "SELECT gate_id, approved, by_whom, comment FROM gates WHERE gate_id = 'upgrade-log-fixed-crm2'"
            " ORDER BY rowid"
        ).fetchall()
        result = db.execute(
            "SELECT result FROM nodes WHERE module = 'crm_log_review' AND host = 'crm2' AND status = 'changed'"
        ).fetchone()
    assert gates[-1][1] == 1 and gates[-1][3] == "vCompanyPE merged" and gates[-1][2]
    assert any("vCompanyPE" in line for line in json.loads(result[0])["lines"])


def test_a_log_with_nothing_to_repair_asks_nobody(tmp_path):
    estate = SimEstate(tmp_path, "single", simulation={"create_database": True, "customised_views": []})
    assert estate.run("upgrade.yml", "--approve-all").rc == 0
    assert by_module(estate, estate.last_run())["crm_log_review"] == {"ok"}
    assert not locked(estate)


def test_a_failed_database_upgrade_stops_the_run_before_the_other_servers(tmp_path):
    estate = SimEstate(tmp_path, "cluster")
    result = estate.run("upgrade.yml", "--approve-all", *estate.repaired(), "--skip-tags", "dta")
    assert result.rc != 0
    run_id = estate.last_run()
    failed = [n for n in estate.nodes(run_id).values() if n["status"] == "failed"]
    assert [(n["module"], n["host"]) for n in failed] == [("crm_installer", "crm2")]
    assert "script Tables.es failed" in failed[0]["error"]
    assert "gate db-upgrade-log-crm2 needs its own approval" in failed[0]["error"]
    for other in ("crm1", "crm3"):
        assert estate.host(other).registry_value(CONFIG, "Version", view="32")["data"] == "7.2", other
    assert estate.host("crm2").registry_value(CONFIG, "Version", view="32")["data"] == "7.3"

    # a resume asks again: the gate is not skipped because the installer's work is done
    again = estate.resume(run_id, "--approve-all", *estate.repaired())
    assert again.rc != 0
    for other in ("crm1", "crm3"):
        assert estate.host(other).registry_value(CONFIG, "Version", view="32")["data"] == "7.2", other

    repaired = estate.resume(
        estate.last_run(),
        "--approve-all",
        "--approve",
        "db-upgrade-log-crm2=Comp_Name widened by hand",
        *estate.repaired(),
    )
    assert repaired.rc == 0, repaired.out + repaired.err
    for name in estate.hosts:
        assert estate.host(name).registry_value(CONFIG, "Version", view="32")["data"] == "7.3", name


DESTRUCTIVE_OR_LOCKING = {"crm_disconnect", "crm_sysparams", "crm_backup", "crm_dta_cleanup", "crm_installer"}


def test_the_live_upgrade_waits_for_the_test_the_freeze_and_the_client(tmp_path):
    """Chapter 8 and the checklist: the test upgrade passed, the live system frozen, the client's go."""
    estate = SimEstate(tmp_path, "cluster")
    result = estate.run("upgrade.yml", "--approve", "licence-tested", "--approve", "downtime-announced")
    assert result.rc != 0
    nodes = estate.nodes(estate.last_run()).values()
    failed = [n for n in nodes if n["status"] == "failed"]
    assert [n["module"] for n in failed] == ["gate"]
    assert "test-upgrade-passed" in failed[0]["error"]
    touched = [n for n in nodes if n["module"] in DESTRUCTIVE_OR_LOCKING and n["status"] in ("ok", "changed")]
    assert touched == [], "a step that locks, disconnects or changes the estate ran before the gates"
    assert not locked(estate)

    go = [
        "--approve",
        "test-upgrade-passed=run 20260501-test",
        "--approve",
        "live-frozen",
        "--approve",
        "client-go",
    ]
    approved = estate.run(
        "upgrade.yml",
        "--approve",
        "licence-tested",
        "--approve",
        "downtime-announced",
        *go,
        *estate.repaired(),
    )
    assert approved.rc == 0, approved.out + approved.err
    with sqlite3.connect(estate.state_dir / "runs.db") as db:
        signed = dict(db.execute("SELECT gate_id, comment FROM gates WHERE run_id = ?", (estate.last_run(),)))
        after = db.execute(
            "SELECT DISTINCT host FROM artifacts WHERE run_id = ? AND location LIKE '%-after-upgrade%'",
            (estate.last_run(),),
        ).fetchall()
    assert signed["test-upgrade-passed"] == "run 20260501-test"
    assert {"live-frozen", "client-go"} <= set(signed)
    # the post-upgrade manual backups of each server (the controller's own view file has no host)
    assert sorted(h for (h,) in after if h is not None) == ["crm1", "crm2", "crm3"]


def solo_estate(tmp_path):
    """A Sage CRM 7.1 estate with Solo: two remote clients, one replication conflict."""
    doc = inventory_doc("single", current_version="7.1")
    doc["defaults"]["sim"]["initial"]["version"] = "7.1"
    return SimEstate(tmp_path, "single", doc=doc)


def test_an_upgrade_from_solo_waits_until_every_remote_client_synchronised(tmp_path):
    """Chapter 7: "tous les utilisateurs de clients distants sont synchronisés ... avant la mise à jour"."""
    estate = solo_estate(tmp_path)
    refused = estate.run("upgrade.yml", *LIVE_GATES, *estate.repaired())
    assert refused.rc != 0
    nodes = estate.nodes(estate.last_run()).values()
    (failed,) = [n for n in nodes if n["status"] == "failed"]
    assert failed["module"] == "crm_solo_sync" and "gate solo-synchronised not approved" in failed["error"]
    assert not [
        n for n in nodes if n["module"] in DESTRUCTIVE_OR_LOCKING and n["status"] in ("ok", "changed")
    ]
    solo = estate.findings(estate.last_run(), "solo")
    assert [f["message"].split(";")[0] for f in solo] == [
        "2 Solo remote client(s), 1 replication conflict(s) in the CRM database"
    ]

    approved = estate.run("upgrade.yml", *LIVE_GATES, "--approve", "solo-synchronised", *estate.repaired())
    assert approved.rc == 0, approved.out + approved.err
    assert estate.db_version() == "7.3"


def test_an_upgrade_from_7_2_asks_nothing_about_solo(tmp_path):
    estate = SimEstate(tmp_path, "single")
    assert estate.run("upgrade.yml", *LIVE_GATES, *estate.repaired()).rc == 0
    assert by_module(estate, estate.last_run())["crm_solo_sync"] == {"skipped"}


def test_a_restored_test_estate_that_still_names_a_production_server_stops_before_the_upgrade(tmp_path):
    """Chapter 8: the test environment is "stocké de façon complètement indépendante": a restored
    system parameter naming a live server (here the mail server) is found before the test upgrade."""
    live = SimEstate(tmp_path, "cluster")
    test = mirror_test_estate(tmp_path)
    with sqlite3.connect(live.db_path) as db:
        db.execute("INSERT INTO custom_sysparams (Parm_Name, Parm_Value) VALUES ('SMTPServer', 'crm3')")
    assert live.run("backup.yml").rc == 0

    result = test.run("test-upgrade.yml", "--approve-all", "--from-run", live.last_run())
    assert result.rc != 0
    nodes = test.nodes(test.last_run()).values()
    assert [n["task"] for n in nodes if n["status"] == "failed"] == [
        "The restored test system cannot reach production"
    ]
    assert not [n for n in nodes if n["module"] == "crm_installer" and n["status"] in ("ok", "changed")]
    (finding,) = [
        f for f in test.findings(test.last_run(), "checklist") if "production server" in f["message"]
    ]
    assert "SMTPServer names crm3" in finding["message"]
    # the multi-server rows were rewritten for the test servers: only the mail server row is left
    assert "MultiServer" not in finding["message"]


def test_vsentinal_is_removed_from_the_restored_test_database_not_from_live(tmp_path):
    """Chapter 12's checklist: "Supprimer vSentinal des vues de la base de données Sage CRM restaurée"."""
    live = SimEstate(tmp_path, "cluster")
    test = mirror_test_estate(tmp_path)
    with sqlite3.connect(live.db_path) as db:
        db.execute("CREATE VIEW vSentinal AS SELECT 1 AS Sentinel")
    assert live.run("backup.yml").rc == 0

    result = test.run(
        "test-upgrade.yml",
        "--approve-all",
        "--approve",
        "upgrade-log-fixed-test-crm2=merged",
        "--from-run",
        live.last_run(),
    )
    assert result.rc == 0, result.out + result.err

    def views(path) -> list[str]:
        with sqlite3.connect(path) as db:
            return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'view'")]

    assert "vSentinal" not in views(test.db_path)
    assert "vSentinal" in views(live.db_path)  # the live database is only read
    with sqlite3.connect(test.state_dir / "runs.db") as db:
        (location,) = db.execute(
            "SELECT location FROM artifacts WHERE run_id = ? AND kind = 'vsentinal_view'", (test.last_run(),)
        ).fetchone()
    assert "CREATE VIEW vSentinal" in open(location, encoding="utf-8").read()
