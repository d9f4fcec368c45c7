"""A random but seeded sample of rows, recorded before a change and compared after it.

Why: the Sage CRM guide's checklist (chapter 12) asks to "Terminer l'échantillonnage aléatoire de
20 enregistrements de sociétés" and compare them with the system before the upgrade. A backup
can be queried only on SQLite (a .bak or a dump cannot), so the sample is taken from the live
database right after its backup, on every dialect: `seed` picks `size` keys among all of the
table's keys (the same seed and the same keys give the same choice, so the selection can be
redone and audited), and each chosen row is kept as a sha256 of its values, never the client's
data itself. After the change the same rows are read again with the same query and compared.
Identifiers are quoted by the dialect and the keys are bound parameters.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Sequence
from typing import Any

from engine.db.database import Database
from engine.db.tasks import jsonable

SAMPLE_SIZE = 20
#: keys read per statement (SQL Server allows 2100 parameters; every dialect takes this many)
_CHUNK = 500


def new_seed() -> int:
    """A fresh random seed (recorded with the sample, so the choice it made can be redone)."""
    return secrets.randbits(32)


def take_sample(
    db: Database, table: str, key: str, columns: Sequence[str], seed: int, size: int = SAMPLE_SIZE
) -> dict[str, Any]:
    """`{table, key, columns, seed, size, rows: {key: sha256 of the row}}` for `size` keys chosen by `seed`."""
    q = db.dialect.quote_ident
    keys = [r[0] for r in db.rows(f"SELECT {q(key)} FROM {q(table)} ORDER BY {q(key)}")]
    chosen = sorted(random.Random(seed).sample(keys, min(size, len(keys))))
    return {
        "table": table,
        "key": key,
        "columns": list(columns),
        "seed": seed,
        "size": size,
        "rows": read_rows(db, table, key, columns, chosen),
    }


def read_rows(
    db: Database, table: str, key: str, columns: Sequence[str], keys: Sequence[Any]
) -> dict[str, str]:
    """key (as text) -> sha256 of the row's values, for those of `keys` that exist."""
    q = db.dialect.quote_ident
    listed = ", ".join(q(c, "column name") for c in (key, *columns))
    out: dict[str, str] = {}
    for start in range(0, len(keys), _CHUNK):
        part = list(keys[start : start + _CHUNK])
        marks = ", ".join("?" for _ in part)
        for row in db.rows(f"SELECT {listed} FROM {q(table)} WHERE {q(key)} IN ({marks})", part):
            out[str(jsonable(row[0]))] = _digest(row[1:])
    return out


def compare_sample(db: Database, recorded: dict[str, Any]) -> list[str]:
    """The keys of the recorded sample whose row now differs or is gone (empty: all identical)."""
    keys = [_key_value(k) for k in recorded["rows"]]
    now = read_rows(db, recorded["table"], recorded["key"], recorded["columns"], keys)
    return sorted((k for k, digest in recorded["rows"].items() if now.get(k) != digest), key=_key_value)


def _digest(values: Sequence[Any]) -> str:
    text = json.dumps([jsonable(v) for v in values], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key_value(text: str) -> Any:
    """A recorded key back as the number it was (keys are recorded as text in JSON)."""
    return int(text) if text.lstrip("-").isdigit() else text
