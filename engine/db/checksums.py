"""Per-table content digests: did a restore bring back exactly the data that was backed up?

The digest of a table does not depend on row order (engines return rows in any order after a
restore): every row is hashed on its own and the row hashes are added modulo 2**256, which keeps
duplicates counted and needs constant memory however large the table is.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
from typing import Any

from engine.db.catalog import TableRef, list_columns, list_tables
from engine.db.database import Database

_MOD = 1 << 256


def _canonical(value: Any) -> str:
    """A stable text form of a value, so equal data digests equally across driver round trips."""
    if value is None:
        return "\x00N"
    if isinstance(value, bytes | bytearray | memoryview):
        return "b:" + bytes(value).hex()
    if isinstance(value, bool):
        return f"i:{int(value)}"
    if isinstance(value, int):
        return f"i:{value}"
    if isinstance(value, float):
        return f"f:{value!r}"
    if isinstance(value, decimal.Decimal):
        return f"d:{value.normalize()}"
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return f"t:{value.isoformat()}"
    return f"s:{value}"


def row_digest(row: tuple[Any, ...]) -> int:
    """The hash of one row as an integer (fields separated so ('a','b') differs from ('ab',''))."""
    h = hashlib.sha256()
    for value in row:
        encoded = _canonical(value).encode("utf-8", "surrogatepass")
        h.update(len(encoded).to_bytes(8, "big"))
        h.update(encoded)
    return int.from_bytes(h.digest(), "big")


def table_checksum(db: Database, table: TableRef, batch: int = 1000) -> str:
    """`<row count>:<hex digest>` of one table's rows, columns in their defined order."""
    columns = list_columns(db, table)
    column_sql = ", ".join(db.dialect.quote_ident(c) for c in columns) or "*"
    total = 0
    count = 0
    for row in db.stream(f"SELECT {column_sql} FROM {table.sql(db)}", batch=batch):
        total = (total + row_digest(row)) % _MOD
        count += 1
    return f"{count}:{total:064x}"


def table_checksums(db: Database, tables: list[TableRef] | None = None) -> dict[str, str]:
    """`{table: digest}` for every user table of the connected database (or the given ones)."""
    return {t.display: table_checksum(db, t) for t in (tables if tables is not None else list_tables(db))}
