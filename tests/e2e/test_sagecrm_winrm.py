"""A three-server Sage CRM upgrade over WinRM: the real pywinrm client on the wire, NTLM-sealed.

Each server is a WinRM test endpoint (tests/support/winrm_endpoint.py) serving a simulated
Sage CRM host; the inventory reaches them with `connection: winrm`, exactly as a real estate
would. The upgrade must succeed and leave every server and the database at 7.3, and a rollback
over the same wire must bring everything back.
"""

from __future__ import annotations

from tests.support.sagecrm_estates import ROLES, SimEstate, differences, inventory_doc, sim_initial
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - the fixture


def test_three_server_upgrade_and_rollback_over_winrm(tmp_path, winrm_endpoint):
    state_dir = tmp_path / ".cutover"
    hosts = {}
    endpoints = {}
    for name, roles in ROLES["cluster"].items():
        endpoint = winrm_endpoint(
            name, auth="ntlm", state_dir=state_dir, initial={**sim_initial(), "roles": roles}
        )
        endpoints[name] = endpoint
        hosts[name] = {"roles": roles, **endpoint.settings()}
    doc = inventory_doc("cluster", hosts=hosts)
    doc.pop("defaults")
    estate = SimEstate(tmp_path, "cluster", doc=doc)
    before = estate.snapshot()

    upgrade = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert upgrade.rc == 0, upgrade.out + upgrade.err
    run_id = estate.last_run()
    assert estate.db_version() == "7.3"
    for name in hosts:
        assert (
            estate.host(name).registry_value("HKLM\\SOFTWARE\\eWare\\Config\\/CRM", "Version", view="32")["data"]
            == "7.3"
        )
        assert endpoints[name].stats["command"] > 0
    assert "SIMULATION" not in upgrade.out  # reached as WinRM hosts, not `connection: sim`

    rollback = estate.run("rollback.yml", "--from-run", run_id)
    assert rollback.rc == 0, rollback.out + rollback.err
    assert differences(before, estate.snapshot()) == []
