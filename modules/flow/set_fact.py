"""Set variables for this host for the rest of the run (`Result.facts`), on the controller.

Every argument is a variable to set; values arrive already rendered by the engine. Never
`changed` (no host is touched), and it runs in check mode too so later tasks see the same
variables as in a real run. This is the one module whose schema is open: the variable names are
the operator's, checked only to be valid names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import SCHEMA_DIALECT


class SetFact(Module):
    """Arguments become host variables."""

    platforms: ClassVar[frozenset[str]] = frozenset({"controller"})
    schema: ClassVar[dict[str, Any]] = {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "description": "Set host variables for the rest of the run; every argument is a variable.",
        "minProperties": 1,
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {"description": "Any value."},
    }

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        facts = dict(args)
        return Result(facts=facts, output={"facts": facts}, msg=", ".join(sorted(facts)))
