"""The Sage CRM estate's application lock in its SQL Server database (modules/sagecrm/product/estate_lock.py).

No SQL Server runs here, so the statements are held to Microsoft's documented syntax and the
answers are the documented return codes, given by a stand-in for the ODBC driver (the engine's
`odbc_connect` seam, as in tests/unit/test_mssql_documented.py):

- sp_getapplock (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql):
  `sp_getapplock [ [ @Resource = ] N'Resource' ] , [ @LockMode = ] 'LockMode' [ , [ @LockOwner = ]
  'LockOwner' ] [ , [ @LockTimeout = ] LockTimeout ] [ , [ @DbPrincipal = ] N'DbPrincipal' ]`;
  LockMode one of Shared, Update, IntentShared, IntentExclusive, Exclusive; LockOwner Transaction
  or Session; return code 0 "The lock was successfully granted synchronously", -1 "The lock request
  timed out", -2 canceled, -3 deadlock victim, -999 parameter validation or other call error.
- sp_releaseapplock (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-releaseapplock-transact-sql):
  `sp_releaseapplock [ [ @Resource = ] N'Resource' ] [ , [ @LockOwner = ] 'LockOwner' ]
  [ , [ @DbPrincipal = ] N'DbPrincipal' ]`; 0 success, -999 failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

import engine.db.database as database_module
from engine.core.errors import RefusedError
from engine.execute.estate_markers import EstateMarkers
from engine.execute.hosts import HostConnections
from engine.load.inventory import load_inventory
from modules.sagecrm.product.estate_lock import RELEASE, TAKE
from simulation.host import SimHost
from tests.support.runs import write_yaml
from tests.support.sagecrm_estates import inventory_doc

DOCUMENTED = {
    "sp_getapplock": (
        {"@Resource", "@LockMode", "@LockOwner", "@LockTimeout", "@DbPrincipal"},
        {"@LockMode"},
    ),
    "sp_releaseapplock": ({"@Resource", "@LockOwner", "@DbPrincipal"}, set()),
}
LOCK_MODES = {"Shared", "Update", "IntentShared", "IntentExclusive", "Exclusive"}
TARGET = {"dialect": "mssql", "server": "sql1", "database": "CRM", "user": "sa", "password": "pw"}


def _procedure_call(batch: str) -> tuple[str, dict[str, str]]:
    """(procedure, {@parameter: value as written}) of the batch's one EXEC; every statement is T-SQL."""
    trees = sqlglot.parse(batch, read="tsql")
    assert trees and all(t is not None and not isinstance(t, exp.Command) for t in trees), batch
    [call] = [t for t in trees if isinstance(t, exp.Execute)]
    text = call.sql("tsql")
    head, _, rest = text.partition(" = ")  # EXECUTE @result = proc @a = x, @b = y
    name, _, args = rest.partition(" ")
    params = dict(part.strip().split(" = ", 1) for part in args.split(","))
    assert head == "EXECUTE @result"
    return name, params


@pytest.mark.parametrize("batch", [TAKE, RELEASE], ids=["take", "release"])
def test_the_statements_keep_to_the_documented_syntax(batch: str) -> None:
    name, params = _procedure_call(batch)

    allowed, required = DOCUMENTED[name]
    assert set(params) <= allowed and required <= set(params), params
    assert params["@Resource"] == "?", "the resource name is bound, never pasted"
    assert params["@LockOwner"] == "'Session'", "held by the run's session, freed when it logs out"
    if name == "sp_getapplock":
        assert params["@LockMode"].strip("'") in LOCK_MODES and params["@LockMode"] == "'Exclusive'"
        assert params["@LockTimeout"] == "0", "an answer at once, never a wait"


class _Server:
    """What SQL Server answers each statement, and what was sent (a stand-in for pyodbc)."""

    def __init__(self, getapplock: int) -> None:
        self.getapplock = getapplock
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.closed = 0

    def cursor(self) -> Any:
        server = self

        class Cursor:
            description: Any = None

            def execute(self, sql: str, params: Any = ()) -> Any:
                server.sent.append((sql, tuple(params)))
                code = server.getapplock if "sp_getapplock" in sql else 0
                self.description, self._rows = [("result",)], [(code,)]
                return self

            def fetchall(self) -> list[tuple[int]]:
                return self._rows

            def close(self) -> None:
                pass

        return Cursor()

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        self.closed += 1


def _estate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> tuple[EstateMarkers, _Server, Path]:
    doc = inventory_doc("single")
    doc["databases"] = {"crm": dict(TARGET)}
    doc["defaults"]["sim"] = {"initial": {}}
    inventory = load_inventory(write_yaml(tmp_path / "inv.yml", doc))
    server = _Server(code)
    monkeypatch.setattr(database_module, "odbc_connect", lambda cs, autocommit, timeout: server)
    connections = HostConnections(dict(inventory.hosts), str(tmp_path / "state"))
    markers = EstateMarkers(inventory, connections, "run-1", "alice", databases={"crm": dict(TARGET)})
    return markers, server, tmp_path / "state"


def _marker(state: Path) -> Any:
    [answer] = SimHost.open(state, "crm").call(
        [{"op": "lock.inspect", "args": {"path": "C:\\ProgramData\\cutover\\locks\\sagecrm-single.lock"}}]
    )
    return answer["value"]["holder"]


def test_the_run_holds_the_application_lock_on_one_session_and_releases_it(tmp_path, monkeypatch) -> None:
    markers, server, state = _estate(tmp_path, monkeypatch, 0)
    try:
        markers.take()
        assert [held.label for held in markers.product_locks] == [
            "application lock 'cutover estate sagecrm-single' in database 'crm'"
        ]
        assert server.sent == [(TAKE, ("cutover estate sagecrm-single",))]
        assert server.closed == 0, "the session stays open: the lock lives as long as it"
        assert _marker(state)["run_id"] == "run-1"
    finally:
        markers.release()
        markers.connections.close_all()
    assert server.sent[-1] == (RELEASE, ("cutover estate sagecrm-single",))
    assert server.closed == 1 and _marker(state) is None


def test_a_lock_another_session_holds_refuses_the_run_and_releases_the_markers(tmp_path, monkeypatch) -> None:
    markers, server, state = _estate(tmp_path, monkeypatch, -1)
    try:
        with pytest.raises(RefusedError) as refused:
            markers.take()
    finally:
        markers.connections.close_all()

    assert "sp_getapplock: the lock request timed out: another session holds it" in str(refused.value)
    assert refused.value.exit_code == 3
    assert _marker(state) is None, "the host markers taken first were released"
    assert server.closed == 1 and markers.product_locks == []
