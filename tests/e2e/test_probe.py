"""`cutover probe`: the first, read-only contact with an estate, and `validate --probe` against it.

Read-only is proved two ways: the simulated hosts' state (every file under .cutover/sim and the
CRM database) is byte-identical before and after, and over WinRM the test endpoint received only
primitives that read (`engine.api.probe.READ_ONLY`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from engine.api.primitives import PrimitiveFailed
from engine.api.probe import READ_ONLY, ReadOnlyRemote, read_only_command
from engine.connect.sim import SimConnection
from engine.core.model import Host
from tests.support.runs import run_cli, write_yaml
from tests.support.sagecrm_estates import ROLES, SimEstate, inventory_doc, sim_initial
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture


def tree_bytes(root: Path) -> dict[str, str]:
    """sha256 of every file below `root` (the simulated hosts, their files, the CRM database)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimEstate:
    monkeypatch.chdir(tmp_path)
    return SimEstate(tmp_path, "cluster")


def probe(estate: SimEstate, *extra: str) -> tuple[int, dict]:
    result = run_cli(["probe", "-i", str(estate.inventory), "--format", "json", *extra], estate.root)
    assert result.err == "" or "written to" in result.err, result.err
    return result.rc, json.loads(result.out) if result.out.strip() else {}


def test_the_probe_reports_every_server_and_changes_nothing(estate: SimEstate) -> None:
    before = tree_bytes(estate.state_dir)

    rc, report = probe(estate)

    assert rc == 0
    assert tree_bytes(estate.state_dir) == before
    assert set(report["hosts"]) == {"crm1", "crm2", "crm3"} and report["findings"] == []
    crm2 = report["hosts"]["crm2"]
    assert crm2["reachable"] and crm2["simulated"]
    assert crm2["system"]["architecture"] == "x64" and crm2["system"]["powershell"] == "5.1.17763.1"
    assert crm2["system"]["dotnet"] == ".NET Framework 4.7.2 (release 461814)"
    install = crm2["sagecrm"]["install"]
    assert (install["registry_view"], install["Version"], install["installs_found"]) == (
        "32",
        "7.2",
        {"CRM": ["32"]},
    )
    assert crm2["sagecrm"]["services"]["CRMIndexerService"]["state"] == "running"
    assert crm2["sagecrm"]["database"] == {"reachable": True, "dialect": "sqlite", "crm_version": "7.2"}
    assert crm2["sagecrm"]["iis"]["application"]["physical_path"].endswith("\\CRM\\WWWRoot")
    assert "database" not in report["hosts"]["crm1"]["sagecrm"]


def test_the_text_form_is_for_a_person(estate: SimEstate) -> None:
    result = run_cli(["probe", "-i", str(estate.inventory)], estate.root)

    assert result.rc == 0
    assert "crm1  sim crm1  (SIMULATION: a model, not a machine)" in result.out
    assert "Windows PowerShell 5.1.17763.1, .NET Framework 4.7.2 (release 461814)" in result.out
    assert "registry_view: 32" in result.out
    assert "findings: none (the inventory and the hosts agree)" in result.out


def test_what_disagrees_with_the_inventory_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = inventory_doc("single")
    doc["defaults"]["sim"]["initial"]["services"] = {"CRMIndexerService": {"state": "stopped"}}
    estate = SimEstate(tmp_path, "single", doc=doc)
    estate.host("crm").uninstall_service("CRMEscalationService")

    rc, report = probe(estate)

    assert rc == 0
    messages = [(f["host"], f["severity"], f["message"]) for f in report["findings"]]
    assert ("crm", "error", "service CRMEscalationService (escalation) is not installed here, where the inventory "
            "puts it") in messages  # fmt: skip
    assert report["hosts"]["crm"]["sagecrm"]["services"]["CRMIndexerService"]["state"] == "stopped"


def test_an_unreachable_host_is_one_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = inventory_doc("single")
    doc["hosts"]["crm"] = {"roles": ROLES["single"]["crm"], "connection": "winrm", "address": "127.0.0.1",
                           "port": 9, "user": "u", "password": "p", "winrm": {"scheme": "http"}}  # fmt: skip
    write_yaml(tmp_path / "inv.yml", doc)

    result = run_cli(["probe", "-i", "inv.yml"], tmp_path)

    assert result.rc == 1
    assert (
        "unreachable: crm: cannot connect to http://127.0.0.1:9/wsman: [Errno 111] Connection refused"
        in result.out
    )
    assert "Traceback" not in result.out + result.err


def test_over_winrm_only_primitives_that_read_reach_the_servers(
    tmp_path: Path, winrm_endpoint, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    endpoints = {
        name: winrm_endpoint(
            name, auth="ntlm", initial={**sim_initial(), "roles": roles, "db_server": "CRM2"}
        )
        for name, roles in ROLES["cluster"].items()
    }
    hosts = {name: {"roles": ROLES["cluster"][name], **ep.settings()} for name, ep in endpoints.items()}
    doc = inventory_doc("cluster", hosts=hosts)
    estate = SimEstate(tmp_path, "cluster", doc=doc)
    before = {name: ep.sim.snapshot() for name, ep in endpoints.items()}

    rc, report = probe(estate)

    assert rc == 0, report
    assert all(entry["reachable"] and not entry["simulated"] for entry in report["hosts"].values())
    assert report["hosts"]["crm1"]["sagecrm"]["install"]["registry_view"] == "32"
    seen = set().union(*(ep.ops for ep in endpoints.values()))
    assert seen - {"process.run"} <= READ_ONLY, seen - READ_ONLY
    assert all(read_only_command(args) for ep in endpoints.values() for args in ep.programs)
    assert report["hosts"]["crm1"]["sagecrm"]["winrm_quotas"]["MaxMemoryPerShellMB"] == "1024"
    assert {"host.facts", "registry.get", "service.get", "iis.state", "disk.free"} <= seen
    assert {name: ep.sim.snapshot() for name, ep in endpoints.items()} == before


def test_a_probe_remote_refuses_every_write(tmp_path: Path) -> None:
    conn = SimConnection(Host("w1", "w1", "sim", settings={"sim": {"initial": {}}}), state_dir=str(tmp_path))
    conn.open()
    try:
        remote = ReadOnlyRemote(conn)
        with pytest.raises(PrimitiveFailed) as caught:
            remote.call("file.write", path="C:\\x.txt", content_b64="")
        facts = remote.call("host.facts")
    finally:
        conn.close()

    assert caught.value.kind == "refused" and "a probe reads and never writes" in str(caught.value)
    assert facts["os"] == "windows"


# --- validate --probe ------------------------------------------------------------------------------


def test_validate_holds_the_inventory_to_a_saved_probe(estate: SimEstate) -> None:
    saved = estate.root / "probe.json"
    assert run_cli(["probe", "-i", str(estate.inventory), "--format", "json", "--output", str(saved)],
                   estate.root).rc == 0  # fmt: skip
    playbook = str(Path(__file__).resolve().parents[2] / "playbooks" / "sagecrm" / "verify.yml")
    good = run_cli(["validate", playbook, "-i", str(estate.inventory), "--probe", str(saved)], estate.root)

    doc = json.loads(json.dumps(estate.doc))
    doc["sagecrm"]["install_name"] = "Sales"
    doc["hosts"]["crm2"]["roles"] = ["db", "web"]  # the indexer moved to crm3 in the inventory only
    doc["hosts"]["crm3"]["roles"] = ["web", "escalation", "indexing"]
    wrong = estate.root / "wrong.yml"
    write_yaml(wrong, doc)
    bad = run_cli(["validate", playbook, "-i", str(wrong), "--probe", str(saved)], estate.root)

    assert good.rc == 0, good.err + good.out
    assert f"ok: the inventory agrees with the probe {saved}" in good.out
    assert bad.rc == 2
    assert "wrong.yml:" in bad.err
    assert "sagecrm.install_name is 'Sales', but the probe of crm1 found the installs: CRM" in bad.err
    assert "host 'crm3' has role indexing, but the probe found no service CRMIndexerService on it" in bad.err


def test_validate_says_when_the_file_is_not_a_probe(estate: SimEstate) -> None:
    (estate.root / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    (estate.root / "broken.json").write_text('{"format": 1,', encoding="utf-8")
    playbook = str(Path(__file__).resolve().parents[2] / "playbooks" / "sagecrm" / "verify.yml")

    other = run_cli(["validate", playbook, "-i", str(estate.inventory), "--probe", "notes.json"], estate.root)
    broken = run_cli(
        ["validate", playbook, "-i", str(estate.inventory), "--probe", "broken.json"], estate.root
    )

    assert other.rc == broken.rc == 2
    assert "notes.json: not a probe of this cutover" in other.err
    assert "broken.json:1:" in broken.err and "not a probe (invalid JSON" in broken.err


def test_the_probe_reports_the_winrm_quotas_and_a_memory_quota_below_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    initial = {**sim_initial(), "windows": {"winrs": {"MaxMemoryPerShellMB": 150, "IdleTimeout": 7200000}}}
    doc = inventory_doc("single")
    doc["defaults"]["sim"]["initial"] = initial
    estate = SimEstate(tmp_path, "single", doc=doc)

    rc, report = probe(estate)

    quotas = report["hosts"]["crm"]["sagecrm"]["winrm_quotas"]
    assert (quotas["MaxMemoryPerShellMB"], quotas["IdleTimeout"], quotas["MaxShellsPerUser"]) == (
        "150",
        "7200000",
        "30",
    )
    assert any(
        "WinRM MaxMemoryPerShellMB is 150 MB, below Microsoft's default of 1024 MB" in f["message"]
        and 'winrm set winrm/config/winrs @{MaxMemoryPerShellMB="4096"}' in f["message"]
        for f in report["findings"]
    ), report["findings"]
