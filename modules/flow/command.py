"""Run a program on the host WITHOUT a shell: quotes, `$()`, `;`, `|` and `*` reach it literally.

`cmd` is split into words on the controller (POSIX shell quoting rules; on Windows hosts the
Windows rules, so backslashes in paths survive), or `argv` gives the words as a list, which is the
safest way to pass values that come from variables. Nothing is ever pasted into a shell line, so
a value containing `; rm -rf /` is one argument, not a second command.

A command is an action, not a state: it reports `changed` whenever it runs. `creates`/`removes`
make it idempotent (the second run is `ok`), and `changed_when`/`failed_when` on the task
override the verdict from the registered `rc`/`stdout`. A non-zero return code fails the task.
In check mode nothing runs; the task reports that it would change (or `ok` when a guard says it
would be skipped).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import ModuleFailed, Result, TaskContext
from modules.flow._process import ProcessModule, process_schema, run_process


def split_command(cmd: str, platform: str) -> list[str]:
    """Words of a command line, split on the controller by the host's quoting rules."""
    try:
        if platform == "windows":
            words = shlex.split(cmd, posix=False)
            return [w[1:-1] if len(w) >= 2 and w[0] == w[-1] and w[0] in "\"'" else w for w in words]
        return shlex.split(cmd)
    except ValueError as exc:
        raise ModuleFailed(f"cannot split command {cmd!r}: {exc}") from exc


class Command(ProcessModule):
    """Run argv on the host through `process.run` (no shell)."""

    schema: ClassVar[dict[str, Any]] = process_schema(
        "Run a program on the host without a shell.",
        "command: ls -l /tmp",
        {
            "argv": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "The words of the command as a list, instead of `cmd` (no splitting at all).",
            }
        },
        oneOf=[{"required": ["cmd"]}, {"required": ["argv"]}],
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        if "argv" in args:
            argv = [str(a) for a in args["argv"]]
        else:
            argv = split_command(str(args["cmd"]), ctx.require_remote().platform)
        if not argv:
            raise ModuleFailed("empty command")
        return run_process(ctx, args, argv, shell=False, shown=argv)
