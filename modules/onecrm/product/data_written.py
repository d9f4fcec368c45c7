"""Rows written to a 1CRM database since a backup: what a restore of it loses (rollback preview).

1CRM descends from SugarCRM: each record of its tables (accounts, contacts, opportunities, cases,
notes, invoices, ... and the customer's own modules) carries `date_entered` and `date_modified`,
written in UTC whatever the user's time zone (the application converts for display), so the
backup's moment is compared in UTC. A record created after the backup has a `date_modified` as
late as its `date_entered`: counting `date_modified > backup time` in every table that has the
column counts what was created and what was changed, custom modules included. Read-only; the
moment is bound, the names are the catalog's, quoted by the dialect.
"""

from __future__ import annotations

from engine.api.data_written import Written, WrittenRequest, count_written, present, stored_time
from engine.db import connect
from engine.db.catalog import all_columns
from modules.onecrm.product.estate import parse

COLUMN = "date_modified"


def written_since_backup(request: WrittenRequest) -> Written | None:
    """Rows per main table modified after the backup; None for a database no site of the estate uses."""
    estate, _problems = parse(request.inventory)
    if estate is None or request.database not in {site.database for site in estate.sites.values()}:
        return None
    since = stored_time(request.since, "UTC")
    with connect(request.target, name=request.database) as db:
        catalog = all_columns(db)
        found, _missing = present(catalog, [(table.name, COLUMN) for table in catalog])
        rows = count_written(db, found, since)
        db.rollback()
    return Written(rows, COLUMN)
