"""Settings the whole test session needs before any test runs.

Hypothesis keeps its example database and caches in `.hypothesis/` under the working directory,
that is in the source tree, while the project's tests write only below temporary directories. It
is pointed at one in the system's temporary directory instead, kept between runs so that a
failing example is replayed first next time (a developer's own HYPOTHESIS_STORAGE_DIRECTORY wins).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "cutover-hypothesis"))


@pytest.fixture(autouse=True)
def _estate_lock_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test its own folder of estate lock markers on POSIX hosts (engine/execute/estate_markers.py).

    Runs on `connection: local` or the sshd fixture put their markers on this machine, where every
    test (and every other test session) would otherwise share /var/lib/cutover/locks: a marker a
    killed run left in one test would refuse the next test's run of an estate with the same name.
    Processes a test starts inherit it.
    """
    monkeypatch.setenv("CUTOVER_LOCK_DIR", str(tmp_path_factory.mktemp("estate-locks")))
