"""The journal: what every run did, in SQLite (default) or in a fleet's PostgreSQL database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.journal.backends import journal_url


def journal_exists(state_dir: str | Path) -> bool:
    """True when there is a journal to read: a configured PostgreSQL one, or `<state dir>/runs.db`."""
    return bool(journal_url()) or (Path(state_dir) / "runs.db").is_file()


def existing_journal(state_dir: str | Path, masker: Any = None) -> Any:
    """The journal a reading command opens; UserError (exit 2) when there is none yet."""
    from engine.core.errors import UserError
    from engine.journal.store import Journal

    if not journal_exists(state_dir):
        raise UserError(
            f"no journal at {Path(state_dir) / 'runs.db'}",
            hint="run from the directory of your runs, pass --state-dir, or set CUTOVER_JOURNAL_URL for a fleet",
        )
    return Journal(Path(state_dir) / "runs.db", masker)
