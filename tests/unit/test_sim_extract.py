"""archive.extract of the simulated Windows host: all or nothing (issue #18 item 4), and MAX_PATH
(issue #15 item 4) as Windows PowerShell 5.1 on .NET Framework meets it.

MAX_PATH: "In the Windows API ... the maximum length for a path is MAX_PATH, which is defined as 260
characters", terminating NUL included, unless the path has the `\\\\?\\` prefix or long paths are
enabled (https://learn.microsoft.com/en-us/windows/win32/fileio/maximum-file-path-limitation); an
app that is not long-path aware (powershell.exe 5.1) gets System.IO.PathTooLongException, HRESULT
COR_E_PATHTOOLONG 0x800700CE (https://learn.microsoft.com/dotnet/api/system.io.pathtoolongexception).
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from simulation.host import SimHost
from simulation.paths import parse_path
from tests.support import hostile_archives as ha

GIB = 1 << 30
#: a Sage CRM install folder: with the folder the staging name adds, members of ~150 characters reach 260
CRM = "C:\\Program Files (x86)\\Sage\\CRM\\CRM"


def call(host: SimHost, op: str, /, **args: object) -> dict:
    return host.call([{"op": op, "args": args}])[0]


def ok(host: SimHost, op: str, /, **args: object) -> dict:
    answer = call(host, op, **args)
    assert answer["ok"], answer
    return answer["value"]


def refused(host: SimHost, kind: str, /, **args: object) -> str:
    answer = call(host, "archive.extract", **args)
    assert answer["ok"] is False and answer["kind"] == kind, answer
    assert "\n" not in answer["error"]
    return answer["error"]


def host_with(tmp_path: Path, free: int = 60 * GIB, **windows: object) -> SimHost:
    initial: dict = {"disks": {"C": {"total": 100 * GIB, "free": free}}}
    if windows:
        initial["windows"] = windows
    host = SimHost.open(tmp_path, "web1", initial)
    ok(host, "file.mkdir", path=CRM + "\\Scripts")
    ok(host, "file.write", path=CRM + "\\eware.dll", content_b64=base64.b64encode(b"7.3 sp1").decode())
    ok(host, "file.write", path="C:\\Program Files (x86)\\Sage\\CRM\\beside.txt", content_b64="eA==")
    return host


def put_zip(host: SimHost, name: str, entries: list[ha.Entry]) -> str:
    """Build the zip straight into the host's C: drive (the archive is the input, not what is tested)."""
    path = f"C:\\Temp\\{name}"
    real = host.fs.locate(parse_path(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    ha.write_zip(real, entries)
    return path


def drive(host: SimHost) -> dict:
    """The whole C: drive byte for byte (file times included), the archives left out."""
    return {k: v for k, v in ha.snapshot(host.fs.root).items() if not k.startswith("C/Temp")}


ZIP_CASES = {name: (case[0], case[2], case[3]) for name, case in ha.HOSTILE.items() if "zip" in case[1]}
ZIP_CASES.update(ha.WINDOWS_HOSTILE)


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_hostile_zip_is_refused_and_the_drive_is_unchanged(tmp_path: Path, case: str) -> None:
    entries, kind, words = ZIP_CASES[case]
    host = host_with(tmp_path)
    src = put_zip(host, "evil.zip", entries)
    before = drive(host)
    error = refused(host, kind, src=src, dest=CRM, overwrite=True)
    assert "archive refused, nothing written" in error and all(w in error for w in words), error
    assert drive(host) == before


def test_corrupt_member_writes_nothing(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    damaged = b"a member whose CRC will not match " * 30
    src = "C:\\Temp\\bad.zip"
    real = host.fs.locate(parse_path(src))
    real.parent.mkdir(parents=True)
    ha.write_zip(real, [ha.file("eware.dll", b"7.3 sp2"), ha.file("WWWRoot/bad.js", damaged)], method=0)
    ha.corrupt_member(real, damaged)
    before = drive(host)
    error = refused(host, "invalid", src=src, dest=CRM, overwrite=True)
    assert "WWWRoot/bad.js: corrupt member" in error, error
    assert drive(host) == before


def test_truncated_zip_writes_nothing(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    src = put_zip(host, "cut.zip", [ha.file("eware.dll", b"new"), ha.file("x.txt", b"x" * 4000)])
    ha.truncate(host.fs.locate(parse_path(src)), 200)
    before = drive(host)
    assert "not a readable zip archive" in refused(host, "invalid", src=src, dest=CRM, overwrite=True)
    assert drive(host) == before


def test_zip_bombs_are_refused_by_member_and_by_total_ratio(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    bomb = "C:\\Temp\\bomb.zip"
    real = host.fs.locate(parse_path(bomb))
    real.parent.mkdir(parents=True)
    ha.zero_bomb(real, 128 << 20)  # 1000:1, as 42.zip's layers and a 1 GB zero file in 1 MB
    spread = put_zip(host, "spread.zip", [ha.file(f"z{n}.bin", bytes(512 << 10)) for n in range(40)])
    before = drive(host)
    assert "zeros.bin: compression ratio" in refused(host, "unsafe", src=bomb, dest=CRM)
    assert "over max_total_ratio 100" in refused(host, "unsafe", src=spread, dest=CRM)
    assert drive(host) == before


def test_limits_are_arguments(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    src = put_zip(host, "many.zip", [ha.file(f"f{n}.txt", b"x" * 100) for n in range(11)])
    assert "11 members, over max_members 10" in refused(host, "unsafe", src=src, dest=CRM, max_members=10)
    assert "f10.txt: total uncompressed size over max_size 1000" in refused(
        host, "unsafe", src=src, dest=CRM, max_size=1000
    )
    assert "must be >= 0" in refused(host, "invalid", src=src, dest=CRM, max_ratio=-1)
    assert ok(host, "archive.extract", src=src, dest=CRM, max_members=11)["files"] == 11


def test_free_space_is_checked_first_with_both_numbers(tmp_path: Path) -> None:
    host = host_with(tmp_path, free=2 << 20)  # 2 MiB free on C:, less than the package holds
    entries = ha.package_entries(1200)
    src = put_zip(host, "update.zip", entries)
    total = sum(len(e.data) for e in entries if e.kind == "file")
    free = ok(host, "disk.free", path="C:\\")["free"]
    before = drive(host)
    error = refused(host, "no_space", src=src, dest=CRM, overwrite=True)
    assert f"({total} uncompressed" in error and f"which has {free} bytes free" in error, error
    assert drive(host) == before


def test_a_1crm_shaped_package_passes_and_leaves_no_staging_folder(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    entries = ha.package_entries(4000)
    src = put_zip(host, "update.zip", entries)
    dest = "C:\\inetpub\\1crm"
    out = ok(host, "archive.extract", src=src, dest=dest, strip=1)
    files = [e for e in entries if e.kind == "file"]
    assert out == {"changed": True, "files": len(files)}
    for e in files[::397]:
        got = ok(host, "file.read", path=dest + "\\" + e.name.split("/", 1)[1].replace("/", "\\"))
        assert base64.b64decode(got["content_b64"]) == e.data
    assert [x["path"] for x in ok(host, "file.list", path="C:\\inetpub")["entries"]] == ["1crm"]
    assert ok(host, "archive.extract", src=src, dest=dest, strip=1) == {"changed": False, "files": 0}


def test_extract_over_an_install_replaces_what_differs(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    src = put_zip(host, "patch.zip", [ha.file("eware.dll", b"7.3 sp2"), ha.file("Scripts/new.js", b"js")])
    assert ok(host, "archive.extract", src=src, dest=CRM, overwrite=True) == {"changed": True, "files": 2}
    assert base64.b64decode(ok(host, "file.read", path=CRM + "\\EWARE.DLL")["content_b64"]) == b"7.3 sp2"
    siblings = sorted(
        x["path"] for x in ok(host, "file.list", path="C:\\Program Files (x86)\\Sage\\CRM")["entries"]
    )
    assert siblings == ["CRM", "beside.txt"]


# --- MAX_PATH -------------------------------------------------------------------------------------
def _long_member() -> str:
    """A member whose path under CRM is 270 characters: what a deep WWWRoot theme folder reaches."""
    name = "WWWRoot/Themes/" + "/".join(["Kendo-UI-Material-Design-Theme-Folder"] * 6) + "/icon.png"
    assert len(CRM) + 1 + len(name) > 260
    return name


def test_a_path_over_max_path_fails_naming_the_path_before_anything_is_written(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    src = put_zip(host, "deep.zip", [ha.file("eware.dll", b"new"), ha.file(_long_member(), b"png")])
    before = drive(host)
    error = refused(host, "invalid", src=src, dest=CRM, overwrite=True)
    assert "icon.png is " in error and "over the 259 characters Windows PowerShell 5.1 can open" in error
    assert "PathTooLongException" in error and "Kendo-UI" in error
    assert drive(host) == before


def test_the_extended_length_prefix_opens_long_paths(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    src = put_zip(host, "deep.zip", [ha.file(_long_member(), b"png")])
    assert ok(host, "archive.extract", src=src, dest="\\\\?\\" + CRM)["files"] == 1
    long_path = CRM + "\\" + _long_member().replace("/", "\\")
    assert ok(host, "file.stat", path="\\\\?\\" + long_path)["exists"] is True
    assert call(host, "file.stat", path=long_path)["kind"] == "invalid"


def test_a_host_with_long_paths_enabled_opens_them_without_the_prefix(tmp_path: Path) -> None:
    host = host_with(tmp_path, long_paths=True)
    src = put_zip(host, "deep.zip", [ha.file(_long_member(), b"png")])
    assert ok(host, "archive.extract", src=src, dest=CRM)["files"] == 1
    assert ok(host, "file.stat", path=CRM + "\\" + _long_member().replace("/", "\\"))["exists"] is True


def test_every_primitive_on_a_long_path_fails_as_net_framework_does(tmp_path: Path) -> None:
    host = host_with(tmp_path)
    path = "C:\\Data\\" + "x" * 251  # 259 characters: the longest that opens
    assert len(path) == 259
    ok(host, "file.mkdir", path="C:\\Data")
    assert ok(host, "file.write", path=path, content_b64="eQ==")["changed"] is True
    answer = call(host, "file.write", path=path + "z", content_b64="eQ==")
    assert answer["kind"] == "invalid" and "is 260 characters long" in answer["error"]
    assert "The specified path, file name, or both are too long." in answer["error"]
    assert "long_paths" not in ok(host, "host.facts")


def test_a_failure_while_moving_in_puts_every_file_back(tmp_path: Path) -> None:
    """eware.dll is moved in first; Scripts\\locked.js cannot be replaced (chattr +i on the file that
    holds it, so even root cannot rename it, as a file in use on Windows): eware.dll goes back."""
    host = host_with(tmp_path)
    ok(host, "file.write", path=CRM + "\\Scripts\\locked.js", content_b64=base64.b64encode(b"old").decode())
    locked = host.fs.locate(parse_path(CRM + "\\Scripts\\locked.js"))
    src = put_zip(
        host,
        "patch.zip",
        [ha.file("eware.dll", b"7.3 sp2"), ha.file("New/one.js", b"1"), ha.file("Scripts/locked.js", b"new")],
    )
    done = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr.strip()}")
    try:
        before = drive(host)
        answer = call(host, "archive.extract", src=src, dest=CRM, overwrite=True)
        assert answer["ok"] is False and answer["kind"] == "denied", answer
        assert drive(host) == before
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=False)
