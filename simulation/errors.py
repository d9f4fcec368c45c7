"""The one error of the simulated host: a primitive failed in a way the contract describes.

Apart from everything else so that the lowest pieces (paths, arguments) can raise it without
importing the host's state.
"""

from __future__ import annotations


class SimError(Exception):
    """A primitive failed as documented: `kind` is one of engine.connect.remote.spec.ERROR_KINDS."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message
