"""The helper's minimum Windows PowerShell / .NET Framework: the bootstrap's check and its sentence.

Release values are Microsoft's ("How to: Determine which .NET Framework versions are installed",
https://learn.microsoft.com/dotnet/framework/install/how-to-determine-which-versions-are-installed):
378675 is 4.5.1 on Windows Server 2012 R2, 379893 is 4.5.2, 461814 is 4.7.2, 528049 is 4.8.
"""

from __future__ import annotations

import base64

import pytest

from engine.connect.winrm_framing import BOOTSTRAP_SCRIPT, FRAME_REFUSED_PREFIX, FrameReader
from engine.connect.winrm_requirements import (
    MIN_DOTNET_RELEASE,
    MIN_POWERSHELL,
    dotnet_name,
    refusal_message,
)
from tests.support.powershell_tree import commands, method_calls, parse, text, walk


@pytest.mark.parametrize(
    ("release", "name"),
    [
        (378389, ".NET Framework 4.5 (release 378389)"),
        (378675, ".NET Framework 4.5.1 (release 378675)"),
        (379893, ".NET Framework 4.5.2 (release 379893)"),
        (461814, ".NET Framework 4.7.2 (release 461814)"),
        (528049, ".NET Framework 4.8 (release 528049)"),
        (533325, ".NET Framework 4.8.1 (release 533325)"),
        (0, "no .NET Framework 4.5 or later (NDP\\v4\\Full has no Release value)"),
        (-1, "a .NET Framework release the helper could not read"),
    ],
)
def test_release_values_are_named_as_microsoft_lists_them(release: int, name: str) -> None:
    assert dotnet_name(release) == name


def test_the_refusal_names_each_thing_below_the_minimum() -> None:
    both = refusal_message(b'{"powershell":"3.0","dotnet_release":0}')
    powershell_only = refusal_message(b'{"powershell":"4.0","dotnet_release":528049}')
    unreadable = refusal_message(b'{"powershell":"4.0","dotnet_release":-1}')

    assert "it runs Windows PowerShell 3.0; cutover needs Windows PowerShell 5.1 or later" in both
    assert "it has no .NET Framework 4.5 or later" in both
    assert ".NET" not in powershell_only
    assert ".NET" not in unreadable, "an unreadable release is no reason to refuse"


def test_a_damaged_refusal_still_says_the_helper_refused() -> None:
    assert "refused to start on this host" in refusal_message(b"not json")
    assert "refused to start on this host" in refusal_message(b'{"powershell":"4.0"}')


def test_the_refused_frame_is_read_apart_from_answers_and_errors() -> None:
    reader = FrameReader()
    payload = b'{"powershell":"4.0","dotnet_release":378675}'
    frame = reader.feed(b"noise\r\n" + FRAME_REFUSED_PREFIX + base64.b64encode(payload) + b"\r\n")

    assert frame is not None and frame.refused and not frame.ok
    assert frame.data == payload


def test_the_bootstrap_checks_the_documented_minimums_before_loading_the_primitives() -> None:
    root = parse(BOOTSTRAP_SCRIPT)
    versions = [text(n) for n in walk(root) if n.type == "string_literal" and n.parent is not None]
    assert f"'{MIN_POWERSHELL}'" in versions
    assert str(MIN_DOTNET_RELEASE) in {text(n) for n in walk(root) if n.type == "decimal_integer_literal"}
    registry = [c for c in method_calls(root) if (c.type_name or "").lower() == "microsoft.win32.registry"]
    assert [c.method for c in registry] == ["GetValue"]
    assert text(registry[0].arguments[0]).strip("'") == (
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
    )
    assert text(registry[0].arguments[1]) == "'Release'"
    refusal = BOOTSTRAP_SCRIPT.index(FRAME_REFUSED_PREFIX.decode())
    assert refusal < BOOTSTRAP_SCRIPT.index("[ScriptBlock]::Create"), "refuse before loading the primitives"
    sent = [c for c in commands(root) if c.name == "Send-CutoverFrame"]
    assert any(FRAME_REFUSED_PREFIX.decode() in text(c.node) for c in sent)
