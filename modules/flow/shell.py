"""Run a command line through the host's shell (`/bin/sh -c` on POSIX, or `executable`).

Use it only when a shell is the point (pipes, redirections, globbing); `command` is safer because
nothing is interpreted. Values from variables belong in `env` (read by the script as `$NAME`) or
`stdin`, never pasted into the line: that is how they stay data.

Like `command`: `changed` whenever it runs, `creates`/`removes` guards, non-zero `rc` fails,
nothing runs in check mode.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Result, TaskContext
from modules.flow._process import ProcessModule, process_schema, run_process


def shell_argv(cmd: str, executable: str | None, platform: str) -> tuple[list[str], bool]:
    """(argv, through the host's default shell?) for a command line and an optional shell."""
    if not executable:
        return [cmd], True
    if platform == "windows":
        base = ntpath.basename(executable).lower()
        if base.startswith(("powershell", "pwsh")):
            return [executable, "-NoProfile", "-NonInteractive", "-Command", cmd], False
        if base in ("cmd", "cmd.exe"):
            return [executable, "/d", "/c", cmd], False
    elif posixpath.basename(executable) in ("pwsh", "powershell"):
        return [executable, "-NoProfile", "-NonInteractive", "-Command", cmd], False
    return [executable, "-c", cmd], False


class Shell(ProcessModule):
    """Run a command line through a shell on the host."""

    schema: ClassVar[dict[str, Any]] = process_schema(
        "Run a command line through the host's shell.",
        "shell: ls *.log | wc -l",
        {
            "executable": {
                "type": "string",
                "minLength": 1,
                "description": "Shell to use instead of the host's default (e.g. /bin/bash, powershell.exe, cmd.exe).",
            }
        },
        required=["cmd"],
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        argv, through_shell = shell_argv(
            str(args["cmd"]), args.get("executable"), ctx.require_remote().platform
        )
        return run_process(ctx, args, argv, shell=through_shell, shown=str(args["cmd"]))
