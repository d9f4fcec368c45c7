"""One set of extraction rules in three extractors (issue #18 item 4).

The POSIX helper and the simulated host run the same Python (`posix_helper.check_members`, the
simulation with `windows=True`), tested by running them (tests/integration/test_extract_all_or_nothing.py,
tests/unit/test_sim_extract.py). Windows PowerShell 5.1 cannot run here, so archives.ps1 is held
to the Python, read from its tree-sitter syntax tree as the project reads its other ps1 code
(tests/support/powershell_tree.py): the same limits and defaults, the same refusal lines, every
check before the first write, writes only into the staging folder beside dest, and the staging
folder removed on any failure. Each member's CRC-32 is checked while it is copied and the copy
stops at the size the member declares, because .NET Framework's ZipArchive does neither: "When
reading/decompressing a ZipArchive, we read this crc32 from the file header but don't ever
validate it" (https://github.com/dotnet/corefx/issues/8610; CRC checks arrive only in .NET 11,
https://github.com/dotnet/docs/issues/52470), and before .NET Core 3.0 "Data is decompressed
until the end of the compressed stream is reached, even if its length exceeds the uncompressed
file size listed in the central directory" (https://github.com/dotnet/docs/issues/13448).
"""

from __future__ import annotations

import inspect
import random
import re
from pathlib import Path

import pytest
from tree_sitter import Node

from engine.connect.remote import posix_helper, powershell
from modules.files import unarchive
from tests.support.powershell_tree import commands, method_calls, script_functions, text


@pytest.fixture(scope="module")
def functions() -> dict[str, Node]:
    return script_functions()


def ps_number(name: str) -> int:
    match = re.search(rf"^\${name} = \[long\](\d+)", powershell.script(), re.M)
    assert match, name
    return int(match.group(1))


def test_the_three_extractors_and_the_module_share_one_set_of_limits() -> None:
    script = powershell.script()
    line = re.search(r"^\$CutoverExtractLimits = \[ordered\]@\{(.*)\}$", script, re.M)
    assert line, "archives.ps1 declares $CutoverExtractLimits"
    ps1 = {k: int(v) for k, v in re.findall(r"(\w+) = \[long\](\d+)", line.group(1))}
    assert ps1 == posix_helper.EXTRACT_LIMITS
    assert {k: v for k, (v, _text) in unarchive.EXTRACT_LIMITS.items()} == posix_helper.EXTRACT_LIMITS
    assert unarchive.NO_LIMITS == dict.fromkeys(posix_helper.EXTRACT_LIMITS, 0)
    assert ps_number("CutoverRatioFloor") == posix_helper.RATIO_FLOOR
    assert ps_number("CutoverRecordBytes") == posix_helper.RECORD
    schema = unarchive.Unarchive.schema["properties"]
    assert all(schema[name]["default"] == value for name, value in posix_helper.EXTRACT_LIMITS.items())


def _python_rules() -> set[str]:
    """The fixed part of every refusal the Python rules give (the text before the first value)."""
    source = "".join(
        inspect.getsource(fn)
        for fn in (posix_helper.check_members, posix_helper._unsafe, posix_helper._write_member)
    )
    rules = set()
    for literal in re.findall(r'_refuse\(\s*[^,]+,\s*f?"([^"]+)"', source):
        fixed = re.split(r"\{", literal)[0].strip()
        if fixed:
            rules.add(fixed)
    rules |= set(re.findall(r'return f?"([a-z\' ]+)', inspect.getsource(posix_helper._unsafe)))
    return {r.strip() for r in rules if len(r.strip()) > 3}


def test_every_refusal_of_the_python_rules_is_worded_the_same_in_powershell() -> None:
    rules = _python_rules()
    assert {"duplicate member name (an earlier member has", "link chain out of the destination ("} <= rules
    assert "its folder resolves through a link out of" in rules and "corrupt member (" in rules
    script = powershell.script()
    missing = sorted(
        r for r in rules if r not in script and not r.startswith(("hard link", "link to absolute"))
    )
    assert missing == [], f"archives.ps1 does not give these refusals: {missing}"
    assert "archive refused, nothing written: $Member`: $Rule" in script
    for words in (
        "members, over max_members",
        "over max_ratio",
        "over max_total_ratio",
        "total uncompressed size over max_size",
    ):
        assert words in script and words in inspect.getsource(posix_helper.check_members)


def _order(body: str, *names: str) -> list[int]:
    return [body.index(name) for name in names]


def test_every_check_comes_before_the_first_write(functions: dict[str, Node]) -> None:
    body = text(functions["Invoke-CutoverArchiveExtract"])
    steps = _order(
        body,
        "Get-CutoverExtractPlan",  # names, links, duplicates, limits
        "Assert-CutoverPathLength",  # MAX_PATH, staged and final paths
        "Assert-CutoverExtractSpace",  # free space against the declared size
        "New-CutoverDirectory",  # the first write: dest's parents, then the staging folder
        "Write-CutoverStagedMember",
        "Move-CutoverStagedTree",
    )
    assert steps == sorted(steps)
    plan = text(functions["Get-CutoverExtractPlan"])
    assert "OrdinalIgnoreCase" in plan, "names equal but for case are one name on NTFS"
    assert plan.index("Resolve-CutoverTreePath $tree $parentParts") < plan.index("$tree[$key] =")
    assert plan.count("Resolve-CutoverTreePath") == 3, "folder, link, and every link again at the end"


def test_members_are_written_only_into_the_staging_folder(functions: dict[str, Node]) -> None:
    body = functions["Invoke-CutoverArchiveExtract"]
    written = [c for c in commands(body) if c.name == "Write-CutoverStagedMember"]
    assert len(written) == 1 and "$staging" in text(written[0].positional[1])
    assert "Get-CutoverTempPath $dest" in text(body), "beside dest: the same volume, a short random name"
    extract_methods = {
        m.method
        for name in functions
        if "Extract" in name or "Staged" in name
        for m in method_calls(functions[name])
    }
    assert "ExtractToFile" not in extract_methods and "ExtractToDirectory" not in extract_methods


def test_each_member_crc_is_checked_as_it_is_copied(functions: dict[str, Node]) -> None:
    member = text(functions["Write-CutoverStagedMember"])
    assert "[CutoverNative]::CopyCrc32($source, $target, [long]$entry.Length)" in member
    assert (
        member.index("CopyCrc32")
        < member.index("Get-CutoverEntryCrc")
        < member.index("'corrupt member (CRC mismatch)'")
    )
    assert "public static uint CopyCrc32(Stream source, Stream target, long declared)" in powershell.script()
    assert "[IO.FileMode]::CreateNew" in member


def test_any_failure_removes_the_staging_folder_and_puts_files_back(functions: dict[str, Node]) -> None:
    body = text(functions["Invoke-CutoverArchiveExtract"])
    catch = body[body.index("catch {", body.index("Write-CutoverStagedMember")) :]
    assert catch.index("[IO.Directory]::Delete($staging, $true)") < catch.index("throw")
    move = text(functions["Move-CutoverStagedTree"])
    assert "[IO.Directory]::Move($Staging, $Dest)" in move, "a missing dest is the staging folder renamed"
    undo = move[move.index("catch {") :]
    assert undo.index("[IO.File]::Move($moved[$i][1], $moved[$i][0])") < undo.index("throw")


def test_limits_are_read_as_arguments_and_checked(functions: dict[str, Node]) -> None:
    body = text(functions["Invoke-CutoverArchiveExtract"])
    for name in posix_helper.EXTRACT_LIMITS:
        assert f"{name} = $a.{name}" in body
    assert "Get-CutoverCount $given[$name] $name" in body


class _Listed:
    """An archive as the rules see it: members declared in its directory, and its file (sparse)."""

    def __init__(self, path: Path, members: list[posix_helper._Member], packed_total: int) -> None:
        with open(path, "wb") as fh:
            fh.truncate(packed_total)  # a sparse file: its size is what the ratio is judged against
        self.path = str(path)
        self.members = members


def _file(name: str, size: int, packed: int) -> posix_helper._Member:
    member = posix_helper._Member(name, "file", size, None, 0o644, 0.0, None)
    member.packed = packed
    return member


def test_the_defaults_pass_a_full_size_1crm_package(tmp_path: Path) -> None:
    """45,000 files, 380 MB: PHP and JS deflating 4:1, images not at all, one 8 MB language pack
    of repeated lines at 40:1 (what a real update package declares in its zip directory)."""
    rng = random.Random(3)
    members, packed = [], 0
    for n in range(45_000):
        size = rng.randint(200, 16_000)
        squeezed = size if n % 20 == 0 else size // 4
        members.append(_file(f"1crm/modules/M{n % 700}/f{n}.php", size, squeezed))
        packed += squeezed
    members.append(_file("1crm/include/language/fr_fr.lang.php", 8 << 20, (8 << 20) // 40))
    packed += (8 << 20) // 40
    listed = _Listed(tmp_path / "1crm.zip", members, packed)
    _tree, plan, total = posix_helper.check_members(
        listed, str(tmp_path / "crm"), 1, dict(posix_helper.EXTRACT_LIMITS)
    )
    assert len(plan) == 45_001 and 300 << 20 < total < 400 << 20


@pytest.mark.parametrize(
    ("size", "packed", "rule"),
    [
        (1 << 30, 1 << 20, "over max_ratio 200"),  # a 1 GB file of zeros in 1 MB
        (
            4_294_967_295,
            4 << 20,
            "over max_ratio 200",
        ),  # a 4.3 GB member in about 4 MB, as in 42.zip's last layer
    ],
)
def test_the_defaults_refuse_a_zip_bomb(tmp_path: Path, size: int, packed: int, rule: str) -> None:
    listed = _Listed(tmp_path / "bomb.zip", [_file("0.dll", size, packed)], packed + 200)
    with pytest.raises(posix_helper.Fail) as refused:
        posix_helper.check_members(listed, str(tmp_path / "d"), 0, dict(posix_helper.EXTRACT_LIMITS))
    assert refused.value.kind == "unsafe" and rule in str(refused.value) and "0.dll:" in str(refused.value)
