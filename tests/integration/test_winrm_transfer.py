"""File transfers on the helper's raw stdin, through the real pywinrm client and the WinRM test endpoint.

What is held here (engine/connect/winrm_transfer.py): the bytes arrive identical (sha256 on both
ends), the file's content is base64-encoded once (MS-WSMV 3.1.4.1.31.1 I/O Streams: the Send's
`rsp:Stream Name="stdin"` carries base64binary,
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/2629bd02-7269-4d7a-9c6c-a0e5e8ade2bc),
each Send fills the envelope to just under the server's MaxEnvelopeSizekb (500 KB on current
Windows, 150 on older ones; a request over it gets WS-Man fault 2150859025, MS-WSMV 3.1.4.1.7
wsman:MaxEnvelopeSize,
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/90c708de-9b3b-4e5e-a65a-71ab898de0d9),
a dropped connection resumes where the host's file stands, and the client's memory does not
grow with the file.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from engine.api.primitives import Remote
from engine.connect import winrm_transfer
from engine.core.errors import RemoteError, TaskTimeout
from modules.windows import _transfer
from tests.support.modharness import run_module
from tests.support.winrm_client import in_background, winrm_connect_fixture  # noqa: F401 - fixture
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture

AUTHS = pytest.mark.parametrize("auth", ["basic", "ntlm"])
MB = 1 << 20


def _source(tmp_path: Path, size: int, name: str = "package.zip") -> Path:
    path = tmp_path / name
    with open(path, "wb") as out:
        left = size
        while left > 0:
            out.write(os.urandom(min(left, 4 * MB)))
            left -= 4 * MB
    return path


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while piece := fh.read(MB):
            h.update(piece)
    return h.hexdigest()


def _stdin_sent(endpoint) -> int:
    """Bytes of stdin the endpoint's processes received, summed over every Send."""
    return endpoint.receiver.written


@AUTHS
def test_a_large_file_arrives_byte_identical_base64_once(
    auth: str, winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = connect(endpoint)
    src = _source(tmp_path, 20 * MB + 12345)
    seen: list[tuple[int, int | None]] = []

    result = conn.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size,
                            progress=lambda done, total: seen.append((done, total)))  # fmt: skip

    arrived = endpoint.sim.path(r"C:\pkg.zip")
    assert result == {"size": src.stat().st_size, "sha256": _sha(src)}
    assert _sha(arrived) == _sha(src)
    # one base64 only: 20 MB in envelopes of <= 500 KB carrying ~375 KB each, not (4/3)^2 of that
    assert endpoint.stats["send"] <= src.stat().st_size // (370 * 1024) + 4
    assert endpoint.stats["receive"] <= 8  # one answer per 8 MB segment (and the helper's start)
    # after each segment but the last, the answer of the one before it; then the last two at once
    assert seen == [(8 * MB, src.stat().st_size), (src.stat().st_size, src.stat().st_size)]


@pytest.mark.parametrize("limit_kb", [150, 500])
def test_every_send_fills_the_envelope_to_just_under_the_limit(
    limit_kb: int, winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm", max_envelope_size=limit_kb * 1024)
    conn = connect(endpoint)
    src = _source(tmp_path, 3 * MB)

    conn.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size)

    assert _sha(endpoint.sim.path(r"C:\pkg.zip")) == _sha(src)
    assert limit_kb * 1024 - 2048 < endpoint.stats["largest_envelope"] <= limit_kb * 1024
    # a 150 KB server refuses the first 500 KB envelope once; the connection keeps to 150 after
    assert endpoint.stats["envelope_rejected"] == (1 if limit_kb == 150 else 0)


@AUTHS
def test_a_dropped_connection_resumes_where_the_file_stands(
    auth: str, winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = connect(endpoint)
    src = _source(tmp_path, 20 * MB)
    endpoint.drop_connection_after(11 * MB)  # inside the second 8 MB segment

    result = conn.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size)

    assert endpoint.stats["dropped"] == 1
    assert result["sha256"] == _sha(src) == _sha(endpoint.sim.path(r"C:\pkg.zip"))
    # what was on the host's disk before the cut was not sent again: at most the cut segment's
    # part that had not been written yet
    assert _stdin_sent(endpoint) < src.stat().st_size + 8 * MB
    assert endpoint.stats["command"] == 2  # the cut helper was replaced by one new one
    assert endpoint.stats["terminate"] >= 1  # and the cut one terminated, so it let go of the file


def test_a_later_run_continues_a_partial_file(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, 12 * MB)
    partial = endpoint.sim.path(r"C:\pkg.zip.part")
    partial.write_bytes(src.read_bytes()[: 5 * MB])

    result = conn.send_file(r"C:\pkg.zip.part", lambda: open(src, "rb"), size=src.stat().st_size, resume=True)

    assert result["sha256"] == _sha(src) == _sha(partial)
    assert _stdin_sent(endpoint) == 7 * MB


def test_a_missing_folder_is_one_clear_error_and_the_helper_stays_in_step(
    winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, 1 * MB)

    with pytest.raises(RemoteError) as caught:
        conn.send_file(r"C:\no\such\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size)
    after = Remote(conn).call("file.stat", path=r"C:\no")

    assert r"C:\no\such\pkg.zip" in str(caught.value) and caught.value.kind == "not_found"
    assert after == {"exists": False}
    assert endpoint.stats["command"] == 1  # the same helper answered: its stdin stayed in step


def test_client_memory_does_not_grow_with_the_file(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    peaks = []
    for size in (12 * MB, 48 * MB):
        src = _source(tmp_path, size, f"p{size}.bin")
        tracemalloc.start()
        conn.send_file(rf"C:\p{size}.bin", lambda src=src: open(src, "rb"), size=size)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert _sha(endpoint.sim.path(rf"C:\p{size}.bin")) == _sha(src)
        src.unlink()

    # four times the bytes, the same buffers (the segment, one envelope; the endpoint's stdin
    # buffer is bounded too, and it runs in this process): not a quarter of the extra 36 MB
    assert peaks[1] - peaks[0] < 9 * MB
    assert peaks[1] < 3 * winrm_transfer.SEGMENT


@AUTHS
def test_a_tree_arrives_as_one_zip_stream_and_is_extracted(
    auth: str, winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = connect(endpoint)
    tree = tmp_path / "tree"
    for i in range(300):
        folder = tree / f"module{i % 7}" / ("views" if i % 2 else "lib")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i}.asp").write_bytes(os.urandom(i * 37) if i % 3 else f"page {i}\n".encode() * i)
    remote = Remote(conn)
    remote.call("file.mkdir", path=r"C:\Sage\CRM")

    lines: list[str] = []
    result = _transfer.upload_tree(remote, tree, r"C:\Sage\CRM\WWWRoot", progress=lines.append)

    arrived = endpoint.sim.path(r"C:\Sage\CRM\WWWRoot")
    want = {p.relative_to(tree).as_posix(): _sha(p) for p in tree.rglob("*") if p.is_file()}
    got = {p.relative_to(arrived).as_posix(): _sha(p) for p in arrived.rglob("*") if p.is_file()}
    assert got == want and result["files"] == 300
    assert not [p for p in endpoint.sim.path(r"C:\Sage\CRM").iterdir() if p.name.startswith("~ct-")]
    assert endpoint.ops["archive.extract"] == 1
    assert lines and "MB/s" in lines[-1] and "300 of 300 files" in lines[-1] and "files/s" in lines[-1]


@AUTHS
def test_win_copy_streams_a_large_src_then_is_ok(auth: str, winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = connect(endpoint)
    src = _source(tmp_path, 9 * MB)
    Remote(conn).call("file.mkdir", path=r"C:\Packages")
    args = {"src": str(src), "dest": "C:\\Packages\\"}

    preview = run_module("win_copy", args, connection=conn, check=True, diff=True)
    first = run_module("win_copy", args, connection=conn)
    second = run_module("win_copy", args, connection=conn)

    dest = endpoint.sim.path(r"C:\Packages\package.zip")
    assert preview.changed and preview.diff["after"] == {"sha256": _sha(src), "size": 9 * MB}
    assert first.changed and not first.failed, first.msg
    assert _sha(dest) == _sha(src) == first.output["sha256"]
    assert not second.changed and not second.failed
    assert endpoint.ops["file.write"] == 0  # streamed on raw stdin, not a batch carrying the bytes
    assert [p.name for p in dest.parent.iterdir()] == ["package.zip"]  # the temporary file is gone


def test_basic_over_https_streams_the_file(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", tls=True)
    conn = connect(endpoint)
    src = _source(tmp_path, 5 * MB)

    result = conn.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size)

    assert conn.settings.endpoint.startswith("https://")
    assert result["sha256"] == _sha(src) == _sha(endpoint.sim.path(r"C:\pkg.zip"))


def test_a_known_digest_the_host_does_not_match_fails_the_transfer(
    winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, 2 * MB)
    stale = hashlib.sha256(b"what the file held when it was checked").hexdigest()

    with pytest.raises(RemoteError) as caught:
        conn.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size, sha256=stale)

    assert stale in str(caught.value) and _sha(src) in str(caught.value)


def test_ctrl_c_stops_a_transfer_and_the_connection_goes_on(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, 64 * MB)

    worker, outcome = in_background(
        lambda: conn.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=src.stat().st_size)
    )
    while endpoint.receiver.written == 0:
        worker.join(0.01)
    while worker.is_alive():
        conn.interrupt()
        worker.join(0.05)

    assert len(outcome) == 1 and isinstance(outcome[0], TaskTimeout)
    assert "interrupted" in str(outcome[0]) and "a file transfer" in str(outcome[0])
    assert endpoint.stats["terminate"] >= 1
    assert Remote(conn).call("file.stat", path=r"C:\pkg.zip")["size"] < 64 * MB  # kept for a resume


def _send_in_ranges(conn, src: Path, dest: str) -> dict:
    size = src.stat().st_size
    return conn.send_file(dest, lambda: open(src, "rb"), size=size, sha256=_sha(src), local=str(src))


@AUTHS
def test_a_large_file_goes_as_two_ranges_through_two_shells(
    auth: str, winrm_endpoint, connect, tmp_path: Path
) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    conn = connect(endpoint)
    src = _source(tmp_path, winrm_transfer.RANGES_FROM + 5 * MB + 7)

    endpoint.sim.path(r"C:\pkg.zip").write_bytes(os.urandom(src.stat().st_size + 3 * MB))  # stale, longer

    result = _send_in_ranges(conn, src, r"C:\pkg.zip")

    assert result == {"size": src.stat().st_size, "sha256": _sha(src)}
    assert _sha(endpoint.sim.path(r"C:\pkg.zip")) == _sha(src)
    assert endpoint.stats["create"] == 2 and endpoint.stats["command"] == 2  # a second shell and helper
    assert _stdin_sent(endpoint) == src.stat().st_size  # each byte sent once


def test_both_ranges_are_written_into_the_one_file_with_no_copy_after(
    winrm_endpoint, connect, tmp_path: Path
) -> None:
    """Each helper writes its range at its offset of the same file (files.ps1 Open-CutoverRange:
    FileStream Seek + Write); no second file is appended afterwards, no checkpoint is left."""
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, winrm_transfer.RANGES_FROM + 3 * MB + 1)

    result = _send_in_ranges(conn, src, r"C:\pkg.zip")

    assert result["sha256"] == _sha(src) == _sha(endpoint.sim.path(r"C:\pkg.zip"))
    assert endpoint.receiver.opened == {endpoint.sim.path(r"C:\pkg.zip")}
    assert sorted(p.name for p in endpoint.sim.path("C:\\").iterdir() if p.name.startswith("pkg")) == [
        "pkg.zip"
    ]


def test_two_ranges_resume_in_a_later_run_from_their_checkpoints(
    winrm_endpoint, connect, tmp_path: Path
) -> None:
    """A run stopped mid-transfer leaves each range's end on the host (path.r<start>); the next
    run with `resume` continues both ranges there, and the file is byte-identical."""
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, 2 * winrm_transfer.RANGES_FROM)
    size, mid = src.stat().st_size, winrm_transfer.RANGES_FROM
    worker, outcome = in_background(lambda: _send_in_ranges(conn, src, r"C:\pkg.zip"))
    while worker.is_alive() and not all(
        endpoint.sim.path(rf"C:\pkg.zip.r{start}").exists() for start in (0, mid)
    ):
        worker.join(0.01)
    while worker.is_alive():
        conn.interrupt()
        worker.join(0.05)
    assert len(outcome) == 1 and isinstance(outcome[0], TaskTimeout)
    noted = [int(endpoint.sim.path(rf"C:\pkg.zip.r{start}").read_text()) for start in (0, mid)]
    assert 0 < noted[0] <= mid < noted[1] < size
    sent_before = _stdin_sent(endpoint)

    again = connect(endpoint)
    result = again.send_file(r"C:\pkg.zip", lambda: open(src, "rb"), size=size, sha256=_sha(src),
                             local=str(src), resume=True)  # fmt: skip

    assert result == {"size": size, "sha256": _sha(src)} and _sha(endpoint.sim.path(r"C:\pkg.zip")) == _sha(
        src
    )
    assert _stdin_sent(endpoint) - sent_before <= size - (noted[0] + noted[1] - mid)  # the rest only
    assert (
        not endpoint.sim.path(r"C:\pkg.zip.r0").exists()
        and not endpoint.sim.path(rf"C:\pkg.zip.r{mid}").exists()
    )


def test_two_ranges_resume_after_a_dropped_connection(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    conn = connect(endpoint)
    src = _source(tmp_path, winrm_transfer.RANGES_FROM + 8 * MB)
    endpoint.drop_connection_after(20 * MB)

    result = _send_in_ranges(conn, src, r"C:\pkg.zip")

    assert endpoint.stats["dropped"] == 1
    assert result["sha256"] == _sha(src) == _sha(endpoint.sim.path(r"C:\pkg.zip"))
    assert _stdin_sent(endpoint) < src.stat().st_size + 8 * MB


def test_without_a_second_shell_the_file_goes_as_one_stream(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic", max_shells_per_user=1)
    conn = connect(endpoint)
    src = _source(tmp_path, winrm_transfer.RANGES_FROM)

    result = _send_in_ranges(conn, src, r"C:\pkg.zip")

    assert result["sha256"] == _sha(src) == _sha(endpoint.sim.path(r"C:\pkg.zip"))
    assert endpoint.stats["shell_quota_rejected"] >= 1 and endpoint.stats["command"] == 1


def test_ctrl_c_stops_both_ranges(winrm_endpoint, connect, tmp_path: Path) -> None:
    endpoint = winrm_endpoint("web1", auth="basic")
    conn = connect(endpoint)
    src = _source(tmp_path, 2 * winrm_transfer.RANGES_FROM)

    worker, outcome = in_background(lambda: _send_in_ranges(conn, src, r"C:\pkg.zip"))
    while endpoint.receiver.written < 2 * MB:
        worker.join(0.01)
    while worker.is_alive():
        conn.interrupt()
        worker.join(0.05)

    assert len(outcome) == 1 and isinstance(outcome[0], TaskTimeout)
    assert endpoint.stats["terminate"] >= 2  # both helpers stopped
    assert endpoint.receiver.written < src.stat().st_size


def test_a_tree_zip_stores_what_does_not_deflate_and_deflates_the_rest(tmp_path: Path) -> None:
    """Deflating random bytes (a zip, a packed binary) costs the controller CPU for nothing: such
    a member is stored; text is deflated; both unpack to the same bytes, and a second build of
    the stream (what a resumed transfer re-hashes) has the same bytes."""
    import io
    import zipfile

    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "packed.dll").write_bytes(os.urandom(300_000))
    (root / "page.asp").write_bytes(b"<% Response.Write('page') %>\n" * 10_000)
    (root / "empty.txt").write_bytes(b"")
    files = sorted(p for p in root.rglob("*") if p.is_file())

    with _transfer.ZipStream(root, files).open() as stream:
        built = stream.read()
    with _transfer.ZipStream(root, files).open() as stream:
        assert stream.read() == built

    with zipfile.ZipFile(io.BytesIO(built)) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
        assert {name: archive.read(name) for name in kinds} == {
            p.relative_to(root).as_posix(): p.read_bytes() for p in files
        }
    assert kinds["bin/packed.dll"] == zipfile.ZIP_STORED
    assert kinds["page.asp"] == zipfile.ZIP_DEFLATED
