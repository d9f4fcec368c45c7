"""tar archives made in one pass by the real helper: all-core compression, hashing and testing while writing.

`archive.create` of a tar format reads every file once: the tree digest it returns must be the
one `file.tree_hash` computes by reading the folder again, the sha256 the one of the file on
disk, and the compressor's own test runs on the stream as it is written. The compressors are
the host's real `zstd`/`gzip` (a test that needs one skips where it is missing, and fails in
CI); where a test needs a compressor to misbehave, a small script named like it stands first
on the helper's PATH and calls the real one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect.local import LocalConnection
from engine.core.model import Host

ZSTD = shutil.which("zstd")
GZIP = shutil.which("gzip")


def _need(tool: str | None, name: str) -> str:
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return tool


@pytest.fixture
def helper(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`helper(path=...)`: a Remote on a fresh local helper whose PATH is `path` (default: ours)."""
    opened: list[LocalConnection] = []

    def start(path: str | None = None) -> Remote:
        if path is not None:
            monkeypatch.setenv("PATH", path)
        conn = LocalConnection(Host(name="local", address="localhost", connection="local"))
        conn.open()  # the helper inherits the environment as it is now
        opened.append(conn)
        return Remote(conn)

    yield start
    for conn in opened:
        conn.close()


def make_tree(root: Path) -> Path:
    (root / "code" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "code" / "a.php").write_text("<?php echo 'alpha';\n" * 500)
    (root / "code" / "deep" / "b.php").write_text("<?php // beta\n")
    (root / "upload.bin").write_bytes(os.urandom(300_000))
    (root / "link").symlink_to("code/a.php")
    os.link(root / "code" / "deep" / "b.php", root / "hard.php")
    return root


def fake(bin_dir: Path, name: str, script: str) -> None:
    """An executable `name` in bin_dir running the shell `script` (the real tool is $REAL)."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.mark.parametrize("suffix", ["tar.zst", "tar.gz"])
def test_one_pass_gives_the_tree_digest_and_the_archive_hash(
    helper: Any, tmp_path: Path, suffix: str
) -> None:
    _need(ZSTD if suffix == "tar.zst" else GZIP, suffix.split(".")[1])
    remote = helper()
    src = make_tree(tmp_path / "src")
    archive = tmp_path / f"backup.{suffix}"

    made = remote.call("archive.create", src=str(src), dest=str(archive))

    tree = remote.call("file.tree_hash", path=str(src))
    assert made["tree"] == tree  # digest, files (the hard link counts as a file) and bytes
    assert made["tree"]["files"] == 4
    assert made["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert made["size"] == archive.stat().st_size
    assert made["changed"] == [] and made["changed_count"] == 0
    tool = "zstd" if suffix == "tar.zst" else ("pigz" if shutil.which("pigz") else "gzip")
    assert made["compressor"].startswith(tool) and made["verified"].endswith("while writing")
    if suffix == "tar.zst":
        assert archive.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
        assert "-T0" in made["compressor"]  # every core
    verified = remote.call("archive.verify", path=str(archive))
    assert verified == {
        "sha256": made["sha256"],
        "size": made["size"],
        "entries": made["entries"],
        "ok": True,
    }
    names = {e["name"] for e in remote.call("archive.list", path=str(archive))["entries"]}
    assert {"code/a.php", "code/deep/b.php", "upload.bin", "link", "empty", "hard.php"} <= names
    dest = tmp_path / "restored"
    assert remote.call("archive.extract", src=str(archive), dest=str(dest))["changed"] is True
    assert remote.call("file.tree_hash", path=str(dest)) == tree
    assert os.readlink(dest / "link") == "code/a.php" and (dest / "empty").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "backup." + suffix,
        "restored",
        "src",
    ]  # no scratch left


def test_a_tar_zst_is_what_gnu_tar_and_zstd_read(helper: Any, tmp_path: Path) -> None:
    _need(ZSTD, "zstd")
    if not shutil.which("tar"):
        pytest.skip("GNU tar is not installed")
    src = make_tree(tmp_path / "src")
    archive = tmp_path / "backup.tar.zst"
    helper().call("archive.create", src=str(src), dest=str(archive))
    out = tmp_path / "by-hand"
    out.mkdir()
    assert os.system(f"tar --zstd -xf {archive} -C {out}") == 0  # what an operator restores by hand
    assert (out / "code" / "a.php").read_text() == (src / "code" / "a.php").read_text()
    assert (out / "upload.bin").read_bytes() == (src / "upload.bin").read_bytes()


def test_damage_anywhere_in_a_tar_zst_is_found(helper: Any, tmp_path: Path) -> None:
    _need(ZSTD, "zstd")
    remote = helper()
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(400_000))
    archive = tmp_path / "a.tar.zst"
    remote.call("archive.create", src=str(src), dest=str(archive))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))

    verified = remote.call("archive.verify", path=str(archive))
    assert verified["ok"] is False and "not a valid tar.zst" in verified["error"]
    assert verified["sha256"] == hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(PrimitiveFailed) as info:
        remote.call("archive.extract", src=str(archive), dest=str(tmp_path / "x"))
    assert info.value.kind == "invalid" and not (tmp_path / "x").exists()
    truncated = tmp_path / "t.tar.zst"
    truncated.write_bytes(bytes(data[: len(data) // 3]))
    assert remote.call("archive.verify", path=str(truncated))["ok"] is False


def test_without_zstd_tar_zst_is_unsupported_and_tar_gz_falls_back_to_python(
    helper: Any, tmp_path: Path
) -> None:
    empty_path = tmp_path / "no-tools"
    empty_path.mkdir()
    remote = helper(str(empty_path))  # no zstd, pigz or gzip for the helper
    src = make_tree(tmp_path / "src")

    with pytest.raises(PrimitiveFailed) as info:
        remote.call("archive.create", src=str(src), dest=str(tmp_path / "a.tar.zst"))
    assert info.value.kind == "unsupported" and "zstd" in str(info.value)
    assert not list(tmp_path.glob(".cutover.*")) and not (tmp_path / "a.tar.zst").exists()

    made = remote.call("archive.create", src=str(src), dest=str(tmp_path / "a.tar.gz"))
    assert made["compressor"] == "gzip (Python)" and made["verified"] == "gzip read back"
    assert made["tree"] == remote.call("file.tree_hash", path=str(src))
    with tarfile.open(tmp_path / "a.tar.gz", "r:gz") as tar:
        assert tar.extractfile("code/a.php").read() == (src / "code" / "a.php").read_bytes()


def test_a_folder_written_to_while_archived_is_reported(helper: Any, tmp_path: Path) -> None:
    real = _need(ZSTD, "zstd")
    src = make_tree(tmp_path / "src")
    # the compressor starts after the folder was listed and before its files are read: a write
    # at that moment is a write while the folder is archived
    fake(tmp_path / "bin", "zstd", f'echo more >> "{src}/code/a.php"\nexec "{real}" "$@"\n')
    remote = helper(f"{tmp_path / 'bin'}:{os.environ['PATH']}")

    made = remote.call("archive.create", src=str(src), dest=str(tmp_path / "a.tar.zst"))

    assert made["changed"] == ["code/a.php"] and made["changed_count"] == 1


def test_a_failing_compressor_fails_the_call_and_leaves_nothing(helper: Any, tmp_path: Path) -> None:
    real = _need(ZSTD, "zstd")
    src = make_tree(tmp_path / "src")
    # compressing: write garbage and fail; testing (-t): the real zstd
    fake(tmp_path / "bin", "zstd", f'case " $* " in *" -t "*) exec "{real}" "$@";; esac\n'
         'cat > /dev/null; echo "no space on the tape" >&2; exit 3\n')  # fmt: skip
    remote = helper(f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    dest = tmp_path / "out" / "a.tar.zst"
    dest.parent.mkdir()

    with pytest.raises(PrimitiveFailed) as info:
        remote.call("archive.create", src=str(src), dest=str(dest))

    assert "exited with 3" in str(info.value) and "no space on the tape" in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_a_stream_the_tester_rejects_fails_the_call(helper: Any, tmp_path: Path) -> None:
    real = _need(ZSTD, "zstd")
    src = make_tree(tmp_path / "src")
    # the compressor "succeeds" but writes a damaged stream: only the test while writing sees it
    fake(tmp_path / "bin", "zstd", f'case " $* " in *" -t "*) exec "{real}" "$@";; esac\n'
         f'"{real}" "$@" | head -c 100\n')  # fmt: skip
    remote = helper(f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    dest = tmp_path / "out" / "a.tar.zst"
    dest.parent.mkdir()

    with pytest.raises(PrimitiveFailed) as info:
        remote.call("archive.create", src=str(src), dest=str(dest))

    assert "zstd -q -t exited with" in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_a_long_archive_reports_its_progress_before_the_answer(helper: Any, tmp_path: Path) -> None:
    real = _need(ZSTD, "zstd")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i:02d}.bin").write_bytes(os.urandom(100_000))
    # a compressor that takes its time to start: the archive lasts longer than a report interval
    fake(tmp_path / "bin", "zstd", f'case " $* " in *" -t "*) ;; *) sleep 1.5;; esac\nexec "{real}" "$@"\n')
    remote = helper(f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    reports: list[dict[str, Any]] = []
    remote.connection.on_progress = reports.append

    made = remote.call("archive.create", src=str(src), dest=str(tmp_path / "a.tar.zst"))

    assert made["tree"]["files"] == 40  # the answer after the reports, intact
    assert reports, "no progress report during a 1.5 s archive"
    for report in reports:
        assert report["op"] == "archive.create" and report["files_total"] == 40
        assert 0 < report["bytes"] <= report["bytes_total"] == 4_000_000
    assert remote.call("file.tree_hash", path=str(src)) == made["tree"]  # the channel is in step


def test_progress_reads_as_throughput_and_time_left() -> None:
    from modules.onecrm._onecrm import throughput_text

    text = throughput_text(
        "archiving /srv/1crm", {"bytes": 400e6, "bytes_total": 1000e6, "files": 12000}, 5.0
    )

    assert text == "archiving /srv/1crm: 400 of 1,000 MB, 80.0 MB/s, 2,400 files/s, about 8 s left"
    assert throughput_text("x", {"bytes": 0, "bytes_total": 10e6}, 0.0) == "x: 0 of 10 MB, 0.0 MB/s"
