"""Run a PowerShell script on a Windows host: the escape hatch when no module fits.

A script is an action, not a state: it reports `changed` whenever it runs, and cutover cannot
predict what it would do, so check mode skips it (`supports_check = False`). Make it idempotent
with `creates` (do not run when this path exists) or `removes` (do not run when it is missing),
or judge its output with `changed_when`/`failed_when` on the task. A non-zero exit code, or an
error the script throws, fails the task with the script's error text.

Values as data: `parameters` (name: value) reach the script as real PowerShell parameters
(declare them with `param($Name, ...)`), never pasted into its text. The script and its
parameters travel as JSON on the process's standard input to a fixed bootstrap
(`-EncodedCommand`), so no quoting can break or inject anything, whatever the length.

On simulated hosts PowerShell is not interpreted: the task fails with "not supported on
simulated hosts" (use the modules, which the simulation implements), unless a guard skips it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import object_schema
from modules.flow._process import PROCESS_PROPERTIES, run_process
from modules.windows._windows import WINDOWS

#: Reads {script, parameters} as JSON from stdin and runs the script with the parameters splatted.
BOOTSTRAP = r"""
$ErrorActionPreference = 'Stop'
$request = [Console]::In.ReadToEnd() | ConvertFrom-Json
$params = @{}
if ($null -ne $request.parameters) {
    foreach ($p in $request.parameters.PSObject.Properties) { $params[$p.Name] = $p.Value }
}
try {
    & ([scriptblock]::Create($request.script)) @params
    if ($LASTEXITCODE) { exit $LASTEXITCODE }
} catch {
    [Console]::Error.WriteLine($_.ToString())
    exit 1
}
exit 0
"""


def powershell_argv() -> list[str]:
    """powershell.exe running the fixed bootstrap (UTF-16LE base64, as -EncodedCommand wants)."""
    encoded = base64.b64encode(BOOTSTRAP.strip().encode("utf-16-le")).decode("ascii")
    return ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
            "-EncodedCommand", encoded]  # fmt: skip


class Powershell(Module):
    """A raw script through `process.run` of powershell.exe; guarded by creates/removes."""

    platforms: ClassVar[frozenset[str]] = WINDOWS
    free_form: ClassVar[str | None] = "script"
    supports_check: ClassVar[bool] = False
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Run a PowerShell script on a Windows host (not idempotent unless guarded).",
        {
            "script": {"type": "string", "minLength": 1, "description": "The script (free form)."},
            "parameters": {
                "type": "object",
                "description": "Values passed to the script's param() block by name, as data.",
            },
            **{k: PROCESS_PROPERTIES[k] for k in ("chdir", "creates", "removes", "env")},
        },
        ("script",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        request = json.dumps(
            {"script": str(args["script"]), "parameters": dict(args.get("parameters") or {})}
        )
        process_args = {**args, "stdin": request, "stdin_add_newline": False}
        result = run_process(ctx, process_args, powershell_argv(), shell=False, shown="powershell")
        if result.failed and result.output.get("stderr"):
            result.msg = f"{result.msg}: {result.output['stderr_lines'][-1]}"
        return result
