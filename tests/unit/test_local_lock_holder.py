"""Two runs started at the same instant: the refused one names the holder.

The holder takes the flock and writes its record just after; a start refused in between read an
empty record and said only "locked by another run" (seen in the crash campaign's concurrent
starts). It now waits briefly for the record.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time

import pytest

from engine.core.errors import RefusedError
from engine.execute.lock import EstateLock, lock_path


def test_a_start_refused_before_the_holder_wrote_its_record_still_names_it(tmp_path) -> None:
    path = lock_path(tmp_path, "acme")
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the lock taken, no record yet

    def write_record() -> None:
        time.sleep(0.3)
        record = {"run_id": "20261204-221800-abcdef", "operator": "alice", "controller": "ctl1",
                  "pid": 4242, "since": "2026-12-04T22:18:00Z"}  # fmt: skip
        os.pwrite(fd, json.dumps(record).encode(), 0)

    writer = threading.Thread(target=write_record)
    writer.start()
    try:
        with pytest.raises(RefusedError) as refused:
            EstateLock(tmp_path, "acme").acquire("20261204-221800-000000", "bob")
    finally:
        writer.join()
        os.close(fd)
    message = str(refused.value)
    assert "locked by run 20261204-221800-abcdef by alice on ctl1 (pid 4242)" in message
