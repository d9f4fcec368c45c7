"""Simulated Sage CRM servers for tests of one server's modules: an opened SimConnection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.connect.sim import SimConnection
from engine.core.model import Host


def sagecrm_server(tmp_path: Path, name: str = "web1", **initial: Any) -> SimConnection:
    """A simulated Sage CRM server (the `sagecrm` preset, `initial` laid over it), opened; close it."""
    host = Host(name, name, "sim", settings={"sim": {"initial": {"preset": "sagecrm", **initial}}})
    connection = SimConnection(host, state_dir=str(tmp_path / "state"))
    connection.open()
    return connection
