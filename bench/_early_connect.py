"""`cutover` with its SSH connections started as soon as the inventory is read: a measured proposal.

    python bench/_early_connect.py TRACE.json run PLAYBOOK -i INVENTORY ...

What the engine does today: a host's connection is opened by the worker that runs its first
step, after imports, loading, planning and the journal's set-up (~0.4 s of one core before the
first handshake starts). This wrapper changes only that: when `load_inventory` returns, every
SSH host's connection is started (`HelperConnection.start()`: the ssh client begins its key
exchange and the far side starts its interpreter, in other processes) and `HostConnections.get`
opens the one it finds started (the engine's own per-host lock and error handling unchanged). The rest of the run is the real command line, unchanged;
the trace is written as bench/_traced_cutover.py writes it. The change this stands for (engine
files, not bench ones) is in docs/performance.md ("Connect while importing and planning").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _traced_cutover  # noqa: E402
from engine.connect import connection_for  # noqa: E402
from engine.execute import hosts as host_connections  # noqa: E402
from engine.load import inventory as inventory_loader  # noqa: E402

_STARTED: dict[str, Any] = {}


def _install() -> None:
    load = inventory_loader.load_inventory

    def load_and_start(*args: Any, **kwargs: Any) -> Any:
        inventory = load(*args, **kwargs)
        for name, host in inventory.hosts.items():
            if host.connection == "ssh" and not host.settings.get("password"):
                connection = connection_for(host)
                connection.start()
                _STARTED[name] = connection
        return inventory

    make = host_connections.connection_for

    def started_or_new(host: Any, **options: Any) -> Any:
        early = _STARTED.pop(host.name, None)
        if early is not None and early.host.settings == host.settings:  # (templated settings: no)
            return early
        if early is not None:
            early.close()
        return make(host, **options)

    close_all = host_connections.HostConnections.close_all

    def close_everything(self: host_connections.HostConnections) -> None:
        for connection in _STARTED.values():  # started, never used: released too
            connection.close()
        _STARTED.clear()
        close_all(self)

    inventory_loader.load_inventory = load_and_start
    host_connections.connection_for = started_or_new
    host_connections.HostConnections.close_all = close_everything


if __name__ == "__main__":
    _install()
    _traced_cutover.main()
