"""A preset outside the simulation package, named by its dotted path in tests (`preset: tests.support.sim_preset`).

It shows the preset contract: `OPTIONS` (besides `roles`) and `build(host_name, options)`
returning explicit `initial` sections.
"""

from __future__ import annotations

from typing import Any

OPTIONS = ("greeting",)


def build(name: str, options: dict[str, Any]) -> dict[str, Any]:
    roles = ",".join(options.get("roles", []))
    return {
        "files": {"C:\\hello.txt": f"{options.get('greeting', 'hello')} from {name} ({roles})"},
        "services": {"Greeter": {"state": "running", "path": "C:\\greeter.exe"}},
    }
