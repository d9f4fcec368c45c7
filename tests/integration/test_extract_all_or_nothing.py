"""archive.extract of the POSIX helper: all or nothing (issue #18 item 4), locally and over real sshd.

Hostile archives are built in each test (tests/support/hostile_archives.py). For every refusal
the folder that holds dest is compared byte for byte before and after: dest untouched, no
staging folder left beside it, nothing written outside. A realistic 1CRM-shaped package passes
the default limits.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect.local import LocalConnection
from engine.connect.remote.posix_helper import EXTRACT_LIMITS
from engine.connect.ssh import SSHConnection
from engine.core.model import Host
from tests.support import hostile_archives as ha
from tests.support import sshd as sshd_support
from tests.support.sshd import SSHD

sshd_server = sshd_support.sshd_server  # the session fixture, registered in this module

NO_LIMITS = {name: 0 for name in EXTRACT_LIMITS}


@pytest.fixture(scope="module")
def local_conn() -> Iterator[LocalConnection]:
    connection = LocalConnection(Host(name="local", address="localhost", connection="local"))
    connection.open()
    yield connection
    connection.close()


@pytest.fixture(params=["local", "ssh"])
def remote(request: pytest.FixtureRequest, local_conn: LocalConnection) -> Iterator[Remote]:
    """The helper as a local child process, then the same helper over a real sshd."""
    if request.param == "local":
        yield Remote(local_conn)
        return
    server: SSHD = request.getfixturevalue("sshd_server")
    with SSHConnection(server.ssh_host("h3")) as conn:
        yield Remote(conn)


@pytest.fixture
def local(local_conn: LocalConnection) -> Remote:
    return Remote(local_conn)


def refused(remote: Remote, **args: Any) -> PrimitiveFailed:
    with pytest.raises(PrimitiveFailed) as info:
        remote.call("archive.extract", **args)
    return info.value


def work_with_dest(tmp_path: Path) -> tuple[Path, Path]:
    """`work/` holding an existing `dest/` with content, and a sibling file: what must not change."""
    work = tmp_path / "work"
    dest = work / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / "a.txt").write_text("the estate's own a.txt\n")
    (dest / "sub" / "keep.txt").write_text("kept\n")
    (work / "sibling.txt").write_text("beside dest\n")
    return work, dest


@pytest.mark.parametrize(
    ("case", "fmt"), [(case, fmt) for case in sorted(ha.HOSTILE) for fmt in ha.HOSTILE[case][1]]
)
def test_hostile_member_is_refused_and_nothing_changes(
    remote: Remote, tmp_path: Path, case: str, fmt: str
) -> None:
    entries, _formats, kind, words = ha.HOSTILE[case]
    work, dest = work_with_dest(tmp_path)
    archive = ha.write(tmp_path / f"evil.{fmt}", entries)
    before = ha.snapshot(tmp_path)
    failure = refused(remote, src=str(archive), dest=str(dest), overwrite=True)
    assert failure.kind == kind, failure
    message = str(failure)
    assert "\n" not in message and "archive refused, nothing written" in message
    assert all(word in message for word in words), message
    assert ha.snapshot(tmp_path) == before


def test_corrupt_zip_member_writes_nothing(remote: Remote, tmp_path: Path) -> None:
    work, dest = work_with_dest(tmp_path)
    damaged = b"the-member-whose-crc-breaks-" * 40
    archive = ha.write_zip(
        tmp_path / "bad.zip",
        [ha.file("first.txt", b"fine " * 300), ha.file("a.txt", b"new a"), ha.file("z/bad.bin", damaged)],
        method=0,  # stored: the flipped byte reaches the CRC check, not the inflater
    )
    ha.corrupt_member(archive, damaged)
    before = ha.snapshot(tmp_path)
    failure = refused(remote, src=str(archive), dest=str(dest), overwrite=True)
    assert failure.kind == "invalid" and "z/bad.bin: corrupt member" in str(failure), failure
    assert ha.snapshot(tmp_path) == before


def test_truncated_tar_gz_writes_nothing(remote: Remote, tmp_path: Path) -> None:
    work, dest = work_with_dest(tmp_path)
    archive = ha.write_tar(
        tmp_path / "cut.tar.gz", [ha.file("first.txt"), ha.file("second.txt", b"2" * 5000)]
    )
    ha.truncate(archive, -6)  # the gzip trailer (CRC and length) cut: every tar header is still readable
    before = ha.snapshot(tmp_path)
    failure = refused(remote, src=str(archive), dest=str(dest))
    assert failure.kind == "invalid" and "cut.tar.gz is not a valid tar.gz" in str(failure), failure
    assert ha.snapshot(tmp_path) == before


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_zip_bomb_is_refused_by_ratio(local: Remote, tmp_path: Path, fmt: str) -> None:
    """128 MiB of zeros deflate to ~128 KiB (1000:1, the ratio of 42.zip's layers and of a 1 GB
    zero file in 1 MB); a zip is judged member by member, a tar.gz by the whole stream."""
    work, dest = work_with_dest(tmp_path)
    build = ha.zero_bomb if fmt == "zip" else ha.tar_zero_bomb
    archive = build(tmp_path / f"bomb.{fmt}", 128 << 20)
    before = ha.snapshot(tmp_path)
    failure = refused(local, src=str(archive), dest=str(dest))
    rule = "over max_ratio 200" if fmt == "zip" else "over max_total_ratio 100"
    assert failure.kind == "unsafe" and rule in str(failure), failure
    assert ("zeros.bin:" if fmt == "zip" else "bomb.tar.gz:") in str(failure)
    assert ha.snapshot(tmp_path) == before


def test_many_small_zero_members_are_refused_by_the_overall_ratio(local: Remote, tmp_path: Path) -> None:
    work, dest = work_with_dest(tmp_path)
    archive = ha.write_zip(
        tmp_path / "spread.zip", [ha.file(f"z{n}.bin", bytes(512 << 10)) for n in range(40)]
    )
    failure = refused(local, src=str(archive), dest=str(dest))
    assert failure.kind == "unsafe" and "over max_total_ratio 100" in str(failure), failure
    assert not (dest / "z0.bin").exists()


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_member_count_and_total_size_limits_are_arguments(local: Remote, tmp_path: Path, fmt: str) -> None:
    work, dest = work_with_dest(tmp_path)
    archive = ha.write(tmp_path / f"many.{fmt}", [ha.file(f"f{n}.txt", b"x" * 100) for n in range(11)])
    before = ha.snapshot(tmp_path)
    many = refused(local, src=str(archive), dest=str(dest), max_members=10)
    assert many.kind == "unsafe" and "11 members, over max_members 10" in str(many), many
    big = refused(local, src=str(archive), dest=str(dest), max_size=1000)
    assert big.kind == "unsafe" and "f10.txt: total uncompressed size over max_size 1000" in str(big), big
    assert ha.snapshot(tmp_path) == before
    assert local.call("archive.extract", src=str(archive), dest=str(dest), max_members=11)["files"] == 11


def test_free_space_is_checked_first_with_both_numbers(local: Remote, tmp_path: Path) -> None:
    """A member declaring 1 PiB (it holds one byte): refused by max_size by default, and with the
    limits off by the free space of dest's volume, before a byte is read."""
    work, dest = work_with_dest(tmp_path)
    archive = ha.declared_huge(tmp_path / "huge.zip", 1 << 50)
    before = ha.snapshot(tmp_path)
    default = refused(local, src=str(archive), dest=str(dest))
    assert default.kind == "unsafe" and "huge.bin: total uncompressed size over max_size" in str(default)
    space = refused(local, src=str(archive), dest=str(dest), **NO_LIMITS)
    free = shutil.disk_usage(work).free
    text = str(space)
    assert space.kind == "no_space", space
    needed = int(text.split(" needs ")[1].split(" bytes")[0])
    reported_free = int(text.split("which has ")[1].split(" bytes free")[0])
    assert needed > 1 << 50 and abs(reported_free - free) < 1 << 30 and str(1 << 50) in text
    assert ha.snapshot(tmp_path) == before


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_a_1crm_shaped_package_passes_the_default_limits(remote: Remote, tmp_path: Path, fmt: str) -> None:
    entries = ha.package_entries(12_000)
    archive = ha.write(tmp_path / f"1crm-8.6.9.{fmt}", entries)
    dest = tmp_path / "www" / "crm"
    out = remote.call("archive.extract", src=str(archive), dest=str(dest), strip=1)
    files = [e for e in entries if e.kind == "file"]
    assert out == {"changed": True, "files": len(files)}
    for e in files[::997]:
        assert (dest / e.name.split("/", 1)[1]).read_bytes() == e.data
    assert sorted(p.name for p in (tmp_path / "www").iterdir()) == ["crm"], "no staging folder is left"
    assert remote.call("archive.extract", src=str(archive), dest=str(dest), strip=1) == {
        "changed": False,
        "files": 0,
    }


def test_links_inside_dest_and_hard_links_to_earlier_members_extract(local: Remote, tmp_path: Path) -> None:
    archive = ha.write_tar(
        tmp_path / "ok.tar.gz",
        [ha.folder("real"), ha.link("ln", "real"), ha.file("ln/through.txt", b"via the link"),
         ha.file("data.bin", b"d" * 50), ha.hardlink("again.bin", "data.bin")],
    )  # fmt: skip
    dest = tmp_path / "dest"
    assert local.call("archive.extract", src=str(archive), dest=str(dest))["files"] == 4
    assert (dest / "real" / "through.txt").read_bytes() == b"via the link" and (dest / "ln").is_symlink()
    assert (dest / "again.bin").stat().st_ino == (dest / "data.bin").stat().st_ino


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """chattr +i on a file (even root cannot rename it), undone at the end."""
    made: list[Path] = []

    def mark(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {done.stderr.strip()}")
        made.append(path)

    yield mark
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_failure_while_moving_in_puts_every_file_back(
    local: Remote, tmp_path: Path, immutable: Callable[[Path], None]
) -> None:
    """a.txt is moved in first, then sub/keep.txt cannot be replaced: a.txt goes back, dest is as it was."""
    work, dest = work_with_dest(tmp_path)
    archive = ha.write_tar(
        tmp_path / "update.tar.gz",
        [ha.file("a.txt", b"new a"), ha.file("new/one.txt", b"1"), ha.file("sub/keep.txt", b"new keep")],
    )
    immutable(dest / "sub" / "keep.txt")
    before = ha.snapshot(tmp_path)
    failure = refused(local, src=str(archive), dest=str(dest), overwrite=True)
    assert failure.kind == "denied" and "keep.txt" in str(failure), failure
    assert ha.snapshot(tmp_path) == before


def test_list_and_extract_agree_on_tar_device_members(local: Remote, tmp_path: Path) -> None:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    archive = tmp_path / "dev.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(info)
    failure = refused(local, src=str(archive), dest=str(tmp_path / "d"))
    assert failure.kind == "unsafe" and "dev: device or special file" in str(failure)
    assert [e["unsafe"] for e in local.call("archive.list", path=str(archive))["entries"]] == [
        "device or special file"
    ]


def _zstd(tar_gz: Path) -> Path:
    """The same tar as a tar.zst (the zstd command compresses it)."""
    import gzip

    out = tar_gz.with_name(tar_gz.name.replace(".tar.gz", ".tar.zst"))
    subprocess.run(
        ["zstd", "-q", "-3", "-o", str(out), "-"], input=gzip.decompress(tar_gz.read_bytes()), check=True
    )
    tar_gz.unlink()
    return out


@pytest.mark.skipif(shutil.which("zstd") is None, reason="tar.zst needs the zstd command")
def test_a_tar_zst_is_judged_from_its_listing_before_it_is_decompressed(
    local: Remote, tmp_path: Path
) -> None:
    """A tar.zst is decompressed into a scratch tar before extraction: its bomb and its link chain
    are refused from a streamed listing first, so not even the scratch tar is written."""
    work, dest = work_with_dest(tmp_path)
    bomb = _zstd(ha.tar_zero_bomb(tmp_path / "bomb.tar.gz", 128 << 20))
    chain = _zstd(
        ha.write_tar(tmp_path / "chain.tar.gz", [ha.link("x", "."), ha.link("y", "x/.."), ha.file("y/z")])
    )
    before = ha.snapshot(tmp_path)
    assert "over max_total_ratio 100" in str(refused(local, src=str(bomb), dest=str(dest)))
    assert "y: link out of the destination" in str(refused(local, src=str(chain), dest=str(dest)))
    assert ha.snapshot(tmp_path) == before
    fine = _zstd(
        ha.write_tar(tmp_path / "fine.tar.gz", [ha.file("a.txt", b"zst a"), ha.file("sub/b.txt", b"b")])
    )
    assert local.call("archive.extract", src=str(fine), dest=str(dest), overwrite=True) == {
        "changed": True,
        "files": 2,
    }
    assert (dest / "a.txt").read_bytes() == b"zst a" and (dest / "sub" / "keep.txt").read_text() == "kept\n"
