"""The PowerShell helper's progress frames, read from the syntax tree of the script it ships.

No Windows runs here (the WinRM endpoint writes the frames as the helper does; see
tests/integration/test_progress_frames.py). What holds the two together:
- the frame's prefix is the one the connection reads (`FRAME_PROGRESS_PREFIX`), written straight
  to the console's stdout and flushed, so it leaves while the program still runs and never joins
  the batch's answer (which the bootstrap writes after Invoke-CutoverBatch returns);
- process.run waits in slices (`Process.WaitForExit(milliseconds)`) and reads the log's tail in
  between, only when the call names a `progress_log`;
- the log is opened with FileShare ReadWrite and Delete: "Allows subsequent opening of the file
  for reading or writing" / "Allows subsequent deleting of a file"
  (https://learn.microsoft.com/dotnet/api/system.io.fileshare), so an installer that holds its log
  open for writing is neither refused nor disturbed by the tail.
"""

from __future__ import annotations

import pytest
from tree_sitter import Node

from engine.connect.winrm_framing import FRAME_PROGRESS_PREFIX
from tests.support.powershell_tree import commands, method_calls, script_functions, text


@pytest.fixture(scope="module")
def functions() -> dict[str, Node]:
    return script_functions()


def test_the_progress_frame_uses_the_connections_prefix_and_leaves_at_once(
    functions: dict[str, Node],
) -> None:
    body = text(functions["Send-CutoverProgress"])

    assert f"'{FRAME_PROGRESS_PREFIX.decode()}'" in body
    assert "[Console]::Out.WriteLine(" in body and "[Console]::Out.Flush()" in body
    assert {m.method for m in method_calls(functions["Send-CutoverProgress"])} >= {
        "ToBase64String",
        "GetBytes",
    }


def test_process_run_tails_the_named_log_while_it_waits(functions: dict[str, Node]) -> None:
    run = functions["Invoke-CutoverProcessRun"]
    wait = functions["Wait-CutoverProcess"]

    assert "$a.progress_log" in text(run) and "progress_last" in text(run)
    assert "Wait-CutoverProcess" in {c.name for c in commands(run)}
    assert "WaitForExit" in {m.method for m in method_calls(wait)}
    assert {"Get-CutoverLogTail", "Send-CutoverProgress"} <= {c.name for c in commands(wait)}


def test_the_log_is_read_without_disturbing_its_writer(functions: dict[str, Node]) -> None:
    tail = text(functions["Get-CutoverLogTail"])

    assert "[IO.FileShare]::ReadWrite -bor [IO.FileShare]::Delete" in tail
    assert "[IO.FileAccess]::Read" in tail
    assert "[Text.Encoding]::Unicode" in tail  # a UTF-16 log (its BOM FF FE) is read as such
