"""A program plug-in for simulated hosts, imported through `initial: {plugins: [...]}` in tests.

`cutover-hello.exe NAME` writes `C:\\hello.txt` and answers `hello NAME`: enough to show that a
plug-in listed in a host's state is imported by every process that opens the host.
"""

from __future__ import annotations

from simulation.host import SimHost, register_program


def hello(host: SimHost, argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    name = argv[1] if len(argv) > 1 else "world"
    host.write_bytes("C:\\hello.txt", name.encode())
    return 0, f"hello {name}", ""


register_program("cutover-hello.exe", hello)
