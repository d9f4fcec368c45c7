"""A playbook over real SSH (the fixture sshd on 127.0.0.1, several host aliases)."""

from __future__ import annotations

from pathlib import Path

from tests.support.runs import run_cli, write_yaml
from tests.support.sshd import SSHD, sshd_server  # noqa: F401 - pytest fixture


def test_playbook_over_ssh_is_idempotent(tmp_path: Path, sshd_server: SSHD) -> None:  # noqa: F811
    aliases = sshd_server.aliases[:3]
    write_yaml(tmp_path / "inv.yml", {
        "estate": "ssh-test",
        "defaults": {"connection": "ssh", "ssh": {"config_file": str(sshd_server.config_path)}},
        "hosts": {a: {} for a in aliases},
    })
    target = tmp_path / "remote"
    write_yaml(tmp_path / "pb.yml", [{"hosts": "all", "tasks": [
        {"name": "dir", "file": {"path": f"{target}/{{{{ inventory_hostname }}}}", "state": "directory"}},
        {"name": "conf", "copy": {"dest": f"{target}/{{{{ inventory_hostname }}}}/app.conf",
                                  "content": "host={{ inventory_hostname }}\n", "backup": True}},
        {"name": "who", "command": "id -un", "register": "who", "changed_when": False},
        {"name": "check", "assert": {"that": ["who.stdout | length > 0"]}},
    ]}])
    first = run_cli(["run", "pb.yml", "-i", "inv.yml", "--output", "jsonl", "--no-report"], tmp_path)
    assert first.rc == 0, first.err + first.out
    assert sorted(first.statuses().values()).count("changed") == 6
    for alias in aliases:
        assert (target / alias / "app.conf").read_text() == f"host={alias}\n"
    second = run_cli(["run", "pb.yml", "-i", "inv.yml", "--output", "jsonl", "--no-report"], tmp_path)
    assert second.rc == 0
    assert set(second.statuses().values()) == {"ok"}


def test_unreachable_host_fails_its_steps_only(tmp_path: Path, sshd_server: SSHD) -> None:  # noqa: F811
    write_yaml(tmp_path / "inv.yml", {
        "estate": "ssh-unreachable",
        "defaults": {"connection": "ssh", "ssh": {"config_file": str(sshd_server.config_path)}},
        "hosts": {"h1": {}, "ghost": {"address": "127.0.0.1", "port": 1, "ssh": {"config_file": "none",
                                                                                    "connect_timeout": 2}}},
    })
    write_yaml(tmp_path / "pb.yml", [{"hosts": "all", "on_failure": "continue",
                                      "tasks": [{"name": "ping", "command": "true"}]}])
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--output", "jsonl", "--no-report"], tmp_path)
    assert result.rc == 1
    statuses = result.statuses()
    assert statuses["p0/0@h1"] == "changed"
    assert statuses["p0/0@ghost"] == "failed"
    error = [e for e in result.events() if e.get("node") == "p0/0@ghost" and e["event"] == "node_ended"][0]["error"]
    assert "Connection refused" in error or "connect" in error.lower()
    assert "Traceback" not in error
