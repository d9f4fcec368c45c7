"""Modules reach other hosts through the run's connection pool (`TaskContext.remote_for`).

A test estate restored from its live estate reads the live servers' backups: the live servers are
hosts of another inventory. Through the pool their connection is opened once for the whole run
(here: two tasks see the same helper process), its settings are resolved like any host's (a
templated password), and that password is masked in everything the run shows. Real local connections (the POSIX helper as a process).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.runs import journal_of, run_cli, write_yaml

REACH = '''
"""Reads the helper's process id on a host of another inventory, through the pool."""
from engine.api.module import Module, Result
from engine.load.inventory import load_inventory


class Reach(Module):
    platforms = frozenset({"controller"})
    schema = {"type": "object", "properties": {"inventory": {"type": "string"}, "host": {"type": "string"}}}

    def run(self, ctx, args):
        other = load_inventory(args["inventory"]).hosts[args["host"]]
        ran = ctx.remote_for(other).call("process.run", argv=["sh", "-c", "echo $PPID"])
        helper = ran["stdout"].strip()
        return Result(msg=f"{other.name} as {other.vars['live_password']}", output={"helper": helper})
'''


def test_another_inventorys_host_is_opened_once_resolved_and_masked(tmp_path: Path) -> None:
    write_yaml(tmp_path / "live.yml", {
        "estate": "live",
        "vars": {"live_password": "s3cr3t-live"},
        "hosts": {"live1": {"connection": "local", "password": "{{ live_password }}"}},
    })
    write_yaml(tmp_path / "test.yml", {"estate": "test", "hosts": {"test1": {"connection": "local"}}})
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "reach.py").write_text(REACH)
    write_yaml(tmp_path / "site.yml", [{"hosts": "all", "tasks": [
        {"name": "first", "reach": {"inventory": str(tmp_path / "live.yml"), "host": "live1"}, "register": "a"},
        {"name": "second", "reach": {"inventory": str(tmp_path / "live.yml"), "host": "live1"}, "register": "b"},
    ]}])

    result = run_cli(["run", "site.yml", "-i", "test.yml", "--output", "jsonl"], tmp_path)

    assert result.rc == 0, result.err + result.out
    ended = {e["task"]: e for e in result.events() if e["event"] == "node_ended"}
    assert ended["first"]["msg"] == "live1 as ********"
    assert "s3cr3t-live" not in result.out + result.err
    journal = journal_of(tmp_path)
    run = journal.find_run("last")
    outputs = {row["node_id"]: row for row in journal.nodes(run["id"])}
    journal.close()
    helpers = {(row.get("result") or {}).get("helper") for row in outputs.values()}
    assert len(helpers) == 1 and next(iter(helpers)).isdigit(), outputs  # one connection for both tasks
    report = next((tmp_path / ".cutover" / "reports").glob("*/report.json")).read_text()
    assert "s3cr3t-live" not in report and "live1 as ********" in report
