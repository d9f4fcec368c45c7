"""Every posix primitive through the real helper, run by LocalConnection as a child process.

Real files, real processes, a real HTTP server: the helper is the code under test, the
connection only carries frames. SSH runs the very same helper (tests/integration/test_ssh_connection.py).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import io
import os
import socket
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect.local import LocalConnection
from engine.connect.remote import posix_helper
from engine.connect.remote.spec import PRIMITIVES
from engine.core.errors import ConnectionFailed, TaskTimeout
from engine.core.model import Host
from tests.support.modharness import http_server
from tests.support.posix_checks import NASTY, gone, wait_for_file

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def conn() -> Iterator[LocalConnection]:
    connection = LocalConnection(Host(name="local", address="localhost", connection="local"))
    connection.open()
    yield connection
    connection.close()


@pytest.fixture
def remote(conn: LocalConnection) -> Remote:
    return Remote(conn)


def fails(remote: Remote, op: str, **args: Any) -> PrimitiveFailed:
    """The failure of a call that must fail."""
    with pytest.raises(PrimitiveFailed) as info:
        remote.call(op, **args)
    return info.value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_tree(root: Path) -> Path:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "deep" / "c.txt").write_text("gamma\n")
    (root / "link").symlink_to("a.txt")
    return root


# --------------------------------------------------------------------------- contract


def test_helper_implements_exactly_the_posix_primitives_of_the_spec() -> None:
    posix = {name: spec for name, spec in PRIMITIVES.items() if "posix" in spec.platforms}
    assert set(posix_helper.OPS) == set(posix)
    for name, (_fn, required, optional) in posix_helper.OPS.items():
        assert set(required) == set(posix[name].required), name
        assert set(optional) == set(posix[name].optional), name


def test_batch_answers_in_order_and_a_failure_does_not_stop_the_rest(
    conn: LocalConnection, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("x")
    answers = conn.call(
        [
            {"op": "file.stat", "args": {"path": str(tmp_path / "f")}},
            {"op": "file.read", "args": {"path": str(tmp_path / "missing")}},
            {"op": "file.hash", "args": {"path": str(tmp_path / "f")}},
        ]
    )
    assert [a["ok"] for a in answers] == [True, False, True]
    assert answers[0]["value"]["size"] == 1
    assert answers[1]["kind"] == "not_found"
    assert answers[2]["value"]["digest"] == hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        ({"op": "registry.get", "args": {"key": "HKLM"}}, "unsupported"),
        ({"op": "no.such", "args": {}}, "unsupported"),
        ({"op": "file.stat", "args": {}}, "invalid"),
        ({"op": "file.stat", "args": {"path": "/", "bogus": 1}}, "invalid"),
        ({"op": "file.stat", "args": {"path": 42}}, "invalid"),
        ({"op": "file.mkdir", "args": {"path": "/tmp/x", "mode": "rwx"}}, "invalid"),
        ({"op": "process.run", "args": {"argv": "echo hi"}}, "invalid"),
        ({"op": "file.write", "args": {"path": "/tmp/x", "content_b64": "***"}}, "invalid"),
        ("not a call", "invalid"),
    ],
)
def test_bad_calls_get_a_kind_and_the_helper_survives(conn: LocalConnection, call: Any, kind: str) -> None:
    answer, after = conn.call([call, {"op": "host.facts", "args": {}}])
    assert answer["ok"] is False and answer["kind"] == kind, answer
    assert answer["error"]
    assert after["ok"] is True


def test_host_facts(remote: Remote) -> None:
    facts = remote.call("host.facts")
    assert facts["os"] == "posix"
    assert facts["simulated"] is False
    assert facts["user"] == getpass.getuser()
    assert facts["hostname"] == socket.gethostname()
    assert facts["python"].count(".") == 2


# --------------------------------------------------------------------------- file.*


def test_file_stat_file_dir_link_and_missing(remote: Remote, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("hello")
    f.chmod(0o640)
    (tmp_path / "l").symlink_to("f.txt")
    st = remote.call("file.stat", path=str(f))
    assert (st["exists"], st["type"], st["size"], st["mode"]) == (True, "file", 5, "0640")
    assert st["owner"] == getpass.getuser()
    assert remote.call("file.stat", path=str(tmp_path))["type"] == "directory"
    link = remote.call("file.stat", path=str(tmp_path / "l"))
    assert (link["type"], link["target"]) == ("link", "f.txt")
    assert remote.call("file.stat", path=str(tmp_path / "l"), follow=True)["type"] == "file"
    assert remote.call("file.stat", path=str(tmp_path / "nope")) == {"exists": False}


def test_file_hash_and_read(remote: Remote, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    f = tmp_path / "blob"
    f.write_bytes(data)
    got = remote.call("file.hash", path=str(f))
    assert got == {"algorithm": "sha256", "digest": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert remote.call("file.hash", path=str(f), algorithm="md5")["digest"] == hashlib.md5(data).hexdigest()
    assert fails(remote, "file.hash", path=str(f), algorithm="crc99").kind == "invalid"
    assert fails(remote, "file.hash", path=str(tmp_path / "nope")).kind == "not_found"
    whole = remote.call("file.read", path=str(f))
    assert base64.b64decode(whole["content_b64"]) == data and whole["truncated"] is False
    part = remote.call("file.read", path=str(f), max_bytes=10)
    assert base64.b64decode(part["content_b64"]) == data[:10]
    assert (part["size"], part["truncated"]) == (len(data), True)


def test_file_write_is_idempotent_and_keeps_mode(remote: Remote, tmp_path: Path) -> None:
    f = tmp_path / "conf.ini"
    first = remote.call("file.write", path=str(f), content_b64=b64(b"a=1\n"), mode="0600")
    assert first == {"changed": True, "sha256": hashlib.sha256(b"a=1\n").hexdigest()}
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert remote.call("file.write", path=str(f), content_b64=b64(b"a=1\n"))["changed"] is False
    assert remote.call("file.write", path=str(f), content_b64=b64(b"a=2\n"))["changed"] is True
    assert f.read_bytes() == b"a=2\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600, "an existing file keeps its mode"
    assert remote.call("file.write", path=str(f), content_b64=b64(b"a=2\n"), mode="0644")["changed"] is True
    assert stat.S_IMODE(f.stat().st_mode) == 0o644


def test_file_write_is_atomic_and_leaves_no_temporary_file(remote: Remote, tmp_path: Path) -> None:
    f = tmp_path / "data"
    f.write_bytes(b"old content")
    with open(f, "rb") as reader:
        inode = os.fstat(reader.fileno()).st_ino
        remote.call("file.write", path=str(f), content_b64=b64(b"new content"))
        assert reader.read() == b"old content", "the old file was replaced, not rewritten in place"
    assert f.stat().st_ino != inode
    assert f.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_file_write_through_a_link_keeps_the_link(remote: Remote, tmp_path: Path) -> None:
    (tmp_path / "real.conf").write_text("old")
    (tmp_path / "enabled.conf").symlink_to("real.conf")
    remote.call("file.write", path=str(tmp_path / "enabled.conf"), content_b64=b64(b"new"))
    assert (tmp_path / "enabled.conf").is_symlink() and (tmp_path / "real.conf").read_text() == "new"


def test_file_write_backup_and_errors(remote: Remote, tmp_path: Path) -> None:
    f = tmp_path / "settings"
    f.write_text("v1")
    out = remote.call("file.write", path=str(f), content_b64=b64(b"v2"), backup=True)
    assert Path(out["backup_path"]).read_text() == "v1" and f.read_text() == "v2"
    assert (
        fails(remote, "file.write", path=str(tmp_path / "no" / "dir" / "f"), content_b64="").kind
        == "not_found"
    )
    assert fails(remote, "file.write", path=str(tmp_path), content_b64="").kind == "invalid"
    assert fails(remote, "file.write", path=str(f), content_b64="", owner="no-such-user-x").kind == "invalid"


def test_file_mkdir_touch_remove(remote: Remote, tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    assert remote.call("file.mkdir", path=str(d), mode="0750") == {"changed": True}
    assert stat.S_IMODE(d.stat().st_mode) == 0o750
    assert remote.call("file.mkdir", path=str(d), mode="0750") == {"changed": False}
    assert fails(remote, "file.mkdir", path=str(tmp_path / "x" / "y"), parents=False).kind == "not_found"
    f = d / "t"
    assert remote.call("file.touch", path=str(f)) == {"changed": True}
    f.write_text("kept")
    assert remote.call("file.touch", path=str(f)) == {"changed": False}
    assert f.read_text() == "kept"
    assert fails(remote, "file.mkdir", path=str(f)).kind == "exists"
    assert fails(remote, "file.remove", path=str(tmp_path / "a")).kind == "invalid"
    (tmp_path / "ln").symlink_to(d)
    assert remote.call("file.remove", path=str(tmp_path / "ln")) == {"changed": True}
    assert f.exists(), "removing a link never touches its target"
    assert remote.call("file.remove", path=str(tmp_path / "a"), recursive=True) == {"changed": True}
    assert not (tmp_path / "a").exists()
    assert remote.call("file.remove", path=str(tmp_path / "a")) == {"changed": False}


def test_file_attrs_with_owner_names(remote: Remote, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o600)
    me = getpass.getuser()
    out = remote.call("file.attrs", path=str(f), mode="0644", owner=me)
    assert out["changed"] is True
    assert out["before"]["mode"] == "0600" and out["after"]["mode"] == "0644"
    assert out["after"]["owner"] == me
    assert remote.call("file.attrs", path=str(f), mode=0o644)["changed"] is False
    assert fails(remote, "file.attrs", path=str(f), group="no-such-group-x").kind == "invalid"
    if os.geteuid() == 0:
        changed = remote.call("file.attrs", path=str(f), owner="nobody", group="nogroup")
        assert changed["after"]["owner"] == "nobody" and f.stat().st_uid != 0


def test_file_copy_tree_is_idempotent(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dest = tmp_path / "dest"
    first = remote.call("file.copy", src=str(src), dest=str(dest))
    assert first["changed"] is True and first["files"] == 4
    assert (dest / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert os.readlink(dest / "link") == "a.txt" and (dest / "empty").is_dir()
    assert remote.call("file.copy", src=str(src), dest=str(dest)) == {
        "changed": False,
        "files": 0,
        "bytes": 0,
    }
    (dest / "a.txt").write_text("local edit")
    assert remote.call("file.copy", src=str(src), dest=str(dest), overwrite=False)["changed"] is False
    assert (dest / "a.txt").read_text() == "local edit"
    assert remote.call("file.copy", src=str(src), dest=str(dest))["files"] == 1
    one = remote.call("file.copy", src=str(src / "a.txt"), dest=str(tmp_path / "single.txt"))
    assert one == {"changed": True, "files": 1, "bytes": 6}
    assert fails(remote, "file.copy", src=str(src / "a.txt"), dest=str(dest)).kind == "exists"


def test_file_move(remote: Remote, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    assert remote.call("file.move", src=str(tmp_path / "a"), dest=str(tmp_path / "b")) == {"changed": True}
    assert remote.call("file.move", src=str(tmp_path / "a"), dest=str(tmp_path / "b")) == {"changed": False}
    (tmp_path / "c").write_text("y")
    assert fails(remote, "file.move", src=str(tmp_path / "c"), dest=str(tmp_path / "b")).kind == "exists"
    assert fails(remote, "file.move", src=str(tmp_path / "n1"), dest=str(tmp_path / "n2")).kind == "not_found"


def test_file_list(remote: Remote, tmp_path: Path) -> None:
    make_tree(tmp_path)
    top = remote.call("file.list", path=str(tmp_path))["entries"]
    assert [(e["path"], e["type"]) for e in top] == [
        ("a.txt", "file"),
        ("empty", "directory"),
        ("link", "link"),
        ("sub", "directory"),
    ]
    deep = remote.call("file.list", path=str(tmp_path), recursive=True, pattern="*.txt")["entries"]
    assert [e["path"] for e in deep] == ["a.txt", "sub/deep/c.txt"]
    assert fails(remote, "file.list", path=str(tmp_path / "a.txt")).kind == "invalid"


def test_file_tree_hash_follows_its_documented_formula(remote: Remote, tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    h = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f"{p.relative_to(root).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    got = remote.call("file.tree_hash", path=str(root))
    assert got == {"digest": h.hexdigest(), "files": 3, "bytes": sum(p.stat().st_size for p in files)}
    (root / "a.txt").write_text("changed\n")
    assert remote.call("file.tree_hash", path=str(root))["digest"] != got["digest"]


def test_names_with_shell_metacharacters_pass_through_intact(remote: Remote, tmp_path: Path) -> None:
    for i, name in enumerate(NASTY):
        path = tmp_path / f"{i}{name.replace('/', '_')}"
        content = name.encode() + b"\x00\xff"
        remote.call("file.write", path=str(path), content_b64=b64(content))
        assert path.read_bytes() == content
        assert base64.b64decode(remote.call("file.read", path=str(path))["content_b64"]) == content
    listed = {e["path"] for e in remote.call("file.list", path=str(tmp_path))["entries"]}
    assert listed == {p.name for p in tmp_path.iterdir()}


# --------------------------------------------------------------------------- archives


@pytest.mark.parametrize("suffix", ["zip", "tar.gz"])
def test_archive_roundtrip_verify_list_extract(remote: Remote, tmp_path: Path, suffix: str) -> None:
    src = make_tree(tmp_path / "src")
    archive = tmp_path / f"backup.{suffix}"
    made = remote.call("archive.create", src=str(src), dest=str(archive))
    assert made["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert made["size"] == archive.stat().st_size and made["entries"] == 7
    verified = remote.call("archive.verify", path=str(archive))
    assert verified["ok"] is True and verified["sha256"] == made["sha256"]
    names = {e["name"].rstrip("/") for e in remote.call("archive.list", path=str(archive))["entries"]}
    assert {"a.txt", "sub/b.bin", "sub/deep/c.txt", "link", "empty"} <= names
    dest = tmp_path / "restored"
    out = remote.call("archive.extract", src=str(archive), dest=str(dest))
    assert out["changed"] is True
    assert remote.call("file.tree_hash", path=str(dest)) == remote.call("file.tree_hash", path=str(src))
    assert os.readlink(dest / "link") == "a.txt" and (dest / "empty").is_dir()
    assert remote.call("archive.extract", src=str(archive), dest=str(dest)) == {"changed": False, "files": 0}
    (dest / "a.txt").write_text("edited")
    conflict = fails(remote, "archive.extract", src=str(archive), dest=str(dest))
    assert conflict.kind == "exists" and (dest / "a.txt").read_text() == "edited"
    assert remote.call("archive.extract", src=str(archive), dest=str(dest), overwrite=True)["files"] == 1
    assert (dest / "a.txt").read_text() == "alpha\n"


@pytest.mark.parametrize("suffix", ["zip", "tar.gz"])
def test_archive_verify_reports_damage(remote: Remote, tmp_path: Path, suffix: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(200_000))
    archive = tmp_path / f"a.{suffix}"
    remote.call("archive.create", src=str(src), dest=str(archive))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    verified = remote.call("archive.verify", path=str(archive))
    assert verified["ok"] is False and verified["error"]
    assert fails(remote, "archive.verify", path=str(tmp_path / "none.zip")).kind == "not_found"


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"payload") if info.isfile() else None)
    return path


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = 7 if kind == tarfile.REGTYPE else 0
    return info


def _zip(path: Path, name: str, link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good.txt", "fine")
        info = zipfile.ZipInfo(name)
        if link is not None:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, link if link is not None else "payload")
    return path


EVIL_TARS = {
    "dotdot": [_tar_member("../evil")],
    "nested-dotdot": [_tar_member("ok/../../evil")],
    "absolute": [_tar_member("/tmp/cutover-evil-abs")],
    "symlink-out": [_tar_member("ln", tarfile.SYMTYPE, "../../outside")],
    "symlink-absolute": [_tar_member("ln", tarfile.SYMTYPE, "/etc")],
    "hardlink-out": [_tar_member("hl", tarfile.LNKTYPE, "../outside")],
    "hardlink-absolute": [_tar_member("hl", tarfile.LNKTYPE, "/etc/passwd")],
    "device": [_tar_member("dev", tarfile.CHRTYPE)],
    "fifo": [_tar_member("fifo", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(EVIL_TARS))
def test_unsafe_tar_is_refused_and_nothing_is_written(remote: Remote, tmp_path: Path, case: str) -> None:
    members = [_tar_member("good.txt"), _tar_member("dir/also-good.txt"), *EVIL_TARS[case]]
    archive = _tar(tmp_path / "evil.tar.gz", members)
    dest = tmp_path / "work" / "dest"
    refused = fails(remote, "archive.extract", src=str(archive), dest=str(dest))
    assert refused.kind == "unsafe", refused
    assert not (tmp_path / "work").exists(), "nothing may be written, not even the destination"
    listed = remote.call("archive.list", path=str(archive))["entries"]
    assert [e["name"] for e in listed if "unsafe" in e] == [m.name for m in EVIL_TARS[case]]


@pytest.mark.parametrize(
    ("name", "link"), [("../evil.txt", None), ("/abs.txt", None), ("l", "../../x"), ("l", "/etc")]
)
def test_unsafe_zip_is_refused_and_nothing_is_written(
    remote: Remote, tmp_path: Path, name: str, link: str | None
) -> None:
    archive = _zip(tmp_path / "evil.zip", name, link)
    dest = tmp_path / "dest"
    assert fails(remote, "archive.extract", src=str(archive), dest=str(dest)).kind == "unsafe"
    assert not dest.exists() and not (tmp_path / "evil.txt").exists()


def test_strip_is_taken_into_account_for_link_targets(remote: Remote, tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "a.tar.gz", [_tar_member("top/f"), _tar_member("top/ln", tarfile.SYMTYPE, "../f")]
    )
    assert (
        fails(remote, "archive.extract", src=str(archive), dest=str(tmp_path / "d1"), strip=1).kind
        == "unsafe"
    )
    out = remote.call("archive.extract", src=str(archive), dest=str(tmp_path / "d0"))
    assert out["files"] == 2 and (tmp_path / "d0" / "top" / "ln").resolve() == tmp_path / "d0" / "f"


def test_existing_link_out_of_the_destination_is_not_followed(remote: Remote, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    archive = _tar(tmp_path / "a.tar.gz", [_tar_member("first.txt"), _tar_member("sub/evil.txt")])
    assert fails(remote, "archive.extract", src=str(archive), dest=str(dest)).kind == "unsafe"
    assert list(outside.iterdir()) == [] and not (dest / "first.txt").exists()


# --------------------------------------------------------------------------- processes


def test_process_run_passes_argv_env_cwd_and_stdin_intact(remote: Remote, tmp_path: Path) -> None:
    script = 'import os,sys; print(repr(sys.argv[1:])); print(os.getcwd()); print(os.environ["X_VAR"]); print(sys.stdin.read())'
    out = remote.call(
        "process.run",
        argv=["python3", "-c", script, *NASTY],
        cwd=str(tmp_path),
        env={"X_VAR": "$(id) `id` 'q'"},
        stdin_b64=b64(b"from stdin"),
    )
    lines = out["stdout"].splitlines()
    assert out["rc"] == 0 and lines[0] == repr(NASTY)
    assert lines[1:4] == [str(tmp_path), "$(id) `id` 'q'", "from stdin"]


def test_process_run_rc_stderr_and_undecodable_output(remote: Remote) -> None:
    out = remote.call("process.run", argv=["sh", "-c", "printf 'caf\\351'; echo oops >&2; exit 3"])
    assert out == {"rc": 3, "stdout": "caf\ufffd", "stderr": "oops\n"}


def test_process_run_shell_only_when_asked(remote: Remote, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    plain = remote.call("process.run", argv=["echo", f"a; touch {marker}"])
    assert plain["stdout"] == f"a; touch {marker}\n" and not marker.exists()
    shelled = remote.call("process.run", argv=[f'echo "$1"; touch {marker}', "sh", "arg one"], shell=True)
    assert shelled["stdout"] == "arg one\n" and marker.exists()


def test_process_run_errors(remote: Remote, tmp_path: Path) -> None:
    assert fails(remote, "process.run", argv=["/no/such/binary"]).kind == "not_found"
    assert fails(remote, "process.run", argv=["true"], cwd=str(tmp_path / "nope")).kind == "not_found"
    assert fails(remote, "process.run", argv=[]).kind == "invalid"


def test_process_run_timeout_kills_the_whole_process_group(remote: Remote, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}.tmp; echo $$ >> {pids}.tmp; mv {pids}.tmp {pids}; wait"
    failure = fails(remote, "process.run", argv=["sh", "-c", script], timeout=1)
    assert failure.kind == "timeout"
    for pid in wait_for_file(pids).split():
        assert gone(int(pid)), f"process {pid} survived the timeout"
    assert remote.call("host.facts")["os"] == "posix"


def test_disk_free(remote: Remote, tmp_path: Path) -> None:
    out = remote.call("disk.free", path=str(tmp_path))
    st = os.statvfs(tmp_path)
    assert out["total"] == st.f_blocks * st.f_frsize and 0 < out["free"] <= out["total"]
    assert remote.call("disk.free", path=str(tmp_path / "not" / "yet"))["total"] == out["total"]


# --------------------------------------------------------------------------- network and services


ROUTES = {"/health": (200, "path=/health"), "/x": (200, "path=/x")}


def test_http_get(remote: Remote) -> None:
    with http_server(ROUTES) as base:
        ok = remote.call("http.get", url=f"{base}/health")
        assert ok["status"] == 200 and ok["body"] == "path=/health"
        assert ok["headers"]["Content-Type"].startswith("text/plain") and ok["elapsed"] >= 0
        assert remote.call("http.get", url=f"{base}/missing")["status"] == 404
        cut = remote.call("http.get", url=f"{base}/x", max_bytes=4)
        assert (cut["body"], cut["truncated"]) == ("path", True)
    assert fails(remote, "http.get", url="file:///etc/passwd").kind == "invalid"
    assert fails(remote, "http.get", url=f"http://127.0.0.1:{_closed_port()}/").kind == "failed"


def test_http_get_sends_the_headers_asked_for(remote: Remote) -> None:
    request = bytearray()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer_once() -> None:
            client, _ = listener.accept()
            with client:
                while b"\r\n\r\n" not in request:
                    request.extend(client.recv(4096))
                client.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

        server = threading.Thread(target=answer_once)
        server.start()
        port = listener.getsockname()[1]
        out = remote.call("http.get", url=f"http://127.0.0.1:{port}/", headers={"X-Probe": "it's $(me)"})
        server.join()
    assert out["body"] == "ok" and b"X-Probe: it's $(me)\r\n" in request


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_net_port(remote: Remote) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert remote.call("net.port", port=listener.getsockname()[1]) == {"open": True}
    assert remote.call("net.port", port=_closed_port(), timeout=1) == {"open": False}
    assert fails(remote, "net.port", port=70000).kind == "invalid"


def test_services_use_systemd_or_say_unsupported(remote: Remote) -> None:
    if not os.path.isdir("/run/systemd/system"):
        assert fails(remote, "service.get", name="cron").kind == "unsupported"
        assert fails(remote, "service.set", name="cron", state="running").kind == "unsupported"
    else:
        assert remote.call("service.get", name="no-such-unit-cutover")["exists"] is False
        assert fails(remote, "service.set", name="no-such-unit-cutover", state="running").kind == "not_found"
    assert fails(remote, "service.get", name="--evil").kind in ("invalid", "unsupported")


# --------------------------------------------------------------------------- the connection itself


def test_call_timeout_stops_the_remote_work_and_the_next_call_starts_a_new_helper(
    conn: LocalConnection, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    script = f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60"
    old_helper = conn.helper_pid
    with pytest.raises(TaskTimeout) as info:
        conn.call([{"op": "process.run", "args": {"argv": ["sh", "-c", script]}}], timeout=1)
    assert info.value.kind == "timeout"
    assert gone(int(wait_for_file(pidfile))), "the command outlived its timeout"
    assert conn.call([{"op": "host.facts", "args": {}}])[0]["ok"] is True
    assert conn.helper_pid != old_helper


def test_helper_killed_mid_call_is_connection_failed_then_recovers(
    conn: LocalConnection, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    script = f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60"
    conn.call([{"op": "host.facts", "args": {}}])
    helper = conn.pid
    assert helper is not None
    killer = threading.Thread(target=lambda: (wait_for_file(pidfile), os.kill(helper, 9)))
    killer.start()
    with pytest.raises(ConnectionFailed, match="connection dropped"):
        conn.call([{"op": "process.run", "args": {"argv": ["sh", "-c", script]}}])
    killer.join()
    assert conn.call([{"op": "host.facts", "args": {}}])[0]["ok"] is True
    os.kill(int(wait_for_file(pidfile)), 9)  # a SIGKILLed helper cannot clean up: we do


def test_interrupt_from_another_thread_stops_the_call(conn: LocalConnection, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60"
    conn.call([{"op": "host.facts", "args": {}}])
    stopper = threading.Thread(target=lambda: (wait_for_file(pidfile), conn.interrupt()))
    stopper.start()
    with pytest.raises(TaskTimeout) as info:
        conn.call([{"op": "process.run", "args": {"argv": ["sh", "-c", script]}}])
    stopper.join()
    assert info.value.kind == "interrupted"
    assert gone(int(wait_for_file(pidfile)))
    assert conn.call([{"op": "host.facts", "args": {}}])[0]["ok"] is True


def test_missing_interpreter_is_connection_failed() -> None:
    host = Host(name="bad", address="localhost", connection="local", settings={"python": "/no/python3"})
    with pytest.raises(ConnectionFailed, match="cannot start"):
        LocalConnection(host).open()
