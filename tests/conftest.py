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

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "cutover-hypothesis"))
