"""The shared pieces of the simulated Windows host: its error type and the table of primitives.

Each `sim_*` module registers the primitives it implements with `@op("name")`; `sim.SimHost`
looks them up here. Keeping the table apart from `SimHost` lets every area (files, registry,
IIS, programs) live in its own small module without import cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulation.host import SimHost

#: `handler(host, args) -> value`; raises SimError for a documented failure.
OpHandler = Callable[["SimHost", dict[str, Any]], Any]

OPS: dict[str, OpHandler] = {}


class SimError(Exception):
    """A primitive failed in a way the contract describes: `kind` is one of spec.ERROR_KINDS."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def op(name: str) -> Callable[[OpHandler], OpHandler]:
    """Register the simulated implementation of primitive `name`."""

    def register(func: OpHandler) -> OpHandler:
        if name in OPS:
            raise RuntimeError(f"simulated primitive {name!r} registered twice")
        OPS[name] = func
        return func

    return register


def arg_bool(args: dict[str, Any], name: str, default: bool) -> bool:
    """A boolean argument; strings like 'yes' are refused so a typo cannot flip a flag silently."""
    value = args.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SimError("invalid", f"argument {name!r} must be true or false, not {value!r}")
    return value


def arg_str(args: dict[str, Any], name: str, default: str | None = None) -> str:
    """A non-empty string argument; NUL is refused (Windows APIs would cut the string there)."""
    value = args.get(name, default)
    if not isinstance(value, str) or not value:
        raise SimError("invalid", f"argument {name!r} must be a non-empty string, not {value!r}")
    if "\0" in value:
        raise SimError("invalid", f"argument {name!r} contains NUL, which Windows would cut short: {value!r}")
    return value


def arg_choice(args: dict[str, Any], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    """A string argument from a fixed set, compared case-insensitively as Windows tools do."""
    value = args.get(name, default)
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise SimError("invalid", f"argument {name!r} must be one of {', '.join(choices)}, not {value!r}")


def find_key(mapping: dict[str, Any], name: str) -> str | None:
    """The key of `mapping` equal to `name` ignoring case (Windows names are case-insensitive)."""
    if name in mapping:
        return name
    folded = name.casefold()
    for key in mapping:
        if key.casefold() == folded:
            return key
    return None
