"""The 1CRM modules' own promises, over real SSH against a real MariaDB.

Maintenance is a desired state (changed once, then ok) that pauses only the scheduler entry and
undoes exactly; the update's three steps are idempotent and download the package when it has a
URL; a recorded backup that changed since it was verified is never restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.api.module import RunContext, TaskContext
from engine.api.primitives import Remote
from engine.connect import connection_for
from engine.load.inventory import load_inventory
from modules.onecrm.onecrm_maintenance import PAUSED, OnecrmMaintenance
from tests.support import onecrm_site as one
from tests.support.onecrm_site import mariadb_server, onecrm_estate, sshd_server  # noqa: F401 - fixtures
from tests.support.runs import REPO, write_yaml

DISABLED_BY_ADMIN = "# */5 * * * * www-data php -f /srv/old-1crm/scheduler.php\n"


def playbook(path: Path, tasks: list[dict[str, Any]]) -> Path:
    return write_yaml(path, [{"name": "1CRM module test", "hosts": "onecrm_live", "tasks": tasks}])


def statuses(result: Any) -> list[tuple[str, str]]:
    return [(e["task"], e["status"]) for e in result.events() if e["event"] == "node_ended"]


def test_maintenance_is_a_desired_state_that_pauses_only_the_scheduler(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, nightly="missing")
    est.live.cron_file.write_text(est.live.cron_file.read_text() + DISABLED_BY_ADMIN)
    cron_before = est.live.cron_file.read_text()
    steps = [
        {"name": "on", "onecrm_maintenance": {"site": "live", "state": "on"}, "register": "on"},
        {"name": "on again", "onecrm_maintenance": {"site": "live", "state": "on"}},
        {"name": "page", "http_check": {"url": est.live.url, "status": 503, "contains": "being updated"}},
        {"name": "off", "onecrm_maintenance": {"site": "live", "state": "off"}},
        {"name": "off again", "onecrm_maintenance": {"site": "live", "state": "off"}},
    ]

    result = est.run(playbook(est.base / "pb.yml", steps))

    assert result.rc == 0, result.out[-2000:]
    assert statuses(result) == [
        ("on", "changed"),
        ("on again", "ok"),
        ("page", "ok"),
        ("off", "changed"),
        ("off again", "ok"),
    ]
    during = est.nodes()["on"]["result"]["after"]
    assert (during["maintenance"], during["scheduler_active"], during["scheduler_paused"]) == (True, 0, 1)
    assert est.live.cron_file.read_text() == cron_before
    assert not (est.live.root / one.MAINTENANCE_FILE).exists()


@contextlib.contextmanager
def task_context(inventory: Path, host_name: str) -> Iterator[TaskContext]:
    """A module's view of a task on `host_name`, as the executor builds it, over the real connection."""
    inv = load_inventory(inventory)
    host = inv.hosts[host_name]
    connection = connection_for(host)
    connection.open()
    try:
        run = RunContext(run_id="undo-test", operator="tester", inventory=inv, databases=dict(inv.databases))
        yield TaskContext(host=host, vars={}, remote=Remote(connection), run=run)
    finally:
        connection.close()


def test_maintenance_undo_puts_back_the_state_before(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, nightly="missing")
    cron_before = est.live.cron_file.read_text()
    module, args = OnecrmMaintenance(), {"site": "live", "state": "on"}

    with task_context(est.inventory, "h1") as ctx:
        done = module.run(ctx, args)
        paused = est.live.cron_file.read_text()
        flagged = (est.live.root / one.MAINTENANCE_FILE).exists()
        undone = module.undo(ctx, args, {"output": done.output})

    assert done.changed and flagged and PAUSED + "*/5" in paused
    assert undone.changed
    assert est.live.cron_file.read_text() == cron_before
    assert not (est.live.root / one.MAINTENANCE_FILE).exists()


def test_update_steps_download_the_package_and_are_idempotent(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, download=True)
    steps = [
        {
            "name": "nightly db",
            "onecrm_backup_check": {"site": "live", "part": "database"},
            "delegate_to": "h2",
        },
        {"name": "nightly files", "onecrm_backup_check": {"site": "live", "part": "files"}},
        {"name": "prepare", "onecrm_update": {"site": "live", "step": "prepare"}},
        {"name": "dump", "onecrm_backup": {"site": "live", "part": "database"}, "delegate_to": "h2"},
        {"name": "install", "onecrm_update": {"site": "live", "step": "install"}},
        {"name": "verify", "onecrm_update": {"site": "live", "step": "verify"}},
    ]
    path = playbook(est.base / "pb.yml", steps)

    first = est.run(path)
    second = est.run(path)

    assert first.rc == 0, first.out[-2000:]
    assert statuses(first)[2:] == [
        ("prepare", "changed"),
        ("dump", "changed"),
        ("install", "changed"),
        ("verify", "ok"),
    ]
    assert (est.base / "downloads" / est.package.name).read_bytes() == est.package.read_bytes()
    assert second.rc == 0, second.out[-2000:]
    assert [s for s in statuses(second)[2:] if s[0] != "dump"] == [
        ("prepare", "ok"),
        ("install", "ok"),
        ("verify", "ok"),
    ]
    assert est.live.version() == one.NEW


def test_a_backup_changed_since_it_was_verified_is_not_restored(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False)
    upgraded = est.run(
        REPO / "playbooks/onecrm/upgrade.yml", "--approve", "onecrm-tested", "--approve", "onecrm-keep"
    )
    assert upgraded.rc == 0, upgraded.out[-2000:]
    updated = est.live.state(est.server)
    backup = next(p for p in est.live.backup_dir.iterdir() if p.name.endswith("update-backup.zip"))
    backup.write_bytes(backup.read_bytes() + b"tampered")

    rolled = est.run(
        REPO / "playbooks/onecrm/rollback.yml",
        "--from-run",
        upgraded.events()[0]["run_id"],
        "--approve",
        "onecrm-confirm-rollback",
    )

    # refused before its first step (engine/execute/rollback_check.py), naming the backup
    assert rolled.rc == 3, rolled.err
    assert "refused before any step" in rolled.err and f"{backup} (" in rolled.err, rolled.err
    assert [e for e in rolled.events() if e["event"] == "node_ended"] == []
    assert est.live.state(est.server) == updated
