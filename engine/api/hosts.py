"""What a module or a product may ask about a host without reaching it: what kind of host it is.

Modules and products do not import connections (engine/connect/); this is their door to the one
answer the engine gives everywhere: Windows or POSIX, a machine or a simulation, as the host's
connection class declares it.
"""

from __future__ import annotations

from engine.connect import HostKind, host_kind

__all__ = ["HostKind", "host_kind"]
