"""What was written to an estate's database since a backup: the rollback preview's data-loss estimate.

A restore puts the database back to the moment of its backup; whatever users and services wrote
since is lost. Only the product knows where its data lives (Sage CRM: `Company.Comp_UpdatedDate`,
`Person.Pers_UpdatedDate`, ...; 1CRM: `accounts.date_modified`, ...) and in which time zone it
stores those dates, so a product declares `Plugin.data_written`: functions
`(WrittenRequest) -> Written | None` (None: not this product's database), imported only for an
inventory with the product's section. They connect from the controller and only read; every
value they send is bound, every identifier a constant of the product quoted by the dialect. One
that cannot reach the database lets the driver's error (engine.db.errors.DbError) out: the
preview then says the database was not reached, and never guesses a number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from engine.core.errors import CutoverError
from engine.core.model import Inventory


@dataclass(frozen=True, slots=True)
class WrittenRequest:
    """One database a rollback restores: its target (templates rendered, vault values decrypted,
    in memory only) and the moment its backup was taken (aware, UTC)."""

    inventory: Inventory
    database: str
    target: Mapping[str, Any]
    since: dt.datetime


@dataclass(frozen=True, slots=True)
class Written:
    """Rows written since the backup, per table (tables with none included, so the reader sees what
    was asked), the date column compared, and the product's tables the database did not have."""

    rows: Mapping[str, int]
    column: str
    missing: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def moment_of(taken_at: str) -> dt.datetime | None:
    """An artifact's `taken_at` as an aware moment (UTC when it names no offset); None if unreadable."""
    try:
        taken = dt.datetime.fromisoformat(taken_at.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return None
    return taken if taken.tzinfo else taken.replace(tzinfo=dt.UTC)


def stored_time(moment: dt.datetime, zone: str) -> dt.datetime:
    """`moment` as the naive date/time a database stores in `zone` (the way CRM date columns hold it)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def present(
    catalog: Mapping[Any, Iterable[str]], wanted: Iterable[tuple[str, str]]
) -> tuple[list[tuple[Any, str]], tuple[str, ...]]:
    """The (table, column) pairs of `wanted` the database has (names compared case-insensitively, as
    SQL Server and MariaDB on Windows compare them), and the wanted tables it lacks.

    `catalog` maps each table (an object with `.name`, engine.db.catalog.TableRef) to its columns.
    """
    by_name = {
        str(table.name).lower(): (table, {c.lower(): c for c in columns})
        for table, columns in catalog.items()
    }
    found: list[tuple[Any, str]] = []
    missing: list[str] = []
    for table, column in wanted:
        entry = by_name.get(table.lower())
        real = entry[1].get(column.lower()) if entry else None
        if entry is None or real is None:
            missing.append(f"{table}.{column}")
        else:
            found.append((entry[0], real))
    return found, tuple(missing)


def count_written(db: Any, columns: Iterable[tuple[Any, str]], since: dt.datetime) -> dict[str, int]:
    """Rows of each table whose date column is at or after `since`'s second (bound), read-only.

    From the whole second, not the instant: CRM date columns keep seconds (MariaDB DATETIME, Sage
    CRM's stamps), so a row written in the backup's own second cannot be told before or after it;
    it is counted, erring towards the larger loss. `db` is an engine.db Database; each table a
    TableRef and each column a name the catalog gave, both quoted by the dialect, never pasted.
    """
    second = since.replace(microsecond=0)
    counts: dict[str, int] = {}
    for table, column in columns:
        sql = f"SELECT COUNT(*) FROM {table.sql(db)} WHERE {db.dialect.quote_ident(column)} >= ?"
        counts[table.display] = int(db.value(sql, (second,)) or 0)
    return counts


def loss_line(
    inventory: Any,
    database: str,
    target: Callable[[], Mapping[str, Any] | None],
    since: dt.datetime,
    mask: Callable[[str], str] = str,
) -> str:
    """The one line saying what a restore of `database` to `since` loses, as its product counts it.

    Said alike by the rollback preview and by the production database's gate before a restore.
    `target()` gives the database's target (rendered, vault values open; None: the inventory has
    none); `mask` masks what an error shows. Never a guess: a database no product counts, or one
    the controller cannot reach, is said to be so, with no number.
    """
    from engine.api.plugins import PLUGINS

    head = f"rows written to {database} since the backup"
    try:
        given = target()
        if given is None:
            return f"{head}: not counted ({database} is no target of the inventory)"
        request = WrittenRequest(inventory, database, given, since)
        counters = [
            count for product in PLUGINS.products_of(inventory) for count in product.written_counters()
        ]
        found = next((w for w in (count(request) for count in counters) if w is not None), None)
    except CutoverError as exc:  # the driver's error (password masked), a vault value without its password
        why = mask(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return f"{head}: UNKNOWN, the database was not reached from the controller: {why}"
    if found is None:
        return f"{head}: not counted (no product of this estate reads {database})"
    tables = ", ".join(f"{table} {rows}" for table, rows in found.rows.items()) or "no table has it"
    text = f"{found.total} row(s) written to {database} since the backup ({found.column} after it: {tables})"
    if found.missing:
        text += f"; not in this database: {', '.join(found.missing)}"
    return text
