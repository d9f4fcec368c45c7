"""`cutover probe` of a 1CRM estate over SSH: PHP, web server, database, version, cron, disks.

Over the real sshd fixture (tests/support/sshd.py), a real MariaDB (tests/support/dbservers.py) and
the 1CRM test site (tests/support/onecrm_site.py, whose web server answers with the `Server:
nginx/...` and `X-Powered-By: PHP/...` headers nginx and PHP send; no php or nginx binary is on
this machine, so the probe falls back to them). Read-only is proved three ways: the install trees
and the databases are identical before and after (checksums), and every primitive the SSH helper
was sent is one that reads (or a version/crontab listing `engine.api.probe` allows).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.api.probe import READ_ONLY, read_only_command
from engine.connect.ssh import SSHConnection
from tests.support.onecrm_site import (  # noqa: F401
    NEW,
    OLD,
    checksums,
    mariadb_server,
    onecrm_estate,
    sshd_server,
    tree_digest,
)
from tests.support.runs import run_cli


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call the SSH helper is sent during the test."""
    calls: list[dict[str, Any]] = []
    original = SSHConnection.call

    def recording(self: SSHConnection, batch: list[dict[str, Any]], timeout: float | None = None) -> Any:
        calls.extend(batch)
        return original(self, batch, timeout)

    monkeypatch.setattr(SSHConnection, "call", recording)
    return calls


def test_the_1crm_probe_reports_php_web_server_database_version_cron_and_disks_and_writes_nothing(
    onecrm_estate: Any,  # noqa: F811
    sent: list[dict[str, Any]],
) -> None:
    est = onecrm_estate(contract=True, nightly="missing")
    sites = (est.live, est.test)
    before = {s.name: (tree_digest(s.root), checksums(est.server, s.database)) for s in sites}

    result = run_cli(["probe", "-i", str(est.inventory), "--format", "json"], est.base)

    assert result.rc == 0, result.out + result.err
    report = json.loads(result.out)
    onecrm = report["hosts"]["h1"]["onecrm"]
    assert onecrm["php"] == {"version": "8.2.7", "source": "X-Powered-By header of the site"}
    assert onecrm["web_server"] == {
        "name": "nginx",
        "version": "1.24.0",
        "source": "Server header of the site",
    }
    live = onecrm["sites"]["live"]
    assert live["version"] == OLD and live["install_path"] == str(est.live.root)
    database = live["database"]
    assert database["reachable"] is True and database["dialect"] == "mariadb"
    assert "MariaDB" in database["server_version"]
    assert database["crm_tables"] == {"config": True, "accounts": True, "contacts": True}
    assert database["crm_version"] == OLD
    assert live["cron"]["source"] == str(est.live.cron_file)
    assert [e for e in live["cron"]["entries"]] == [
        f"*/5 * * * * www-data cd {est.live.root} && php -f scheduler.php > /dev/null 2>&1"
    ]
    for path in (str(est.live.root), str(est.live.backup_dir)):
        assert live["disks"][path]["free"] > 0 and live["disks"][path]["total"] >= live["disks"][path]["free"]
    assert set(onecrm["sites"]) == {"live", "test"} and "onecrm" not in report["hosts"]["h2"]
    assert onecrm["findings"] == []
    # read-only: files and tables as they were, and the helper was sent nothing that writes
    assert {s.name: (tree_digest(s.root), checksums(est.server, s.database)) for s in sites} == before
    ops = [c["op"] for c in sent]
    assert "file.read" in ops and "http.get" in ops
    writes = [
        c
        for c in sent
        if c["op"] not in READ_ONLY and not (c["op"] == "process.run" and read_only_command(c["args"]))
    ]
    assert writes == []
    assert NEW not in result.out  # the update package was not looked into


def test_the_1crm_probe_in_text_says_what_it_found_and_where_reality_differs(onecrm_estate: Any) -> None:  # noqa: F811
    est = onecrm_estate(contract=False, nightly="missing")
    (est.live.root / "sugar_version.php").write_text("<?php\n$sugar_version = '8.5.0';\n")
    est.live.cron_file.write_text("17 3 * * * root /usr/local/bin/rotate-logs\n")

    result = run_cli(["probe", "-i", str(est.inventory)], est.base)

    assert result.rc == 0, result.err
    text = result.out
    assert "  onecrm:" in text and "      version: 8.5.0" in text
    assert "    php:\n      version: 8.2.7" in text
    assert f"warning h1: live: no cron entry runs scheduler.php ({est.live.cron_file})" in text
    assert f"warning h1: live: sugar_version.php says 8.5.0, the database records {OLD}" in text


@pytest.mark.parametrize(
    "args",
    [
        {"argv": ["php", "-r", "unlink('x');"]},
        {"argv": ["php", "-v"], "shell": True},
        {"argv": ["crontab", "-r", "-u", "www-data"]},
        {"argv": ["crontab", "-l", "-u", "x; rm -rf /"]},
        {"argv": ["nginx", "-s", "stop"]},
        {"argv": ["php", "-v"], "env": {"PHPRC": "/tmp"}},
    ],
)
def test_a_probe_runs_no_program_but_the_version_and_crontab_listings(args: dict[str, Any]) -> None:
    assert not read_only_command(args)
    assert read_only_command({"argv": ["php", "-v"], "timeout": 30})
    assert read_only_command({"argv": ["crontab", "-l", "-u", "www-data"]})
