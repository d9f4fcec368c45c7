"""Errors of the database layer.

Every message that leaves this package has the target's password masked: drivers sometimes
echo parts of a connection string, and a backup log must never become a place to read secrets.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.core.errors import CutoverError

MASK = "********"


class DbError(CutoverError):
    """A database operation failed; `sqlstate` is the driver's state code when there is one."""

    def __init__(self, message: str, sqlstate: str | None = None):
        self.sqlstate = sqlstate
        super().__init__(message)


class InvalidIdentifier(DbError):
    """A database, schema, table or index name that cannot be quoted safely."""


class Unsupported(DbError):
    """The operation does not exist on this dialect (e.g. a transaction-log backup on MariaDB)."""

    def __init__(self, what: str, dialect: str):
        super().__init__(f"{what} is unsupported on {dialect}")


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (also in its ODBC-escaped `}}` form) replaced by a mask."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret.replace("}", "}}"), MASK).replace(secret, MASK)
    return text


class BackupInvalid(DbError):
    """A backup failed verification: truncated, corrupted, unreadable or not restorable."""
