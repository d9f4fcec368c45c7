"""The client side of WinRM tests: opened `WinRMConnection`s closed at the end, calls in a thread.

Test support, not product. `connect(endpoint, persistent=..., host=..., **winrm settings)` opens a
connection to a test endpoint (import `winrm_connect_fixture` into the test module);
`in_background(call)` runs a call in a thread so a test can interrupt it or end its helper.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.connect.winrm import WinRMConnection

Connect = Callable[..., WinRMConnection]


@pytest.fixture(name="connect")
def winrm_connect_fixture() -> Iterator[Connect]:
    """Factory: an opened WinRMConnection to an endpoint, closed at the end of the test."""
    opened: list[WinRMConnection] = []

    def make(endpoint: Any, *, persistent: bool | None = None, host: Any = None, **winrm: Any) -> WinRMConnection:
        conn = WinRMConnection(host or endpoint.host(**winrm), persistent=persistent)
        opened.append(conn)
        conn.open()
        return conn

    yield make
    for conn in opened:
        conn.close()


def in_background(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Run `call` in a started thread; the list receives what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            raised.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, raised
