"""The scheduler's worker threads: started once, before the first step, and fed through one queue.

`concurrent.futures.ThreadPoolExecutor` starts a thread on each `submit` until it has
`max_workers` of them, and pays a Future, a done-callback and two locks per task: at fleet scale
(1,000 hosts x 50 steps, `--forks 100`) that was a quarter of the scheduler thread's time. Here
the threads are started together when the run begins, each takes `(key, node)` from a
`SimpleQueue` and puts `(key, outcome)` on the scheduler's completion queue: one put and one
get per step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from engine.execute.outcome import NodeOutcome

_STOP = object()


class WorkerPool:
    """`size` threads running `work(node)`; each result (or the error it raised) is put on `done`."""

    def __init__(
        self, size: int, work: Callable[[Any], NodeOutcome], done: queue.Queue[tuple[str, NodeOutcome]]
    ):
        self._work = work
        self._done = done
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"node_{i}", daemon=True) for i in range(max(1, size))
        ]

    def __enter__(self) -> WorkerPool:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Running steps finish (as the executor's `shutdown(wait=True)` did); nothing new starts."""
        for _ in self._threads:
            self._tasks.put(_STOP)
        for thread in self._threads:
            thread.join()

    def submit(self, key: str, node: Any) -> None:
        self._tasks.put((key, node))

    def _loop(self) -> None:
        while True:
            item = self._tasks.get()
            if item is _STOP:
                return
            key, node = item
            try:
                outcome = self._work(node)
            except BaseException as err:  # noqa: BLE001 - the runner already catches; this is the last net
                outcome = NodeOutcome("failed", error=f"internal error: {type(err).__name__}: {err}")
            self._done.put((key, outcome))
