"""The PowerShell primitives keep to the primitive contract of spec.py, one function per primitive.

No Windows here: the script, as the connection assembles it from engine/connect/remote/powershell/,
is parsed with tree-sitter's PowerShell grammar (test dependencies `tree-sitter` and
`tree-sitter-powershell` from PyPI) and checked structurally: the dispatch table names exactly the
windows primitives, each names a function of its group's file that starts with param($a), reads
only the arguments the spec declares and every required one, helpers never see $a, every helper
called is defined, and nothing evaluates text as code. Whether the script is Windows PowerShell
5.1 is tests/unit/test_powershell_compat.py's question.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tree_sitter import Node

from engine.connect.remote import powershell
from engine.connect.remote.spec import PRIMITIVES
from tests.support.powershell_tree import parse, text, walk

FOLDER = Path(powershell.__file__).parent
WINDOWS = {name: spec for name, spec in PRIMITIVES.items() if "windows" in spec.platforms}
#: The file of each group of primitives (the part before the dot of their names).
GROUP_FILES = {
    "host": "host.ps1",
    "file": "files.ps1",
    "archive": "archives.ps1",
    "process": "processes.ps1",
    "disk": "disk.ps1",
    "http": "http.ps1",
    "net": "net.ps1",
    "service": "services.ps1",
    "registry": "registry.ps1",
    "iis": "iis.ps1",
    "dll": "dll.ps1",
    "lock": "lock.ps1",
}

#: Cmdlets the script may call: all ship with Windows PowerShell 5.1. A new one is added here on
#: purpose, so a misspelt cmdlet name fails this test instead of a run on a customer's server.
CMDLETS = {
    "Add-Type", "ConvertFrom-Json", "ConvertTo-Json", "Copy-Item", "ForEach-Object", "Get-Acl",
    "Get-ChildItem", "Get-CimInstance", "Get-Command", "Get-FileHash", "Get-Item", "Get-Service",
    "Invoke-WebRequest", "Join-Path", "Move-Item", "New-CimInstance", "New-Object", "Remove-Item",
    "Select-Object", "Set-Acl", "Set-Service", "Start-Process", "Start-Service", "Start-Sleep", "Stop-Service",
    "Test-Path", "Where-Object",
}  # fmt: skip
FORBIDDEN = {"invoke-expression", "iex", "invoke-command", "icm"}


@pytest.fixture(scope="module")
def tree() -> Node:
    return parse(powershell.script())


@pytest.fixture(scope="module")
def functions(tree: Node) -> dict[str, list[Node]]:
    """Every function_statement of the script by name (a list, so duplicates show)."""
    found: dict[str, list[Node]] = {}
    for node in walk(tree):
        if node.type == "function_statement":
            name = next(c for c in node.children if c.type == "function_name")
            found.setdefault(text(name), []).append(node)
    return found


@pytest.fixture(scope="module")
def table(tree: Node) -> dict[str, str]:
    """`$CutoverPrimitives = @{ 'file.stat' = 'Invoke-CutoverFileStat'; ... }`: name -> function."""
    for node in walk(tree):
        if node.type != "assignment_expression" or text(node.children[0]).strip() != "$CutoverPrimitives":
            continue
        literal = next(n for n in walk(node) if n.type == "hash_literal_expression")
        body = next(c for c in literal.children if c.type == "hash_literal_body")
        entries = {}
        for entry in (c for c in body.children if c.type == "hash_entry"):
            key = next(c for c in entry.children if c.type == "key_expression")
            value = next(c for c in entry.children if c.type == "pipeline")
            entries[text(key).strip().strip("'\"")] = text(value).strip().strip("'\"")
        return entries
    raise AssertionError("no `$CutoverPrimitives = @{...}` dispatch table in the primitives script")


def test_every_file_of_the_folder_is_shipped_once_in_order() -> None:
    assert sorted(p.name for p in FOLDER.glob("*.ps1")) == sorted(powershell.PARTS)
    assert len(set(powershell.PARTS)) == len(powershell.PARTS)
    assert powershell.PARTS[-1] == "dispatch.ps1", "the entry point comes last"
    script = powershell.script()
    assert script == "".join(part.text for part in powershell.parts())
    for part in powershell.parts():
        first = part.text.splitlines()[0]
        assert script.splitlines()[part.first_line - 1] == first
        assert powershell.locate(part.first_line) == (part.name, 1)


def test_dispatch_table_names_exactly_the_windows_primitives(table: dict[str, str]) -> None:
    assert set(table) == set(WINDOWS)


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_each_primitive_is_one_function_in_its_groups_file(
    table: dict[str, str], functions: dict[str, list[Node]], name: str
) -> None:
    function = table[name]
    expected = "Invoke-Cutover" + "".join(word.capitalize() for word in re.split(r"[._]", name))
    assert function == expected, f"{name}: the function is named {function}, not {expected}"
    assert len(functions.get(function, [])) == 1, f"{name}: {function} must be defined exactly once"
    part, _ = powershell.locate(functions[function][0].start_point[0] + 1)
    assert part == GROUP_FILES[name.split(".")[0]]


def _argument_reads(block: Node) -> tuple[list[str], list[str]]:
    """($a.<name> reads, other uses of $a such as $a['x'] or $a passed on whole) in a function."""
    names, other = [], []
    for node in walk(block):
        if node.type == "variable" and text(node).lower() == "$a":
            parent = node.parent
            if parent is not None and parent.type == "member_access" and parent.children[0] == node:
                member = next(c for c in parent.children if c.type == "member_name")
                names.append(text(member))
            elif parent is None or parent.type != "script_parameter":
                other.append(text(parent) if parent is not None else text(node))
    return names, other


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_each_primitive_reads_only_declared_arguments_and_every_required_one(
    table: dict[str, str], functions: dict[str, list[Node]], name: str
) -> None:
    block = functions[table[name]][0]
    params = [text(n) for n in walk(block) if n.type == "script_parameter"]
    assert params[:1] == ["$a"], f"{name}: the function must start with param($a)"
    names, other = _argument_reads(block)
    spec = WINDOWS[name]
    assert other == [], f"{name}: reads arguments other than as $a.<name>: {other}"
    assert set(names) <= spec.arguments, f"{name}: reads undeclared {sorted(set(names) - spec.arguments)}"
    assert set(spec.required) <= set(names), f"{name}: never reads {sorted(set(spec.required) - set(names))}"


def test_arguments_are_read_only_inside_the_primitive_functions(
    tree: Node, table: dict[str, str], functions: dict[str, list[Node]]
) -> None:
    inside = {(n.start_byte, n.end_byte) for f in table.values() for n in walk(functions[f][0])}
    outside = [
        powershell.locate(n.start_point[0] + 1)
        for n in walk(tree)
        if n.type == "variable" and text(n).lower() == "$a" and (n.start_byte, n.end_byte) not in inside
    ]
    assert outside == [], f"$a used outside the primitives at {outside}: helpers must get values, not $a"


def test_every_command_resolves_and_nothing_runs_text_as_code(tree: Node) -> None:
    defined = {text(n) for n in walk(tree) if n.type == "function_name"}
    called = {text(n) for n in walk(tree) if n.type == "command_name"}
    own = {c for c in called if "-Cutover" in c}
    assert own <= defined, f"calls to undefined helpers: {sorted(own - defined)}"
    assert called - own <= CMDLETS, f"cmdlets not on the 5.1 list: {sorted(called - own - CMDLETS)}"
    assert not {c.lower() for c in called} & FORBIDDEN
    raw = powershell.script().encode("utf-8")
    comments = sorted((n.start_byte, n.end_byte) for n in walk(tree) if n.type == "comment")
    code, last = bytearray(), 0
    for start, end in comments:
        code += raw[last:start]
        last = end
    source = (code + raw[last:]).decode("utf-8").lower()
    assert "[scriptblock]::create" not in source and "invoke-expression" not in source
    assert "addscript(" not in source


def test_entry_point_takes_the_json_batch(functions: dict[str, list[Node]]) -> None:
    entry = functions.get("Invoke-CutoverBatch", [None])[0]
    assert entry is not None, "Invoke-CutoverBatch is missing"
    assert powershell.locate(entry.start_point[0] + 1)[0] == "dispatch.ps1"
    params = [text(n) for n in walk(entry) if n.type == "script_parameter"]
    assert params and params[0].replace(" ", "").lower() == "[string]$json"
    body = text(entry)
    assert "ConvertTo-Json -InputObject" in body and "-Depth 10" in body and "-Compress" in body
