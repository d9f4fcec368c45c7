"""Rows written to the Sage CRM database since a backup: what a restore of it loses (rollback preview).

Sage CRM names every column `<table prefix>_<field>` ("The naming convention is the table
abbreviation_field name", https://help.sagecrm.com/on_premise/en/2021R2/Administration/Content/Administrator/FC_ChangeDBFieldProps.htm)
and stamps each row of its entities with `<prefix>_CreatedDate` and `<prefix>_UpdatedDate` (the
columns of the system entities: Sage CRM's column reference,
https://communityhub.sage.com/sage-global-solutions/sage-crm/w/example-components-developer-resources/4008/sage-crm-2025-r1---column-screen-list-reference).
A row created after the backup carries an UpdatedDate as late as its CreatedDate, so counting
`UpdatedDate > backup time` per main table counts what was created and what was changed. The
dates are the server's wall-clock time: the backup's moment is compared in the estate's
`timezone`. Read-only; the moment is bound, the table and column names are the constants below
as the catalog spells them, quoted by the dialect.
"""

from __future__ import annotations

from engine.api.data_written import Written, WrittenRequest, count_written, present, stored_time
from engine.db import connect
from engine.db.catalog import all_columns
from modules.sagecrm.product.estate import estate_of

#: the main tables of a Sage CRM database and their column prefix
MAIN_TABLES = (
    ("Company", "Comp"),
    ("Person", "Pers"),
    ("Address", "Addr"),
    ("Lead", "Lead"),
    ("Opportunity", "Oppo"),
    ("Cases", "Case"),
    ("Communication", "Comm"),
    ("Library", "Libr"),
)
COLUMN = "<prefix>_UpdatedDate"


def written_since_backup(request: WrittenRequest) -> Written | None:
    """Rows per main table updated after the backup; None for a database that is not the estate's CRM."""
    estate = estate_of(request.inventory)
    if estate is None or request.database != estate.database:
        return None
    since = stored_time(request.since, request.inventory.timezone)
    with connect(request.target, name=request.database) as db:
        wanted = [(table, f"{prefix}_UpdatedDate") for table, prefix in MAIN_TABLES]
        found, missing = present(all_columns(db), wanted)
        rows = count_written(db, found, since)
        db.rollback()
    return Written(rows, COLUMN, missing)
