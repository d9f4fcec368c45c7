"""One run per Sage CRM estate, held in the CRM database too: an application lock of SQL Server.

Why in the database as well as on the servers: whoever changes a Sage CRM estate changes its
database, and that is where another tool (or another cutover with a different inventory of the
same estate) meets us. `sp_getapplock` with `@LockOwner = 'Session'` is held by the session that
asked for it: "Locks associated with the current session are released when the session is
logged out" (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql),
so the run keeps one connection open for its whole length and a killed run leaves nothing behind
here. `@LockTimeout = 0` asks for an answer at once: return code 0 (granted) or -1 (timed out:
another session holds it); any value below 0 is a refusal. `sp_releaseapplock` frees it at the
end (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-releaseapplock-transact-sql).

Only a database target of dialect `mssql` gets this lock (what Sage CRM runs on); the resource
name is bound as a parameter, never pasted into the statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.api.estate_locks import EstateLockRequest
from engine.core.errors import RefusedError
from engine.db import connect
from modules.sagecrm.product.estate import estate_of

#: the statement that asks for the lock; its one parameter is the resource name
TAKE = (
    "SET NOCOUNT ON; DECLARE @result INT; "
    "EXEC @result = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', @LockOwner = 'Session', "
    "@LockTimeout = 0; SELECT @result AS result"
)
#: the statement that frees it
RELEASE = (
    "SET NOCOUNT ON; DECLARE @result INT; "
    "EXEC @result = sp_releaseapplock @Resource = ?, @LockOwner = 'Session'; SELECT @result AS result"
)
#: sp_getapplock's return codes below 0, as the page documents them
REFUSALS = {
    -1: "the lock request timed out: another session holds it",
    -2: "the lock request was canceled",
    -3: "the lock request was chosen as a deadlock victim",
    -999: "parameter validation or other call error",
}


def resource_of(estate: str) -> str:
    """The lock's resource name: nvarchar(255), compared in binary (case-sensitive)."""
    return f"cutover estate {estate}"[:255]


@dataclass
class SessionLock:
    """The application lock and the session that holds it."""

    db: Any
    resource: str
    label: str

    def beat(self) -> None:
        """Nothing to refresh: the lock lives as long as the session (the connection stays open)."""

    def release(self) -> None:
        try:
            self.db.value(RELEASE, (self.resource,))
        finally:
            self.db.close()


def take_application_lock(request: EstateLockRequest) -> SessionLock | None:
    """The estate's application lock in its CRM database (SQL Server); None for another dialect."""
    estate = estate_of(request.inventory)
    if estate is None:
        return None
    target = request.databases.get(estate.database)
    if target is None or str(target.get("dialect", "")).lower() != "mssql":
        return None
    resource = resource_of(request.inventory.name)
    label = f"application lock {resource!r} in database {estate.database!r}"
    db = connect(target, name=estate.database, autocommit=True)
    try:
        code = db.value(TAKE, (resource,))
    except BaseException:
        db.close()
        raise
    if not isinstance(code, int) or code < 0:
        db.close()
        why = REFUSALS.get(code, f"return code {code!r}") if isinstance(code, int) else "no return code"
        raise RefusedError(
            f"estate {request.inventory.name!r}: the Sage CRM {label} was not granted: sp_getapplock: {why}. "
            "Another run (or tool) holds this estate's database: wait for it to end and try again"
        )
    return SessionLock(db, resource, label)
