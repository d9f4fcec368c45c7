"""What every connection does: open, answer a batch of primitive calls, interrupt, close.

A connection moves bytes between the controller and one host; it knows nothing of modules.
The engine opens one connection per host for the whole run and never uses one connection from
two threads at once (the executor holds `lock` around every call).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.errors import Problem, closest, key_location
from engine.core.model import Host


class Connection(ABC):
    """One host's channel. Subclasses implement the four methods below."""

    #: `posix` or `windows`: which kind of host answers the primitives (and whose paths they are).
    platform: str = "posix"
    #: True for a simulated host (labelled as such in reports); it answers as its platform does.
    simulated: bool = False
    #: Shown next to the host wherever results appear (the sim says it is a simulation).
    label: str = ""
    #: Called (on the calling thread) with the values of each progress frame a long call sends before
    #: its answer (`{op, line}` of a program's log, `{op, bytes, bytes_total, ...}` of an archive);
    #: set around a call to watch it (engine.api.primitives.Remote does, for the live console).
    on_progress: Any = None

    def __init__(self, host: Host):
        self.host = host
        self.lock = threading.Lock()

    @classmethod  # noqa: B027 - optional: most connections are always available
    def check_available(cls, host: Host) -> None:
        """Raise a located UserError when this kind of connection cannot be made from here at all
        (a package it needs is missing): asked for every host of a plan before its first step, so such
        a run is refused with exit 2 instead of failing step by step. Default: always available."""

    @classmethod  # noqa: B027 - optional: a connection without settings has nothing to check
    def check_settings(cls, host: Host) -> None:
        """Raise a located UserError for a mistake in the host's settings of this connection (an
        unknown key, a value of the wrong kind), reading them as `open` will but reaching nothing:
        `cutover validate` asks it for every host, so a typo is found before the window, not at the
        first connection. Default: no settings of its own."""

    @abstractmethod
    def open(self) -> None:
        """Connect (and start the remote helper). Raises ConnectionFailed with a plain reason."""

    @abstractmethod
    def call(self, calls: list[dict[str, Any]], timeout: float | None = None) -> list[dict[str, Any]]:
        """Send `[{"op", "args"}, ...]` in one round trip; answer one dict per call, in order.

        Raises TaskTimeout when `timeout` seconds pass (the remote work is stopped first) and
        ConnectionFailed when the channel breaks.
        """

    def interrupt(self) -> None:  # noqa: B027 - optional: a connection with nothing to stop keeps this
        """Stop the call in flight, if any (Ctrl-C, a task timeout). Default: nothing to stop."""

    @abstractmethod
    def close(self) -> None:
        """Release the channel; safe to call twice."""

    def __enter__(self) -> Connection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unknown_settings(
    host: Host, section: str, settings: Mapping[str, Any], known: Sequence[str]
) -> list[Problem]:
    """One problem per key of a host's `section` settings that its connection does not read, at
    the key's own line, with the nearest known key (or the known ones) as the hint."""
    problems = []
    for key in settings:
        if key not in known:
            near = closest(str(key), known)
            problems.append(
                Problem(
                    f"host {host.name}: unknown {section} setting {key!r}",
                    key_location(settings, key, host.location),
                    f"did you mean {near!r}?" if near else f"known: {', '.join(known)}",
                )
            )
    return problems
