"""The PowerShell the helper ships runs on Windows PowerShell 5.1 (and its bootstrap on 2.0).

Sage CRM servers run Windows PowerShell 5.1 on .NET Framework (4.0 on an unpatched 2012 R2),
never PowerShell 7, and nothing here can run either. So the syntax tree of what is shipped (the
primitives script as the connection assembles it, and the bootstrap that starts the helper) is
walked with tree-sitter-powershell and held to RULES: each rule is one construct, with the
PowerShell version that introduced it and the Microsoft page that says so. A rule applies to a
script when its version is newer than the oldest PowerShell the script must run on:
- the primitives: Windows PowerShell 5.1 (MIN_POWERSHELL, the version the helper checks);
- the bootstrap: PowerShell 2.0 (Windows Server 2008 R2), because it is what tells the
  operator a host is too old, so it must run there.
.NET rules name APIs that exist only in .NET Core / .NET 5+ (PowerShell 6 and later) and in no
.NET Framework, so they apply to both.

Each rule is shown to catch its construct on a small bad snippet, and a list of valid 5.1
near-misses shows the rules do not fire on what the script legitimately uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from tree_sitter import Node

from engine.connect.remote import powershell
from engine.connect.winrm_framing import BOOTSTRAP_SCRIPT
from engine.connect.winrm_requirements import MIN_POWERSHELL
from tests.support.powershell_tree import (
    cast_type,
    code_outside_strings,
    commands,
    line,
    method_calls,
    parse,
    parse_errors,
    text,
    walk,
)

Version = tuple[int, int]
#: What PowerShell 6 and later run on: APIs of .NET Core that no .NET Framework has.
DOTNET_CORE: Version = (6, 0)
WHATS_NEW_60 = "https://learn.microsoft.com/powershell/scripting/whats-new/what-s-new-in-powershell-core-60"
WHATS_NEW_62 = "https://learn.microsoft.com/powershell/scripting/whats-new/what-s-new-in-powershell-core-62"
WHATS_NEW_70 = "https://learn.microsoft.com/powershell/scripting/whats-new/what-s-new-in-powershell-70"
WHATS_NEW_73 = "https://learn.microsoft.com/powershell/scripting/whats-new/what-s-new-in-powershell-73"
CMDLETS = "https://learn.microsoft.com/powershell/module/microsoft.powershell"


def version(text_: str) -> Version:
    major, minor = text_.split(".")[:2]
    return int(major), int(minor)


# --- finders: each yields the nodes where its construct appears ---------------------------------


def _error_operators(root: Node, operator: str) -> Iterator[tuple[Node, str]]:
    """Leaf ERROR nodes holding `operator`, with the character that follows them.

    The grammar predates PowerShell 7's operators: `??`, `??=`, `?.`, `?[` and the ternary `?`
    come out as a leaf ERROR holding the operator (the `=`, `.` or `[` is the next token).
    """
    source = root.text
    for node in walk(root):
        if node.type == "ERROR" and node.child_count == 0 and text(node).strip() == operator:
            yield node, source[node.end_byte : node.end_byte + 1].decode("utf-8", "replace")


def null_coalescing(root: Node) -> Iterator[Node]:
    yield from (node for node, after in _error_operators(root, "??") if after != "=")


def null_coalescing_assignment(root: Node) -> Iterator[Node]:
    yield from (node for node, after in _error_operators(root, "??") if after == "=")


def null_conditional(root: Node) -> Iterator[Node]:
    yield from (node for node, after in _error_operators(root, "?") if after in (".", "["))


def ternary(root: Node) -> Iterator[Node]:
    yield from (node for node, after in _error_operators(root, "?") if after not in (".", "["))


def pipeline_chain(root: Node) -> Iterator[Node]:
    yield from (node for node in walk(root) if node.type == "pipeline_chain_tail")


def clean_block(root: Node) -> Iterator[Node]:
    """`clean { }`: read as a call of a command named clean, or an ERROR after other blocks."""
    for node in walk(root):
        if node.type == "command_name" and text(node).lower() == "clean":
            yield node
        elif node.type == "ERROR" and any(
            c.type == "simple_name" and text(c).strip().lower() == "clean" for c in node.children
        ):
            yield node


def platform_variables(root: Node) -> Iterator[Node]:
    names = {"$iswindows", "$islinux", "$ismacos"}
    yield from (n for n in walk(root) if n.type == "variable" and text(n).lower() in names)


def class_definition(root: Node) -> Iterator[Node]:
    yield from (node for node in walk(root) if node.type == "class_statement")


def ordered_dictionary(root: Node) -> Iterator[Node]:
    yield from (n for n in walk(root) if n.type == "type_spec" and text(n).lower() == "ordered")


def _named(parameter: str, written: str) -> bool:
    """`-written` binds `parameter`: the full name or a prefix of at least 3 letters."""
    return parameter.startswith(written) and len(written) >= min(3, len(parameter))


def parameter_of(cmdlets: set[str], parameter: str) -> Callable[[Node], Iterator[Node]]:
    """Finder: one of `cmdlets` (lower case, aliases included) called with `parameter`."""

    def find(root: Node) -> Iterator[Node]:
        for command in commands(root):
            if command.name.lower() in cmdlets and any(_named(parameter, p) for p in command.parameters):
                yield command.node

    return find


def cmdlet(names: set[str]) -> Callable[[Node], Iterator[Node]]:
    def find(root: Node) -> Iterator[Node]:
        yield from (c.node for c in commands(root) if c.name.lower() in names)

    return find


def join_path_more_parts(root: Node) -> Iterator[Node]:
    """Join-Path with -AdditionalChildPath, or with a third positional part."""
    for command in commands(root, switches=frozenset({"resolve"})):
        if command.name.lower() != "join-path":
            continue
        named = sum(1 for p in command.parameters if _named("path", p) or _named("childpath", p))
        if any(_named("additionalchildpath", p) for p in command.parameters):
            yield command.node
        elif named + len(command.positional) > 2:
            yield command.node


def char_overload(methods: set[str]) -> Callable[[Node], Iterator[Node]]:
    """`$s.Contains([char]x)` and the like: the String overloads that take a Char."""

    def find(root: Node) -> Iterator[Node]:
        for call in method_calls(root):
            if call.type_name is None and call.method.lower() in methods and call.arguments:
                if cast_type(call.arguments[0]) == "char":
                    yield call.node

    return find


def static_method(type_names: set[str], method: str) -> Callable[[Node], Iterator[Node]]:
    def find(root: Node) -> Iterator[Node]:
        for call in method_calls(root):
            name = (call.type_name or "").lower().removeprefix("system.")
            if name in type_names and call.method.lower() == method:
                yield call.node

    return find


COMPRESSION_ASSEMBLIES = ("system.io.compression", "system.io.compression.filesystem")


def compression_without_assemblies(root: Node) -> Iterator[Node]:
    """Zip types used, but System.IO.Compression(.FileSystem) not loaded with Add-Type -AssemblyName.

    Windows PowerShell 5.1 does not load them (ZipFile lives in System.IO.Compression.FileSystem
    on .NET Framework); `System.IO.Compression.ZipFile` is the .NET Core assembly's name.
    """
    loaded: set[str] = set()
    for command in commands(root):
        if command.name.lower() == "add-type" and any(_named("assemblyname", p) for p in command.parameters):
            for node in walk(command.node):
                if node.type in ("string_literal", "generic_token"):
                    loaded.add(text(node).strip("'\"").lower())
            if "system.io.compression.zipfile" in loaded:
                yield command.node
    uses = [
        n
        for n in walk(root)
        if n.type in ("type_spec", "generic_token")
        and re.search(r"(^|\.)io\.compression\.", text(n).lower())
        and code_outside_strings(n)
        and not any(a.type == "command" and text(a).lower().startswith("add-type") for a in _ancestors(n))
    ]
    if uses and not all(name in loaded for name in COMPRESSION_ASSEMBLIES):
        yield uses[0]


def _ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


# --- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    construct: str
    #: The first PowerShell that has the construct (DOTNET_CORE: only PowerShell on .NET Core).
    since: Version
    #: Microsoft's documentation of that version claim.
    source: str
    find: Callable[[Node], Iterator[Node]]


RULES: tuple[Rule, ...] = (
    Rule("null-coalescing", "the ?? operator", (7, 0), WHATS_NEW_70, null_coalescing),
    Rule("null-coalescing-assignment", "the ??= operator", (7, 0), WHATS_NEW_70, null_coalescing_assignment),
    Rule("null-conditional", "the ?. and ?[] operators", (7, 0), WHATS_NEW_70, null_conditional),
    Rule("ternary", "the ternary operator a ? b : c", (7, 0), WHATS_NEW_70, ternary),
    Rule(
        "pipeline-chain",
        "the && and || pipeline chain operators",
        (7, 0),
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_pipeline_chain_operators",
        pipeline_chain,
    ),
    Rule(
        "foreach-parallel",
        "ForEach-Object -Parallel",
        (7, 0),
        WHATS_NEW_70,
        parameter_of({"foreach-object", "foreach", "%"}, "parallel"),
    ),
    Rule("clean-block", "clean { } blocks in functions", (7, 3), WHATS_NEW_73, clean_block),
    Rule("platform-variables", "$IsWindows, $IsLinux, $IsMacOS", (6, 0), WHATS_NEW_60, platform_variables),
    Rule(
        "json-as-hashtable",
        "ConvertFrom-Json -AsHashtable",
        (6, 0),
        f"{CMDLETS}.utility/convertfrom-json",
        parameter_of({"convertfrom-json"}, "ashashtable"),
    ),
    Rule(
        "json-from-depth",
        "ConvertFrom-Json -Depth",
        (6, 2),
        f"{CMDLETS}.utility/convertfrom-json",
        parameter_of({"convertfrom-json"}, "depth"),
    ),
    Rule(
        "json-escape-handling",
        "ConvertTo-Json -EscapeHandling",
        (6, 2),
        WHATS_NEW_62,
        parameter_of({"convertto-json"}, "escapehandling"),
    ),
    Rule(
        "as-byte-stream",
        "-AsByteStream (Get-Content, Set-Content, Add-Content)",
        (6, 0),
        f"{CMDLETS}.management/get-content",
        parameter_of(
            {"get-content", "gc", "cat", "type", "set-content", "sc", "add-content", "ac"}, "asbytestream"
        ),
    ),
    Rule(
        "join-path-parts",
        "Join-Path with -AdditionalChildPath or 3+ positional parts",
        (6, 0),
        f"{CMDLETS}.management/join-path",
        join_path_more_parts,
    ),
    Rule("test-json", "the Test-Json cmdlet", (6, 1), f"{CMDLETS}.utility/test-json", cmdlet({"test-json"})),
    Rule(
        "skip-certificate-check",
        "-SkipCertificateCheck on the web cmdlets",
        (6, 0),
        f"{CMDLETS}.utility/invoke-webrequest",
        parameter_of({"invoke-webrequest", "iwr", "invoke-restmethod", "irm"}, "skipcertificatecheck"),
    ),
    Rule(
        "skip-http-error-check",
        "-SkipHttpErrorCheck on the web cmdlets",
        (7, 0),
        f"{CMDLETS}.utility/invoke-webrequest",
        parameter_of({"invoke-webrequest", "iwr", "invoke-restmethod", "irm"}, "skiphttperrorcheck"),
    ),
    Rule(
        "classes",
        "class definitions",
        (5, 0),
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_classes",
        class_definition,
    ),
    Rule(
        "ordered",
        "[ordered] dictionaries",
        (3, 0),
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_hash_tables",
        ordered_dictionary,
    ),
    Rule(
        "json-cmdlets",
        "ConvertFrom-Json and ConvertTo-Json",
        (3, 0),
        f"{CMDLETS}.utility/convertfrom-json",
        cmdlet({"convertfrom-json", "convertto-json"}),
    ),
    Rule(
        "string-char-overloads",
        "String.Contains/StartsWith/EndsWith(Char) (.NET Core 2.0/2.1; use IndexOf)",
        DOTNET_CORE,
        "https://learn.microsoft.com/dotnet/api/system.string.contains#system-string-contains(system-char)",
        char_overload({"contains", "startswith", "endswith"}),
    ),
    Rule(
        "get-relative-path",
        "[System.IO.Path]::GetRelativePath (.NET Core 2.0)",
        DOTNET_CORE,
        "https://learn.microsoft.com/dotnet/api/system.io.path.getrelativepath",
        static_method({"io.path"}, "getrelativepath"),
    ),
    Rule(
        "compression-assemblies",
        "zip types without Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem",
        DOTNET_CORE,
        "https://learn.microsoft.com/dotnet/api/system.io.compression.zipfile",
        compression_without_assemblies,
    ),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


def violations(source: str, oldest: Version, describe: Callable[[int], str]) -> list[str]:
    """Every construct of a rule newer than `oldest` in `source`, one line each."""
    root = parse(source)
    found = []
    for rule in RULES:
        if rule.since <= oldest:
            continue
        for node in rule.find(root):
            since = (
                "PowerShell on .NET Core"
                if rule.since == DOTNET_CORE
                else f"PowerShell {rule.since[0]}.{rule.since[1]}"
            )
            found.append(
                f"{describe(line(node))}: {rule.construct} needs {since} ({rule.source}): {text(node)[:80]!r}"
            )
    return found


def in_part(script_line: int) -> str:
    part, part_line = powershell.locate(script_line)
    return f"engine/connect/remote/powershell/{part}:{part_line}"


# --- what is shipped ------------------------------------------------------------------------------


def test_the_assembled_primitives_parse_without_errors() -> None:
    errors = parse_errors(parse(powershell.script()))
    assert [f"{in_part(line(n))}: {text(n)[:60]!r}" for n in errors] == []


def test_the_assembled_primitives_use_nothing_newer_than_the_minimum_powershell() -> None:
    assert violations(powershell.script(), version(MIN_POWERSHELL), in_part) == []


def test_the_bootstrap_parses_and_runs_on_powershell_2() -> None:
    errors = parse_errors(parse(BOOTSTRAP_SCRIPT))
    assert [f"bootstrap:{line(n)}" for n in errors] == []
    assert violations(BOOTSTRAP_SCRIPT, (2, 0), lambda n: f"BOOTSTRAP_SCRIPT:{n}") == []


# --- the rules can fail ------------------------------------------------------------------------------

#: One construct per rule, written as a PowerShell 6/7 (or 3.0/5.0) script would write it.
BAD = {
    "null-coalescing": "function f { $name = $env:USERNAME ?? 'unknown' }",
    "null-coalescing-assignment": "$cache ??= @{}",
    "null-conditional": "$status = ${service}?.Status",
    "ternary": "$label = (Test-Path $p) ? 'found' : 'missing'",
    "pipeline-chain": "Test-Path $p && Write-Output 'exists'",
    "foreach-parallel": "$names | ForEach-Object -Parallel { Get-Service $_ } -ThrottleLimit 5",
    "clean-block": "function f { process { $_ } clean { $stream.Dispose() } }",
    "platform-variables": "if ($IsWindows) { 'windows' }",
    "json-as-hashtable": "$table = $json | ConvertFrom-Json -AsHashtable",
    "json-from-depth": "$calls = ConvertFrom-Json -InputObject $json -Depth 64",
    "json-escape-handling": "ConvertTo-Json $x -EscapeHandling EscapeNonAscii",
    "as-byte-stream": "$bytes = Get-Content -LiteralPath $p -AsByteStream -Raw",
    "join-path-parts": "$path = Join-Path $root 'Program Files' 'Sage'",
    "test-json": "if (Test-Json -Json $text) { 'ok' }",
    "skip-certificate-check": "$params = @{ Uri = $u }\n$params['SkipCertificateCheck'] = $true\nInvoke-WebRequest @params",
    "skip-http-error-check": "Invoke-RestMethod -Uri $u -SkipHttpErrorCheck",
    "classes": "class Device { [string]$Brand }",
    "ordered": "$h = [ordered]@{ a = 1 }",
    "json-cmdlets": "$text = ConvertTo-Json -InputObject $x -Compress",
    "string-char-overloads": "if ($value.Contains([char]0)) { 'NUL' }",
    "get-relative-path": "$rel = [System.IO.Path]::GetRelativePath($root, $full)",
    "compression-assemblies": "Add-Type -AssemblyName System.IO.Compression\n$zip = [IO.Compression.ZipFile]::OpenRead($p)",
}

#: Valid Windows PowerShell 5.1 that looks like the constructs above: no rule may fire.
GOOD = [
    "$x = if ($null -eq $a) { 'unknown' } else { $a }",
    "Get-ChildItem | ? { $_.Length -gt 0 } | % { $_.Name }",
    "$ok = $a -and $b -or (-not $c)",
    "'a ?? b ? c : d && e'",
    "$y = 1  # $x ??= 1 in a comment",
    "$path = Join-Path $root 'Sage'",
    "$path = Join-Path -Path $root -ChildPath 'Sage'",
    "Join-Path $root 'x' -Resolve",
    "ConvertTo-Json -InputObject $x -Depth 10 -Compress",
    "if ($value.Contains('\\')) { $value.IndexOf([char]0) }",
    "$value.StartsWith('/', [StringComparison]::Ordinal)",
    "[IO.Path]::GetFullPath($p); [IO.Path]::GetDirectoryName($p)",
    "Get-Content -LiteralPath $p -Encoding Byte -ReadCount 0",
    "Invoke-WebRequest -Uri $u -UseBasicParsing -MaximumRedirection 5",
    "$items | ForEach-Object -Process { $_ }",
    "function f { begin { } process { $_ } end { } }",
    "$cleaner = 1; Write-Output $IsWin",
    "Add-Type -AssemblyName 'System.IO.Compression', 'System.IO.Compression.FileSystem'\n"
    "$zip = [IO.Compression.ZipFile]::OpenRead($p)",
]


def test_every_rule_has_a_bad_snippet() -> None:
    assert set(BAD) == set(RULES_BY_ID)


@pytest.mark.parametrize("rule_id", sorted(BAD))
def test_each_rule_catches_its_construct(rule_id: str) -> None:
    rule = RULES_BY_ID[rule_id]
    found = list(rule.find(parse(BAD[rule_id])))
    assert found, f"{rule_id} missed {BAD[rule_id]!r}"
    assert violations(BAD[rule_id], (2, 0), str), "a rule newer than 2.0 must be reported for the bootstrap"


@pytest.mark.parametrize("rule_id", sorted(r.id for r in RULES if r.since > version(MIN_POWERSHELL)))
def test_the_check_of_the_primitives_reports_each_newer_rule(rule_id: str) -> None:
    snippet = BAD[rule_id]
    assert any(RULES_BY_ID[rule_id].construct in v for v in violations(snippet, version(MIN_POWERSHELL), str))


def test_rules_older_than_the_minimum_are_allowed_in_the_primitives() -> None:
    allowed = [r.id for r in RULES if r.since <= version(MIN_POWERSHELL)]
    assert allowed == ["classes", "ordered", "json-cmdlets"]
    assert all(violations(BAD[rule_id], version(MIN_POWERSHELL), str) == [] for rule_id in allowed)


@pytest.mark.parametrize("snippet", GOOD)
def test_no_rule_fires_on_valid_windows_powershell(snippet: str) -> None:
    root = parse(snippet)
    assert parse_errors(root) == []
    fired = [rule.id for rule in RULES if rule.since > (5, 0) and list(rule.find(root))]
    assert fired == []
