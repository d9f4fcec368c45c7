"""What a test does when a server it needs cannot be had: skip on a workstation, fail in CI.

Why: a skipped test is a green line that proved nothing. On a developer's machine without
MariaDB or Chromium, skipping with the reason is the friendly answer; in CI it would let a run
claim that the database, SSH and browser tests passed when none of them ran. So with
`CUTOVER_REQUIRE_SERVERS=1` (set by .ci/run, and the default when `CI=true`) the same situation
is a test failure that names what is missing and how to install it.

Used by tests/support/dbservers.py (MariaDB, PostgreSQL), tests/support/sshd.py (OpenSSH) and
tests/e2e/test_report_browser.py (Chromium); a Redis fixture will use it the same way.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

SWITCH = "CUTOVER_REQUIRE_SERVERS"


def servers_required() -> bool:
    """True when a missing server must fail the test: `CUTOVER_REQUIRE_SERVERS=1`, or CI without it set."""
    default = "1" if os.environ.get("CI", "").lower() == "true" else "0"
    return os.environ.get(SWITCH, default).strip() == "1"


def server_unavailable(what: str, reason: str) -> NoReturn:
    """Skip the test (workstation) or fail it (CI), saying which server and why."""
    message = f"{what} is not available: {reason}"
    if servers_required():
        pytest.fail(f"{message} ({SWITCH}=1: the tests that need it must run)", pytrace=False)
    pytest.skip(message)
