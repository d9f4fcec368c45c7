"""Fault campaign: every way a host lets an upgrade down ends cleanly, through `cutover run`.

Each scenario runs a real `cutover run` (in-process, jsonl output) against hosts that fail on
purpose: a sshd that is not there, a killed helper, a wrong key, a WinRM endpoint with the wrong
password, simulated Windows hosts with injected faults (dropped link, latency, full disk, a
service that will not stop, an installer answering 1603), and backups corrupted between the
backup run and the restore run. Each must end in one of two ways:

- a clear failure: exit code 1, the failed step's error names the cause, no traceback anywhere,
  and the target (program folder, registry, installed version) exactly as before: no
  destructive step ran half-way, none ran after the failure;
- or a successful retry (`retries:`), when the fault was passing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from simulation.host import SimHost
from tests.support.posix_checks import wait_for_file
from tests.support.runs import CliResult, journal_of, run_cli, write_yaml
from tests.support.sshd import SSHD, free_port, sshd_server  # noqa: F401 - pytest fixture
from tests.support.winrm_endpoint import WinRMEndpoint, winrm_endpoint_fixture  # noqa: F401 - fixture

SAGE = "C:\\Program Files (x86)\\Sage\\CRM"
CRM = f"{SAGE}\\CRM"
CONFIG = "HKLM\\SOFTWARE\\eWare\\Config\\/CRM"
SETUP = "C:\\Install\\crm-upgrade.exe"
JSONL = ["--output", "jsonl", "--no-report"]

# --------------------------------------------------------------------------- the upgrade under test

#: Backups first, then the installer, then a destructive overwrite that the backups protect.
UPGRADE = [
    {"name": "stop e-mail manager", "win_service": {"name": "eWareEmailManager", "state": "stopped"}},
    {"name": "zip program files", "win_archive": {"path": CRM, "dest": "C:\\Backup\\crm.zip"}},
    {"name": "export registry", "registry_export": {"key": CONFIG, "dest": "C:\\Backup\\config.reg"}},
    {"name": "run installer", "command": {"argv": [SETUP, "/s"]}},
    {"name": "new eware.dll", "win_copy": {"dest": f"{CRM}\\eware.dll", "content": "eware.dll 7.3\n"}},
]
RESTORE = [
    {"name": "restore registry", "registry_import": {"path": "C:\\Backup\\config.reg", "key": CONFIG}},
    {
        "name": "restore program files",
        "win_archive": {"path": CRM, "dest": "C:\\Backup\\crm.zip", "state": "extracted"},
    },
]


def sim_host(faults: list[dict[str, Any]] | None = None, installer_rc: int = 0, **sim: Any) -> dict[str, Any]:
    """An inventory entry for a simulated Sage CRM 7.2 web server with `faults` seeded."""
    initial = {
        "preset": "sagecrm",
        "files": {SETUP: "setup (simulation)\n"},
        "programs": {
            "crm-upgrade.exe": {"rc": installer_rc, "stderr": "" if installer_rc == 0 else "MSI error 1603"}
        },
    }
    return {
        "connection": "sim",
        "roles": ["web", "email"],
        "sim": {"initial": initial, "faults": faults or [], **sim},
    }


def run(
    tmp: Path, hosts: dict[str, Any], tasks: list[dict[str, Any]], *extra: str, name: str = "pb.yml"
) -> CliResult:
    write_yaml(tmp / "inv.yml", {"estate": "faults", "hosts": hosts})
    write_yaml(tmp / name, [{"hosts": "all", "tasks": tasks}])
    return run_cli(["run", name, "-i", "inv.yml", *JSONL, *extra], tmp)


def failed_step(result: CliResult) -> dict[str, Any]:
    """The one failed step of a run that must have failed cleanly (rc 1, no traceback)."""
    assert result.rc == 1, result.err + result.out
    assert "Traceback" not in result.out + result.err
    failed = [e for e in result.events() if e["event"] == "node_ended" and e["status"] == "failed"]
    assert len(failed) == 1, failed
    assert "internal error" not in failed[0]["error"]
    return failed[0]


def ran(result: CliResult) -> dict[str, str]:
    """task name -> status of the steps that ran (a step blocked by a failure did not)."""
    return {
        e["task"]: e["status"]
        for e in result.events()
        if e["event"] == "node_ended" and e["status"] != "blocked"
    }


def target(tmp: Path, host: str = "web1") -> dict[str, Any]:
    """What the upgrade changes and a rollback needs: program files, registry, installed version."""
    sim = SimHost.open(tmp / ".cutover", host)
    answers = sim.call(
        [
            {"op": "file.tree_hash", "args": {"path": CRM}},
            {"op": "registry.get", "args": {"key": CONFIG, "view": "32"}},
        ]
    )
    return json.loads(
        json.dumps({"tree": answers[0], "config": answers[1], "products": sim.state.get("products")})
    )


def untouched_target(tmp: Path) -> dict[str, Any]:
    """The target as a fresh host has it (built in a scratch folder, from the same settings)."""
    scratch = tmp / "pristine"
    SimHost.open(scratch / ".cutover", "web1", sim_host()["sim"]["initial"] | {"roles": ["web", "email"]})
    return target(scratch)


# --------------------------------------------------------------------------- simulated Windows hosts


def test_baseline_upgrade_succeeds_and_changes_the_target(tmp_path: Path) -> None:
    """The campaign's control: without faults the same playbook runs through and changes the target."""
    result = run(tmp_path, {"web1": sim_host()}, UPGRADE)
    assert result.rc == 0, result.err + result.out
    assert set(ran(result).values()) == {"changed"}
    assert target(tmp_path) != untouched_target(tmp_path)


@pytest.mark.parametrize(
    ("fault", "failing", "cause"),
    [
        pytest.param({"disk_full": "C"}, "zip program files", "not enough space", id="disk-full-during-backup"),
        pytest.param(
            {"op": "registry.export", "mode": "always", "kind": "no_space", "error": "There is not enough space on the disk."},
            "export registry",
            "not enough space",
            id="disk-full-during-registry-export",
        ),
        pytest.param(
            {"op": "service.set", "match": {"name": "eWareEmailManager"}, "mode": "always", "kind": "failed",
             "error": "The service did not respond to the stop request in a timely fashion"},
            "stop e-mail manager",
            "did not respond to the stop request",
            id="service-will-not-stop",
        ),
        pytest.param(
            {"op": "archive.create", "mode": "always", "kind": "connection"},
            "zip program files",
            "connection lost during archive.create",
            id="link-drops-mid-backup",
        ),
    ],
)  # fmt: skip
def test_a_fault_stops_the_upgrade_before_anything_destructive(
    tmp_path: Path, fault: dict[str, Any], failing: str, cause: str
) -> None:
    result = run(tmp_path, {"web1": sim_host([fault])}, UPGRADE)
    step = failed_step(result)
    assert step["task"] == failing
    assert cause.lower() in step["error"].lower(), step["error"]
    assert "run installer" not in ran(result) and "new eware.dll" not in ran(result)
    assert target(tmp_path) == untouched_target(tmp_path)
    journal = journal_of(tmp_path)
    run_id = journal.find_run("last")["id"]
    failed = {n["node_id"] for n in journal.nodes(run_id) if n["status"] == "failed"}
    assert not [a for a in journal.artifact_rows(run_id) if a["node_id"] in failed]  # no backup claimed
    assert journal.find_run(run_id)["status"] == "failed"
    journal.close()


def test_an_installer_exiting_1603_stops_before_the_overwrite(tmp_path: Path) -> None:
    result = run(tmp_path, {"web1": sim_host(installer_rc=1603)}, UPGRADE)
    step = failed_step(result)
    assert step["task"] == "run installer" and "non-zero return code 1603" in step["error"]
    assert "new eware.dll" not in ran(result)
    assert ran(result)["zip program files"] == "changed"  # the backups were taken before it
    assert target(tmp_path) == untouched_target(tmp_path)


def test_a_service_that_stops_on_the_second_try_is_retried(tmp_path: Path) -> None:
    fault = {"op": "service.set", "match": {"name": "eWareEmailManager"}, "mode": "once", "kind": "failed",
             "error": "The service did not respond to the stop request in a timely fashion"}  # fmt: skip
    tasks = [dict(UPGRADE[0], retries=2, delay=0), *UPGRADE[1:]]
    result = run(tmp_path, {"web1": sim_host([fault])}, tasks)
    assert result.rc == 0, result.err + result.out
    journal = journal_of(tmp_path)
    nodes = {n["task"]: n for n in journal.nodes(journal.find_run("last")["id"])}
    journal.close()
    assert (
        nodes["stop e-mail manager"]["attempts"] == 2 and nodes["stop e-mail manager"]["status"] == "changed"
    )
    assert SimHost.open(tmp_path / ".cutover", "web1").service("eWareEmailManager")["state"] == "stopped"


def test_a_slow_host_times_out_the_step_with_a_deadline(tmp_path: Path) -> None:
    tasks = [dict(UPGRADE[0], timeout=0.2), *UPGRADE[1:]]
    result = run(tmp_path, {"web1": sim_host(latency=30)}, tasks)
    step = failed_step(result)
    assert step["task"] == "stop e-mail manager" and "timed out after 0.2s" in step["error"]
    assert len(ran(result)) == 1
    assert target(tmp_path) == untouched_target(tmp_path)


# --------------------------------------------------------------------------- corrupt backups


def _corrupt(sim: SimHost, path: str) -> None:
    """Damage a backup so that it still looks like one: a valid .reg saying another version, or a
    zip with one byte flipped in the middle (same size, different sha256)."""
    data = sim.read_bytes(path)
    if path.endswith(".reg"):
        text = data.decode("utf-16")
        assert '"7.2"' in text
        sim.write_bytes(
            path, b"\xff\xfe" + text.lstrip("\ufeff").replace('"7.2"', '"6.6"').encode("utf-16-le")
        )
        return
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    sim.write_bytes(path, bytes(damaged))


@pytest.mark.parametrize(
    ("corrupted", "task", "part"),
    [
        ("C:\\Backup\\config.reg", "restore registry", "config"),
        ("C:\\Backup\\crm.zip", "restore program files", "tree"),
    ],
)
def test_a_backup_corrupted_after_it_was_verified_is_refused_by_the_restore(
    tmp_path: Path, corrupted: str, task: str, part: str
) -> None:
    hosts = {"web1": sim_host(installer_rc=0)}
    upgrade = run(tmp_path, hosts, UPGRADE)
    assert upgrade.rc == 0, upgrade.err + upgrade.out
    upgrade_id = journal_of(tmp_path).find_run("last")["id"]
    sim = SimHost.open(tmp_path / ".cutover", "web1")
    sim.set_registry_value(CONFIG, "Version", "7.3", view="32")  # what the failed upgrade left behind
    _corrupt(sim, corrupted)
    before = target(tmp_path)

    restore = run(tmp_path, hosts, RESTORE, "--from-run", upgrade_id, name="rollback.yml")
    # refused before its first step (engine/execute/rollback_check.py), naming the backup
    assert restore.rc == 3, restore.err + restore.out
    assert "Traceback" not in restore.out + restore.err
    assert "refused before any step" in restore.err and f"web1:{corrupted} (" in restore.err, restore.err
    assert "sha256" in restore.err and task  # the step that would have restored it never ran
    assert [e for e in restore.events() if e["event"] == "node_ended"] == []
    assert target(tmp_path)[part] == before[part]  # the refused restore wrote nothing


def test_a_database_dump_corrupted_before_the_restore_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE custom_sysparams (Parm_Name TEXT, Parm_Value TEXT)")
        conn.execute("INSERT INTO custom_sysparams VALUES ('Version', '7.2')")
    databases = {"crm": {"dialect": "sqlite", "path": str(db), "backup_dir": str(tmp_path / "backups")}}
    write_yaml(
        tmp_path / "inv.yml",
        {"estate": "db-faults", "hosts": {"ctl": {"connection": "local"}}, "databases": databases},
    )
    write_yaml(
        tmp_path / "backup.yml", [{"hosts": "all", "tasks": [{"name": "backup", "db_backup": {"db": "crm"}}]}]
    )
    write_yaml(
        tmp_path / "restore.yml",
        [{"hosts": "all", "tasks": [{"name": "restore", "db_restore": {"db": "crm"}}]}],
    )
    backup = run_cli(["run", "backup.yml", "-i", "inv.yml", *JSONL], tmp_path)
    assert backup.rc == 0, backup.err + backup.out
    backup_id = journal_of(tmp_path).find_run("last")["id"]
    dump = Path(journal_of(tmp_path).artifacts(backup_id)[0].location)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE custom_sysparams SET Parm_Value = '7.3'")
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))

    restore = run_cli(["run", "restore.yml", "-i", "inv.yml", "--from-run", backup_id, *JSONL], tmp_path)
    # refused before its first step (engine/execute/rollback_check.py), naming the dump
    assert restore.rc == 3, restore.err + restore.out
    assert f"{dump} (db:crm): sha256 " in restore.err, restore.err
    assert [e for e in restore.events() if e["event"] == "node_ended"] == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT Parm_Value FROM custom_sysparams").fetchall() == [("7.3",)]


# --------------------------------------------------------------------------- real transports


def test_ssh_connection_refused(tmp_path: Path) -> None:
    ghost = {"connection": "ssh", "address": "127.0.0.1", "port": free_port(), "ssh": {"config_file": "none"}}
    step = failed_step(run(tmp_path, {"ghost": ghost}, [{"name": "ping", "command": "true"}]))
    assert "Connection refused" in step["error"]


def test_ssh_wrong_key_is_permission_denied(tmp_path: Path, sshd_server: SSHD) -> None:  # noqa: F811
    host = {
        "connection": "ssh", "address": "127.0.0.1", "port": sshd_server.port, "user": sshd_server.user,
        "ssh": {"config_file": "none", "key_file": str(sshd_server.wrong_key),
                "known_hosts_file": str(sshd_server.known_hosts)},
    }  # fmt: skip
    step = failed_step(run(tmp_path, {"web": host}, [{"name": "ping", "command": "true"}]))
    assert "Permission denied" in step["error"]


def _drop_when_started(pidfile: Path) -> threading.Thread:
    """Kill the remote helper (the parent of the running command) once the command has started."""

    def kill() -> None:
        helper, command = map(int, wait_for_file(pidfile).split())
        os.kill(helper, signal.SIGKILL)
        os.kill(command, signal.SIGKILL)

    killer = threading.Thread(target=kill)
    killer.start()
    return killer


@pytest.mark.parametrize("retries", [0, 1])
def test_ssh_link_dropped_mid_command(tmp_path: Path, sshd_server: SSHD, retries: int) -> None:  # noqa: F811
    """The helper dies while a command runs: a clear failure, or, with `retries:`, a new link and success."""
    pidfile, marker, after = tmp_path / "pids", tmp_path / "attempted", tmp_path / "after"
    script = (
        f'if [ -e "{marker}" ]; then echo second; else touch "{marker}"; '
        f'echo "$PPID $$" > "{pidfile}.tmp"; mv "{pidfile}.tmp" "{pidfile}"; exec sleep 60; fi'
    )
    tasks = [
        {"name": "long step", "shell": script, "retries": retries, "delay": 0},
        {"name": "next step", "file": {"path": str(after), "state": "touch"}},
    ]
    host = {"connection": "ssh", "address": "h5", "ssh": {"config_file": str(sshd_server.config_path)}}
    killer = _drop_when_started(pidfile)
    result = run(tmp_path, {"web": host}, tasks)
    killer.join()
    if retries:
        assert result.rc == 0, result.err + result.out
        assert ran(result) == {"long step": "changed", "next step": "changed"}
    else:
        step = failed_step(result)
        assert step["task"] == "long step" and "connection dropped" in step["error"]
        assert not after.exists()


def test_winrm_wrong_password_and_refused_port(tmp_path: Path, winrm_endpoint: Any) -> None:
    endpoint: WinRMEndpoint = winrm_endpoint("web1", auth="ntlm", initial={"preset": "sagecrm"})
    wrong = endpoint.settings() | {"password": "not-the-password"}
    closed = endpoint.settings() | {"port": free_port()}
    tasks = [
        {"name": "stop e-mail manager", "win_service": {"name": "eWareEmailManager", "state": "stopped"}}
    ]
    step = failed_step(run(tmp_path, {"web1": wrong}, tasks))
    assert "authentication failed for user cutover" in step["error"]
    assert "not-the-password" not in json.dumps(run_cli(["show", "last"], tmp_path).out)
    step = failed_step(run(tmp_path, {"web1": closed}, tasks))
    assert "refused" in step["error"].lower() or "connect" in step["error"].lower(), step["error"]
    assert endpoint.sim.service("eWareEmailManager")["state"] == "running"


def test_winrm_link_dropped_mid_batch(tmp_path: Path, winrm_endpoint: Any) -> None:
    """The simulated server drops off the network during the backup: a clear failure over real WinRM."""
    endpoint: WinRMEndpoint = winrm_endpoint("web1", auth="ntlm", initial=sim_host()["sim"]["initial"])
    endpoint.sim.add_fault({"op": "archive.create", "mode": "always", "kind": "connection"})
    before = json.dumps(endpoint.sim.call([{"op": "file.tree_hash", "args": {"path": CRM}}]))
    step = failed_step(run(tmp_path, {"web1": endpoint.settings()}, UPGRADE))
    assert step["task"] == "zip program files"
    assert "connection" in step["error"].lower() or "shell" in step["error"].lower(), step["error"]
    assert json.dumps(endpoint.sim.call([{"op": "file.tree_hash", "args": {"path": CRM}}])) == before
    assert endpoint.sim.registry_value(CONFIG, "Version", view="32")["data"] == "7.2"
