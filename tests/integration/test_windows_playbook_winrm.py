"""A Sage CRM maintenance playbook over WinRM: `cutover run` -> executor -> WinRMConnection -> pywinrm
-> HTTP (Basic, or NTLM with message encryption) -> the WinRM test endpoint -> a simulated Sage CRM
server, and back.

The playbook stops a service, exports the registry, zips the program folder, points IIS at a
new folder, imports the registry export (destructive: the planner and the module both need the
export's verified artifact, which the executor hands over), and starts the indexing service. The
second run of the same playbook must be all `ok`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.runs import journal_of, run_cli, write_yaml
from tests.support.winrm_endpoint import WinRMEndpoint, winrm_endpoint_fixture  # noqa: F401 - fixture

SAGE = "C:\\Program Files (x86)\\Sage\\CRM"
CRM = f"{SAGE}\\CRM"
NEW_ROOT = f"{SAGE}\\CRM_new\\WWWRoot"
CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"

#: A web server whose indexing service is stopped (the guide: start it after the upgrade if so).
INITIAL = {"preset": "sagecrm", "services": {"CRMIndexerService": {"state": "stopped"}}}
PLAYBOOK = [
    {
        "name": "Sage CRM maintenance over WinRM",
        "hosts": "all",
        "tasks": [
            {"name": "stop e-mail manager", "win_service": {"name": "eWareEmailManager", "state": "stopped"}},
            {"name": "export registry", "registry_export": {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}},
            {"name": "check space", "disk_space": {"path": "C:\\Backup", "for_path": CRM}},
            {"name": "zip program files", "win_archive": {"path": CRM, "dest": "C:\\Backup\\crm.zip"}},
            {"name": "new web root", "win_file": {"path": NEW_ROOT, "state": "directory"}},
            {"name": "point IIS", "iis": {"app": "Default Web Site/CRM", "physical_path": NEW_ROOT}},
            {
                "name": "restore registry",
                "registry_import": {"path": "C:\\Backup\\config.reg", "key": CONFIG},
            },
            {
                "name": "start indexing service",
                "win_service": {"name": "CRMIndexerService", "state": "started"},
            },
        ],
    }
]


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_windows_playbook_over_winrm_then_all_ok(tmp_path: Path, winrm_endpoint, auth: str) -> None:
    endpoint: WinRMEndpoint = winrm_endpoint("web1", auth=auth, initial=INITIAL)
    write_yaml(tmp_path / "inv.yml", {"estate": f"winrm-{auth}", "hosts": {"web1": endpoint.settings()}})
    write_yaml(tmp_path / "pb.yml", PLAYBOOK)
    args = ["run", "pb.yml", "-i", "inv.yml", "--output", "jsonl", "--no-report"]

    first = run_cli(args, tmp_path)
    assert first.rc == 0, first.err + first.out
    statuses = list(first.statuses().values())
    assert statuses.count("changed") == 6, first.statuses()  # all but disk_space and registry_import
    assert statuses.count("ok") == 2
    host = endpoint.sim
    assert host.service("eWareEmailManager")["state"] == "stopped"
    assert host.service("CRMIndexerService")["state"] == "running"
    assert host.state["iis"]["apps"]["Default Web Site/CRM"]["physical_path"] == NEW_ROOT
    assert endpoint.stats["command"] >= 1 and endpoint.stats["auth_rejected"] == 0

    journal = journal_of(tmp_path)
    run_id = journal.runs()[0]["id"]
    artifacts = {a.kind: a for a in journal.artifacts(run_id)}
    assert set(artifacts) == {"registry_export", "archive", "old_setting"}
    for kind, path in (("registry_export", "C:\\Backup\\config.reg"), ("archive", "C:\\Backup\\crm.zip")):
        assert artifacts[kind].verified and artifacts[kind].location == path
        assert artifacts[kind].sha256 == hashlib.sha256(host.read_bytes(path)).hexdigest()
    assert artifacts["old_setting"].meta["old"] == f"{CRM}\\WWWRoot"

    second = run_cli(args, tmp_path)
    assert second.rc == 0, second.err + second.out
    assert set(second.statuses().values()) == {"ok"}, second.statuses()


def test_rollback_imports_the_export_recorded_by_an_earlier_run(tmp_path: Path, winrm_endpoint) -> None:
    """Without a backup the plan is refused before anything reaches the host; --from-run the
    maintenance run, the import finds that run's verified export (journal -> executor -> module)."""
    endpoint: WinRMEndpoint = winrm_endpoint("web1", auth="basic", initial=INITIAL)
    write_yaml(tmp_path / "inv.yml", {"estate": "winrm-rollback", "hosts": {"web1": endpoint.settings()}})
    write_yaml(tmp_path / "pb.yml", PLAYBOOK)
    write_yaml(tmp_path / "rollback.yml", [{"hosts": "all", "tasks": [
        {"name": "restore registry", "registry_import": {"path": "C:\\Backup\\config.reg", "key": CONFIG}},
    ]}])  # fmt: skip
    options = ["-i", "inv.yml", "--output", "jsonl", "--no-report"]
    assert run_cli(["run", "pb.yml", *options], tmp_path).rc == 0
    maintenance = journal_of(tmp_path).runs()[0]["id"]
    endpoint.sim.set_registry_value(CONFIG, "Version", "7.3", view="32")  # what the failed upgrade left
    commands = endpoint.stats["command"]

    refused = run_cli(["run", "rollback.yml", *options], tmp_path)
    assert refused.rc == 2, refused.err + refused.out
    # one message, not one per destructive step (issue #17 item 3)
    assert "this playbook restores what an earlier run recorded: pass --from-run RUN" in refused.err
    assert endpoint.stats["command"] == commands  # refused before anything reached the host

    rollback = run_cli(["run", "rollback.yml", *options, "--from-run", maintenance], tmp_path)
    assert rollback.rc == 0, rollback.err + rollback.out
    assert list(rollback.statuses().values()) == ["changed"]
    assert endpoint.sim.registry_value(CONFIG, "Version", view="32")["data"] == "7.2"
