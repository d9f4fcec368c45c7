"""`cutover` with every helper round trip timed, for W3's engine overhead.

    python bench/_traced_cutover.py TRACE.json run PLAYBOOK -i INVENTORY ...

Runs the real command line (engine.cli) unchanged, but wraps `HelperConnection.call` (the one
place every primitive call to an SSH or local host passes) and writes, at exit, the start and
end (CLOCK_MONOTONIC, comparable with the harness's clock) of every round trip to TRACE.json.
The harness takes the union of those intervals as the time a tool was working on a host
(dump, archive, load, extraction, ...); the rest of the command's wall time is the engine's
own: start-up, planning, connections, journal, reports, module logic between calls.
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.connect import helper_channel  # noqa: E402

_TRACE: list[tuple[float, float, str, list[str]]] = []
_call = helper_channel.HelperConnection.call


def _timed(self: helper_channel.HelperConnection, calls: list, timeout: float | None = None) -> list:
    start = time.monotonic()
    try:
        return _call(self, calls, timeout)
    finally:
        _TRACE.append((start, time.monotonic(), self.host.name, [str(c.get("op")) for c in calls]))


def _write(path: str) -> None:
    Path(path).write_text(json.dumps([list(t) for t in _TRACE]))


def main() -> None:
    trace, args = sys.argv[1], sys.argv[2:]
    helper_channel.HelperConnection.call = _timed  # type: ignore[method-assign]
    atexit.register(_write, trace)
    from engine.cli import main as cli_main

    sys.exit(cli_main(args))


if __name__ == "__main__":
    main()
