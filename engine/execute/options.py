"""How a plan is run: the options every run has, apart from the plan (kept light: `cutover plan` reads it)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from engine.api.module import Gatekeeper


@dataclass(kw_only=True)
class RunOptions:
    """How a plan is run, whoever asks (the pipeline's RunSettings adds what the command chose)."""

    state_dir: str = ".cutover"
    forks: int = 20
    check_mode: bool = False
    diff_mode: bool = False
    operator: str | None = None
    gatekeeper: Gatekeeper | None = None
    #: the run whose recorded backups and old settings this one uses (rollback playbooks)
    from_run: str | None = None
    allow_unprotected: bool = False

    def run_options(self) -> dict[str, Any]:
        """These options alone, to hand on to a RunRequest."""
        return {f.name: getattr(self, f.name) for f in fields(RunOptions)}
