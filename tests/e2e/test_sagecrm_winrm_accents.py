"""A Sage CRM estate whose install name is accented ("CRM_Société", a French estate), upgraded and
rolled back over WinRM: the real pywinrm client on the wire, NTLM-sealed, a French server (OEM
code page 850) behind the endpoint.

Issue 15 item 5: the install name reaches every primitive the playbooks use (registry key
`eWare\\Config\\/CRM_Société`, the IIS application, the install folder, its zip and the registry
export) and comes back intact in every answer; tests/e2e/test_sagecrm_winrm.py is the same run
with the plain name.
"""

from __future__ import annotations

from simulation.sagecrm.setup_program import response_file
from tests.support.sagecrm_estates import MEDIA, ROLES, SimEstate, differences, inventory_doc, sim_initial
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - the fixture

INSTALL = "CRM_Société"
CONFIG = f"HKLM\\SOFTWARE\\eWare\\Config\\/{INSTALL}"


def french_server(roles: list[str]) -> dict:
    """sim_initial() with the accented install name (its custom page moved under it, its response
    files naming it) on a French server (OEM code page 850)."""
    initial = sim_initial()
    files = {
        path.replace("\\Sage\\CRM\\CRM\\", f"\\Sage\\CRM\\{INSTALL}\\"): content
        for path, content in initial["files"].items()
    }
    files[f"{MEDIA}\\upgrade-db.iss"] = response_file(database=True, install_name=INSTALL)
    files[f"{MEDIA}\\upgrade-web.iss"] = response_file(database=False, install_name=INSTALL)
    return {
        **initial,
        "install_name": INSTALL,
        "files": files,
        "windows": {"oem_codepage": 850},
        "roles": roles,
    }


def test_an_accented_install_name_upgrades_and_rolls_back_over_winrm(tmp_path, winrm_endpoint):
    state_dir = tmp_path / ".cutover"
    ((name, roles),) = ROLES["single"].items()
    endpoint = winrm_endpoint(name, auth="ntlm", state_dir=state_dir, initial=french_server(roles))
    doc = inventory_doc("single", hosts={name: {"roles": roles, **endpoint.settings()}}, install_name=INSTALL)
    doc.pop("defaults")
    estate = SimEstate(tmp_path, "single", doc=doc)
    before = estate.snapshot()

    upgrade = estate.run("upgrade.yml", "--approve-all", *estate.repaired())
    assert upgrade.rc == 0, upgrade.out + upgrade.err
    assert estate.db_version() == "7.3"
    assert estate.host(name).registry_value(CONFIG, "Version", view="32")["data"] == "7.3"
    assert estate.host(name).registry_value(CONFIG, "InstallName", view="32")["data"] == INSTALL
    assert endpoint.stats["command"] > 0

    rollback = estate.run("rollback.yml", "--from-run", estate.last_run())
    assert rollback.rc == 0, rollback.out + rollback.err
    assert differences(before, estate.snapshot()) == []
