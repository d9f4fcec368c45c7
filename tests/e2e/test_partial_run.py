"""`-l/--limit` on a cluster playbook: a refused partial run says what makes it legitimate, and that works.

On the simulated three-server Sage CRM cluster the installer fails on crm1 after the database
server (crm2) and crm3 were upgraded. Re-running the upgrade on crm1 alone (`-l crm1`) is
refused once, naming the host the rule needs (the database server), the `--limit` that includes
it, and the variable that makes the partial run legitimate; with that variable the partial run
plans and upgrades crm1.
"""

from __future__ import annotations

from tests.support.runs import run_cli
from tests.support.sagecrm_estates import PLAYBOOKS, SimEstate

CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"


def test_the_suggested_flag_lifts_the_partial_run_refusal(tmp_path):
    estate = SimEstate(tmp_path, "cluster")
    estate.host("crm1").add_fault({"op": "process.run", "mode": "always"})
    failed = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert failed.rc == 1
    assert estate.db_version() == "7.3"
    estate.host("crm1").clear_faults()

    refused = run_cli(["plan", str(PLAYBOOKS / "upgrade.yml"), "-i", str(estate.inventory), "-l", "crm1"], estate.root)

    assert refused.rc == 2
    assert refused.err.count("\n  hint: ") == 1, refused.err  # one refusal, not its consequences too
    assert "not on the database server crm2" in refused.err and "this plan covers crm1" in refused.err
    assert "-l crm1,crm2" in refused.err and "-e sagecrm_database_upgraded=true" in refused.err

    partial = estate.run("upgrade.yml", "-l", "crm1", "-e", "sagecrm_database_upgraded=true", "--approve-all")

    assert partial.rc == 0, partial.out + partial.err
    assert estate.host("crm1").registry_value(CONFIG, "Version", view="32")["data"] == "7.3"
