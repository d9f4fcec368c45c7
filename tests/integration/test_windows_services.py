"""Stopping and starting Windows services within the step's time, and the services that depend on them.

Before: `service.set` used Stop-Service -Force and Start-Service, which wait for as long as the
service control manager lets them (the step's timeout was not theirs), and -Force stopped the
services depending on the one stopped without a word, so nothing started them again. Now the
primitive drives ServiceController with one deadline, the step's: WaitForStatus "waits for the
service to reach the specified status or for the specified time-out to expire"
(https://learn.microsoft.com/dotnet/api/system.serviceprocess.servicecontroller.waitforstatus);
a service that cannot stop while its dependents run ("a service cannot be stopped while other
running services depend on it", ServiceController.Stop's remarks, same reference) has its
dependents stopped first, named, and started again by a restart or by the undo of the stop.

On the simulated host a service marked `hangs: stop` never leaves StopPending, as a service
whose stop handler blocks; IIS's W3SVC depends on WAS, as on Windows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.module import Result, RunContext, TaskContext
from engine.api.primitives import Remote
from engine.api.registry import ModuleRegistry
from engine.connect.sim import SimConnection
from tests.support.modharness import check_args, run_module
from tests.support.runs import run_cli, write_yaml
from tests.support.sim_hosts import sagecrm_server

REGISTRY = ModuleRegistry()
HUNG = {"preset": "sagecrm", "services": {"CRMIndexerService": {"hangs": "stop"}}}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[SimConnection]:
    connection = sagecrm_server(tmp_path)
    yield connection
    connection.close()


def state(conn: SimConnection, name: str) -> str:
    return conn.sim.service(name)["state"]


def undo(args: dict[str, Any], recorded: Result, conn: SimConnection) -> Result:
    module = REGISTRY.get("win_service")
    ctx = TaskContext(host=conn.host, vars={}, remote=Remote(conn), run=RunContext(run_id="t", operator="t"))
    return module.undo(ctx, check_args("win_service", args), {**recorded.output, "changed": recorded.changed})


def test_stopping_a_service_stops_its_dependents_first_and_names_them(conn) -> None:
    result = run_module("win_service", {"name": "WAS", "state": "stopped"}, connection=conn)

    assert not result.failed, result.msg
    assert result.output["dependents_stopped"] == ["W3SVC"]
    assert "(and the services depending on it: W3SVC)" in result.msg
    assert (state(conn, "WAS"), state(conn, "W3SVC")) == ("stopped", "stopped")


def test_the_undo_of_a_stop_starts_the_dependents_again(conn) -> None:
    args = {"name": "WAS", "state": "stopped"}
    stopped = run_module("win_service", args, connection=conn)

    back = undo(args, stopped, conn)

    assert back.changed
    assert (state(conn, "WAS"), state(conn, "W3SVC")) == ("running", "running")


def test_a_restart_starts_the_dependents_it_stopped(conn) -> None:
    result = run_module("win_service", {"name": "WAS", "state": "restarted"}, connection=conn)

    assert not result.failed and result.changed
    assert (state(conn, "WAS"), state(conn, "W3SVC")) == ("running", "running")
    assert [e["event"] for e in conn.sim.events()][-5:-1] == [
        "service W3SVC stopped", "service WAS stopped", "service WAS started", "service W3SVC started",
    ]  # fmt: skip


def test_a_service_that_never_stops_fails_within_the_steps_timeout(tmp_path: Path) -> None:
    inventory = {"estate": "svc", "hosts": {"web1": {"connection": "sim", "sim": {"initial": HUNG}}}}
    write_yaml(tmp_path / "inv.yml", inventory)
    task = {"name": "stop the indexer", "win_service": {"name": "CRMIndexerService", "state": "stopped"}}
    write_yaml(tmp_path / "pb.yml", [{"name": "p", "hosts": "all", "tasks": [{**task, "timeout": 30}]}])

    run = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)

    assert run.rc == 1
    found = re.search(
        r"Service 'CRMIndexerService' did not reach Stopped before the step's deadline \(([\d.]+) s\)",
        run.out,
    )
    assert found, run.out
    # what is left of the step's 30 s, less one, so that the host answers before the connection gives up
    assert 0 < float(found.group(1)) <= 29
    assert "(it is StopPending)" in run.out


def test_service_set_refuses_a_timeout_that_is_not_a_number_of_seconds(conn) -> None:
    [answer] = conn.call(
        [{"op": "service.set", "args": {"name": "WAS", "state": "stopped", "timeout": "soon"}}]
    )

    assert answer["ok"] is False and answer["kind"] == "invalid"
    assert state(conn, "WAS") == "running"
