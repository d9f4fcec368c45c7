"""Who runs a command: kept apart from the executor so that reading it imports nothing heavy
(`cutover run` asks before it plans, and the executor is imported only once its hosts are
being connected to: engine/pipeline/flows.py `plan_connecting`)."""

from __future__ import annotations

import getpass
import os


def operator_name(explicit: str | None = None) -> str:
    """`--operator`, else $CUTOVER_OPERATOR, else the login name."""
    return explicit or os.environ.get("CUTOVER_OPERATOR") or getpass.getuser()
