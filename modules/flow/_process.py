"""The shared logic of `command` and `shell`: run a process on the host and report like Ansible.

Why shared: both modules have the same guards (`creates`, `removes`), the same check-mode rule
(nothing runs; the task says it would change unless a guard says it would be skipped), the same
inputs (`chdir`, `env`, `stdin`) and the same registered output (`rc`, `stdout`, `stderr`,
`stdout_lines`, `stderr_lines`, `cmd`). They differ only in the argv they hand to `process.run`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import PATH_SCHEMA, call, object_schema, prop, stat

PROCESS_PROPERTIES: dict[str, Any] = {
    "chdir": prop(PATH_SCHEMA, "Folder on the host to run in."),
    "creates": prop(PATH_SCHEMA, "If this path exists on the host, do not run (the task is `ok`)."),
    "removes": prop(PATH_SCHEMA, "If this path does not exist on the host, do not run (the task is `ok`)."),
    "stdin": {"type": "string", "description": "Text given to the process on its standard input."},
    "stdin_add_newline": {
        "type": "boolean",
        "default": True,
        "description": "Add a newline to `stdin` when it does not end with one.",
    },
    "env": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Extra environment variables (name: value) for the process.",
    },
}


def process_schema(description: str, example: str, extra: dict[str, Any], **rules: Any) -> dict[str, Any]:
    """The schema of a process module: `cmd` (the free-form text), its own `extra`, PROCESS_PROPERTIES."""
    cmd = {"type": "string", "minLength": 1, "description": f"The command line (free form: `{example}`)."}
    return object_schema(description, {"cmd": cmd, **extra, **PROCESS_PROPERTIES}, **rules)


class ProcessModule(Module):
    """Base of command and shell: free-form `cmd`, an action (no check/diff/apply split)."""

    free_form: ClassVar[str | None] = "cmd"


def guard(ctx: TaskContext, args: Mapping[str, Any]) -> str | None:
    """Why the process must not run (`creates`/`removes`), or None when it should."""
    remote = ctx.require_remote()
    creates, removes = args.get("creates"), args.get("removes")
    if creates and stat(remote, creates) is not None:
        return f"skipped, since {creates} exists"
    if removes and stat(remote, removes) is None:
        return f"skipped, since {removes} does not exist"
    return None


def _lines(text: str) -> list[str]:
    return text.splitlines()


def run_process(
    ctx: TaskContext, args: Mapping[str, Any], argv: list[str], shell: bool, shown: Any
) -> Result:
    """Run `argv` (through the host shell when `shell`) unless a guard or check mode says not to."""
    reason = guard(ctx, args)
    if reason:
        return Result(
            changed=False,
            msg=reason,
            output={
                "cmd": shown,
                "rc": 0,
                "stdout": reason,
                "stderr": "",
                "stdout_lines": [reason],
                "stderr_lines": [],
            },
        )
    if ctx.check_mode:
        return Result(changed=True, msg="would run (check mode)", output={"cmd": shown})
    stdin = args.get("stdin")
    if stdin is not None and args.get("stdin_add_newline", True) and not stdin.endswith("\n"):
        stdin += "\n"
    value = call(
        ctx.require_remote(),
        "process.run",
        argv=argv,
        cwd=args.get("chdir"),
        env=dict(args["env"]) if args.get("env") else None,
        stdin_b64=base64.b64encode(stdin.encode("utf-8")).decode("ascii") if stdin is not None else None,
        timeout=ctx.timeout,
        shell=True if shell else None,
    )
    rc = int(value.get("rc", -1))
    stdout = str(value.get("stdout", "")).rstrip("\r\n")
    stderr = str(value.get("stderr", "")).rstrip("\r\n")
    output = {
        "cmd": shown,
        "rc": rc,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_lines": _lines(stdout),
        "stderr_lines": _lines(stderr),
    }
    if rc != 0:
        return Result(changed=True, failed=True, msg=f"non-zero return code {rc}", output=output)
    return Result(changed=True, output=output)
