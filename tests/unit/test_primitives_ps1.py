"""engine/connect/remote/primitives.ps1 parses and keeps to the primitive contract of spec.py.

No Windows here: the script is parsed with tree-sitter's PowerShell grammar (test dependencies
`tree-sitter` and `tree-sitter-powershell` from PyPI) and checked structurally: its dispatch
table names exactly the windows primitives, each handler reads only the arguments the spec
declares and every required one, helper names resolve, and nothing evaluates text as code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from engine.connect.remote.spec import PRIMITIVES

SCRIPT = Path(__file__).resolve().parents[2] / "engine" / "connect" / "remote" / "primitives.ps1"
WINDOWS = {name: spec for name, spec in PRIMITIVES.items() if "windows" in spec.platforms}

#: Lines (1-based) where the grammar reports an error on valid Windows PowerShell 5.1, each with why.
#: Empty today: constructs the grammar misreads (one-line `switch` with `default`) were rewritten.
KNOWN_PARSE_FALSE_POSITIVES: dict[int, str] = {}

#: Cmdlets the script may call: all ship with Windows PowerShell 5.1. A new one is added here on
#: purpose, so a misspelt cmdlet name fails this test instead of a run on a customer's server.
CMDLETS = {
    "Add-Type", "ConvertFrom-Json", "ConvertTo-Json", "Copy-Item", "ForEach-Object", "Get-Acl",
    "Get-ChildItem", "Get-CimInstance", "Get-Command", "Get-FileHash", "Get-Item", "Get-Service",
    "Invoke-WebRequest", "Join-Path", "Move-Item", "New-CimInstance", "New-Object", "Remove-Item",
    "Select-Object", "Set-Acl", "Set-Service", "Start-Process", "Start-Service", "Stop-Service",
    "Test-Path", "Where-Object",
}  # fmt: skip
FORBIDDEN = {"invoke-expression", "iex", "invoke-command", "icm"}


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node) -> str:
    return node.text.decode("utf-8")


@pytest.fixture(scope="module")
def tree() -> Node:
    parser = Parser(Language(tree_sitter_powershell.language()))
    return parser.parse(SCRIPT.read_bytes()).root_node


@pytest.fixture(scope="module")
def table(tree: Node) -> dict[str, Node]:
    """The handlers of `$CutoverPrimitives = @{ 'name' = { param($a) ... } }`, by name."""
    for node in walk(tree):
        if node.type != "assignment_expression" or text(node.children[0]).strip() != "$CutoverPrimitives":
            continue
        literal = next(n for n in walk(node) if n.type == "hash_literal_expression")
        body = next(c for c in literal.children if c.type == "hash_literal_body")
        handlers = {}
        for entry in (c for c in body.children if c.type == "hash_entry"):
            key = next(c for c in entry.children if c.type == "key_expression")
            handlers[text(key).strip().strip("'\"")] = next(
                n for n in walk(entry) if n.type == "script_block_expression"
            )
        return handlers
    raise AssertionError("no `$CutoverPrimitives = @{...}` dispatch table in primitives.ps1")


def test_script_parses_without_errors(tree: Node) -> None:
    lines = SCRIPT.read_text(encoding="utf-8").splitlines()
    problems = sorted(
        {n.start_point[0] + 1 for n in walk(tree) if n.type == "ERROR" or n.is_missing}
        - set(KNOWN_PARSE_FALSE_POSITIVES)
    )
    assert problems == [], "\n".join(f"primitives.ps1:{n}: {lines[n - 1].strip()}" for n in problems)


def test_dispatch_table_names_exactly_the_windows_primitives(table: dict[str, Node]) -> None:
    assert set(table) == set(WINDOWS)


def _argument_reads(block: Node) -> tuple[list[str], list[str]]:
    """($a.<name> reads, other uses of $a such as $a['x'] or $a passed on whole) in a handler."""
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
def test_each_handler_reads_only_declared_arguments_and_every_required_one(
    table: dict[str, Node], name: str
) -> None:
    block = table[name]
    params = [text(n) for n in walk(block) if n.type == "script_parameter"]
    assert params[:1] == ["$a"], f"{name}: the handler must start with param($a)"
    names, other = _argument_reads(block)
    spec = WINDOWS[name]
    assert other == [], f"{name}: reads arguments other than as $a.<name>: {other}"
    assert set(names) <= spec.arguments, f"{name}: reads undeclared {sorted(set(names) - spec.arguments)}"
    assert set(spec.required) <= set(names), f"{name}: never reads {sorted(set(spec.required) - set(names))}"


def test_arguments_are_read_only_inside_the_dispatch_table(tree: Node, table: dict[str, Node]) -> None:
    inside = {(n.start_byte, n.end_byte) for block in table.values() for n in walk(block)}
    outside = [
        n.start_point[0] + 1
        for n in walk(tree)
        if n.type == "variable" and text(n).lower() == "$a" and (n.start_byte, n.end_byte) not in inside
    ]
    assert outside == [], f"$a used outside the handlers at lines {outside}: helpers must get values, not $a"


def test_every_command_resolves_and_nothing_runs_text_as_code(tree: Node) -> None:
    defined = {text(n) for n in walk(tree) if n.type == "function_name"}
    called = {text(n) for n in walk(tree) if n.type == "command_name"}
    own = {c for c in called if "-Cutover" in c}
    assert own <= defined, f"calls to undefined helpers: {sorted(own - defined)}"
    assert called - own <= CMDLETS, f"cmdlets not on the 5.1 list: {sorted(called - own - CMDLETS)}"
    assert not {c.lower() for c in called} & FORBIDDEN
    raw = SCRIPT.read_bytes()
    comments = sorted((n.start_byte, n.end_byte) for n in walk(tree) if n.type == "comment")
    code, last = bytearray(), 0
    for start, end in comments:
        code += raw[last:start]
        last = end
    source = (code + raw[last:]).decode("utf-8").lower()
    assert "[scriptblock]::create" not in source and "invoke-expression" not in source
    assert "addscript(" not in source


def test_entry_point_takes_the_json_batch(tree: Node) -> None:
    functions = {
        text(n.child_by_field_name("name") or n.children[1]): n
        for n in walk(tree)
        if n.type == "function_statement"
    }
    entry = functions.get("Invoke-CutoverBatch")
    assert entry is not None, "Invoke-CutoverBatch is missing"
    params = [text(n) for n in walk(entry) if n.type == "script_parameter"]
    assert params and params[0].replace(" ", "").lower() == "[string]$json"
    body = text(entry)
    assert "ConvertTo-Json -InputObject" in body and "-Depth 10" in body and "-Compress" in body
