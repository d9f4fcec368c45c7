"""The generic built-in modules against the real local connection (the POSIX helper as a child process).

Every state module runs twice (changed, then ok); check mode is proved to change nothing by
comparing a snapshot of the folder before and after; the refusals (unsafe archives, existing
backups, unapproved gates) are shown to leave nothing written.
"""

from __future__ import annotations

import hashlib
import io
import socket
import stat
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from engine.api.module import Gatekeeper, Result, RunContext
from engine.core.errors import UserError
from tests.support.modharness import check_args, http_server, local_connection, run_module, snapshot


@pytest.fixture(scope="module")
def conn():
    with local_connection() as connection:
        yield connection


def twice(name: str, args: Any, conn, **kw: Any) -> tuple[Result, Result]:
    """Run a module twice; the first run must change, the second must be ok (idempotence)."""
    first = run_module(name, args, connection=conn, **kw)
    assert not first.failed, first.msg
    assert first.changed, f"{name}: first run should change"
    second = run_module(name, args, connection=conn, **kw)
    assert not second.failed, second.msg
    assert not second.changed, f"{name}: second run should be ok"
    return first, second


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- command / shell ------------------------------------------------------------------------------


def test_command_passes_quotes_substitutions_and_semicolons_literally(conn, tmp_path):
    marker = tmp_path / "pwned"
    result = run_module("command", f"printf '%s|' \"a;b\" '$(id)' 'x y' '; touch {marker}'", connection=conn)
    assert not result.failed
    assert result.changed
    assert result.output["stdout"] == f"a;b|$(id)|x y|; touch {marker}|"
    assert result.output["cmd"][:2] == ["printf", "%s|"]
    assert not marker.exists()


def test_command_argv_chdir_env_stdin(conn, tmp_path):
    result = run_module(
        "command",
        {
            "argv": ["sh", "-c", 'pwd; printf "%s\\n" "$GREETING"; cat'],
            "chdir": str(tmp_path),
            "env": {"GREETING": "a b;$(c)"},
            "stdin": "from stdin",
        },
        connection=conn,
    )
    assert result.output["stdout_lines"] == [str(tmp_path), "a b;$(c)", "from stdin"]
    assert result.output["rc"] == 0


def test_command_guards_make_it_idempotent(conn, tmp_path):
    target = tmp_path / "made"
    args = {"cmd": f"touch {target}", "creates": str(target)}
    twice("command", args, conn)
    assert target.exists()
    skipped = run_module("command", {"cmd": "false", "removes": str(tmp_path / "absent")}, connection=conn)
    assert not skipped.changed and not skipped.failed
    assert "does not exist" in skipped.msg


def test_command_nonzero_rc_fails_with_output(conn):
    result = run_module("command", {"argv": ["sh", "-c", "echo out; echo err >&2; exit 3"]}, connection=conn)
    assert result.failed
    assert result.output["rc"] == 3
    assert result.output["stdout"] == "out"
    assert result.output["stderr_lines"] == ["err"]


def test_command_check_mode_runs_nothing(conn, tmp_path):
    target = tmp_path / "made"
    result = run_module("command", f"touch {target}", connection=conn, check=True)
    assert result.changed and not result.failed
    assert not target.exists()
    target.touch()
    guarded = run_module(
        "command", {"cmd": f"rm {target}", "creates": str(target)}, connection=conn, check=True
    )
    assert not guarded.changed


def test_command_unclosed_quote_is_a_clear_failure(conn):
    result = run_module("command", "echo 'oops", connection=conn)
    assert result.failed
    assert "cannot split command" in result.msg


def test_shell_runs_through_the_shell_and_env_stays_data(conn, tmp_path):
    (tmp_path / "a.log").write_text("1\n2\n3\n")
    result = run_module(
        "shell",
        {
            "cmd": 'cat *.log | wc -l; printf "%s" "$VALUE"',
            "chdir": str(tmp_path),
            "env": {"VALUE": "x; rm -rf /"},
        },
        connection=conn,
    )
    assert result.output["stdout_lines"] == ["3", "x; rm -rf /"]
    bash = run_module(
        "shell", {"cmd": "echo ${BASH_VERSION:+bash}", "executable": "/bin/bash"}, connection=conn
    )
    assert bash.output["stdout"] == "bash"


# --- file -----------------------------------------------------------------------------------------


def test_file_directory_touch_absent_are_idempotent(conn, tmp_path):
    folder = tmp_path / "a" / "b"
    twice("file", {"path": str(folder), "state": "directory", "mode": "0750"}, conn)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    target = folder / "f.txt"
    twice("file", {"path": str(target), "state": "touch", "mode": "0600"}, conn)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    twice("file", {"path": str(target), "state": "file", "mode": "0644"}, conn)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    twice("file", {"path": str(tmp_path / "a"), "state": "absent"}, conn)
    assert not (tmp_path / "a").exists()


def test_file_recurse_sets_mode_below(conn, tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x").write_text("x")
    twice("file", {"path": str(tmp_path / "d"), "state": "directory", "mode": "0700", "recurse": True}, conn)
    assert stat.S_IMODE((tmp_path / "d" / "sub" / "x").stat().st_mode) == 0o700


def test_file_refusals(conn, tmp_path):
    missing = run_module("file", {"path": str(tmp_path / "nope")}, connection=conn)
    assert missing.failed and "state: touch" in missing.msg
    (tmp_path / "plain").write_text("x")
    clash = run_module("file", {"path": str(tmp_path / "plain"), "state": "directory"}, connection=conn)
    assert clash.failed and "not a folder" in clash.msg


def test_file_diff_shows_before_and_after(conn, tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o644)
    result = run_module("file", {"path": str(target), "mode": "0600"}, connection=conn, diff=True)
    assert result.diff["before"]["mode"] == "0644"
    assert result.diff["after"]["mode"] == "0600"


def test_file_mode_must_be_a_quoted_octal_string():
    with pytest.raises(UserError, match="mode"):
        check_args("file", {"path": "/x", "mode": 420})
    with pytest.raises(UserError, match="stat"):
        check_args("file", {"path": "/x", "stat": "directory"})


# --- copy / template ------------------------------------------------------------------------------


def test_copy_content_and_src(conn, tmp_path):
    dest = tmp_path / "out" / "app.conf"
    dest.parent.mkdir()
    first, second = twice("copy", {"content": "a=1\n", "dest": str(dest), "mode": "0640"}, conn)
    assert dest.read_text() == "a=1\n"
    assert first.output["sha256"] == sha(b"a=1\n") == second.output["sha256"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    playbook = tmp_path / "pb"
    (playbook / "files").mkdir(parents=True)
    (playbook / "files" / "blob.bin").write_bytes(b"\x00\x01binary")
    twice("copy", {"src": "files/blob.bin", "dest": str(tmp_path / "out") + "/"}, conn, playbook_dir=playbook)
    assert (tmp_path / "out" / "blob.bin").read_bytes() == b"\x00\x01binary"


def test_copy_missing_src_is_a_clear_failure(conn, tmp_path):
    result = run_module(
        "copy", {"src": "nope.txt", "dest": str(tmp_path / "x")}, connection=conn, playbook_dir=tmp_path
    )
    assert result.failed and "src 'nope.txt' is not found" in result.msg


def test_copy_backup_records_a_verified_artifact(conn, tmp_path):
    dest = tmp_path / "config.php"
    dest.write_text("old\n")
    result = run_module("copy", {"content": "new\n", "dest": str(dest), "backup": True}, connection=conn)
    assert result.changed and not result.failed
    [artifact] = result.artifacts
    assert artifact.kind == "file_backup"
    assert artifact.resource == f"files:local:{dest}"
    assert artifact.verified
    assert artifact.sha256 == sha(b"old\n")
    assert Path(artifact.location).read_text() == "old\n"
    assert dest.read_text() == "new\n"
    again = run_module("copy", {"content": "new\n", "dest": str(dest), "backup": True}, connection=conn)
    assert not again.changed and not again.artifacts


def test_copy_destructive_unless_it_backs_up():
    from engine.api.registry import ModuleRegistry
    from tests.support.modharness import local_host

    copy = ModuleRegistry().get("copy")
    host = local_host()
    assert copy.destructive
    assert copy.destroys({"dest": "/etc/x"}, host) == ["files:local:/etc/x"]
    assert copy.destroys({"dest": "/etc/x", "backup": True}, host) == []
    assert copy.protects({"dest": "/etc/x", "backup": True}, host) == ["files:local:/etc/x"]


def test_copy_diff_is_a_unified_text_diff(conn, tmp_path):
    dest = tmp_path / "t.txt"
    dest.write_text("one\ntwo\n")
    result = run_module("copy", {"content": "one\nthree\n", "dest": str(dest)}, connection=conn, diff=True)
    assert "-two\n" in result.diff["unified"] and "+three\n" in result.diff["unified"]
    assert result.diff["before"] == "one\ntwo\n"
    binary = run_module("copy", {"content": "x", "dest": str(tmp_path / "new")}, connection=conn, check=True)
    assert binary.diff["before"] == ""


def test_copy_force_false_keeps_an_existing_file(conn, tmp_path):
    dest = tmp_path / "keep"
    dest.write_text("mine")
    result = run_module("copy", {"content": "theirs", "dest": str(dest), "force": False}, connection=conn)
    assert not result.changed
    assert dest.read_text() == "mine"


def test_template_renders_with_vars(conn, tmp_path):
    (tmp_path / "local_config.php.j2").write_text(
        "<?php\n$db = '{{ db_name }}';\n{% for h in hosts %}// {{ h }}\n{% endfor %}"
    )
    dest = tmp_path / "local_config.php"
    args = {"src": "local_config.php.j2", "dest": str(dest)}
    variables = {"db_name": "crm", "hosts": ["a", "b"]}
    twice("template", args, conn, vars=variables, playbook_dir=tmp_path)
    assert dest.read_text() == "<?php\n$db = 'crm';\n// a\n// b\n"
    inline = tmp_path / "inline"
    twice("template", {"content": "v={{ version }}\n", "dest": str(inline)}, conn, vars={"version": "7.3"})
    assert inline.read_text() == "v=7.3\n"


def test_template_undefined_variable_names_it(conn, tmp_path):
    result = run_module("template", {"content": "{{ nope }}", "dest": str(tmp_path / "x")}, connection=conn)
    assert result.failed and "nope" in result.msg
    assert not (tmp_path / "x").exists()


# --- archive / unarchive --------------------------------------------------------------------------


def make_tree(root: Path) -> Path:
    (root / "src" / "sub").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("alpha")
    (root / "src" / "sub" / "b.bin").write_bytes(b"\x00" * 100)
    return root / "src"


@pytest.mark.parametrize("name", ["backup.zip", "backup.tar.gz"])
def test_archive_records_verified_artifact_and_is_idempotent(conn, tmp_path, name):
    src = make_tree(tmp_path)
    dest = tmp_path / "backups" / name  # the folder is created
    first, second = twice("archive", {"path": str(src), "dest": str(dest)}, conn)
    for result in (first, second):
        [artifact] = result.artifacts
        assert artifact.kind == "archive"
        assert artifact.resource == f"files:local:{src}"
        assert artifact.verified
        assert artifact.sha256 == sha(dest.read_bytes())
    assert first.output["files"] == 2
    (src / "a.txt").write_text("changed")
    refused = run_module("archive", {"path": str(src), "dest": str(dest)}, connection=conn)
    assert refused.failed and "overwrite" in refused.msg
    redone = run_module("archive", {"path": str(src), "dest": str(dest), "overwrite": True}, connection=conn)
    assert redone.changed and redone.artifacts[0].sha256 == sha(dest.read_bytes())


def test_archive_protects_its_folder_and_refuses_dest_inside(conn, tmp_path):
    from engine.api.registry import ModuleRegistry
    from tests.support.modharness import local_host

    assert ModuleRegistry().get("archive").protects({"path": "/srv/crm", "dest": "/b.zip"}, local_host()) == [
        "files:local:/srv/crm"
    ]
    src = make_tree(tmp_path)
    inside = run_module("archive", {"path": str(src), "dest": str(src / "self.zip")}, connection=conn)
    assert inside.failed and "inside" in inside.msg


def test_unarchive_extracts_once(conn, tmp_path):
    src = make_tree(tmp_path)
    run_module("archive", {"path": str(src), "dest": str(tmp_path / "b.zip")}, connection=conn)
    dest = tmp_path / "restored"
    first, _ = twice("unarchive", {"src": str(tmp_path / "b.zip"), "dest": str(dest)}, conn)
    assert first.output["files"] == 2
    assert (dest / "sub" / "b.bin").read_bytes() == b"\x00" * 100
    (dest / "a.txt").write_text("local edit")
    refused = run_module("unarchive", {"src": str(tmp_path / "b.zip"), "dest": str(dest)}, connection=conn)
    assert refused.failed and "overwrite" in refused.msg
    assert (dest / "a.txt").read_text() == "local edit"
    twice("unarchive", {"src": str(tmp_path / "b.zip"), "dest": str(dest), "overwrite": True}, conn)
    assert (dest / "a.txt").read_text() == "alpha"


def zip_with(path: Path, members: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def tar_with_link(path: Path, target: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("escape")
        link.type = tarfile.SYMTYPE
        link.linkname = target
        tar.addfile(link)
    return path


@pytest.mark.parametrize(
    ("kind", "member"),
    [
        ("dotdot", "../evil.txt"),
        ("absolute", "/tmp/cutover-evil-absolute.txt"),
        ("zip-link", "link"),
        ("tar-link", "escape"),
    ],
)
def test_unarchive_refuses_members_that_escape(conn, tmp_path, kind, member):
    if kind == "tar-link":
        archive = tar_with_link(tmp_path / "evil.tar.gz", "../../etc")
    elif kind == "zip-link":
        archive = zip_with(
            tmp_path / "evil.zip",
            [("fine.txt", b"ok", None), ("link", b"../../outside", stat.S_IFLNK | 0o777)],
        )
    else:
        archive = zip_with(tmp_path / "evil.zip", [("fine.txt", b"ok", None), (member, b"evil", None)])
    dest = tmp_path / "dest"
    before = snapshot(tmp_path)
    for check in (True, False):
        result = run_module(
            "unarchive", {"src": str(archive), "dest": str(dest)}, connection=conn, check=check
        )
        assert result.failed
        assert result.msg.startswith(f"refused: member {member} escapes {dest}")
        assert result.output["unsafe"] == [member]
    assert snapshot(tmp_path) == before
    assert not Path("/tmp/cutover-evil-absolute.txt").exists()


def test_windows_paths_on_a_simulated_host(tmp_path):
    from engine.connect.sim import SimConnection
    from engine.core.model import Host

    sim = SimConnection(
        Host(name="web1", address="10.0.0.1", connection="sim"), state_dir=str(tmp_path / "state")
    )
    sim.open()
    try:
        install = r"C:\Program Files (x86)\Sage\CRM\CRM"
        twice("file", {"path": install + r"\cfg", "state": "directory"}, sim)
        (tmp_path / "eware.ini").write_text("x=1\n")
        twice("copy", {"src": "eware.ini", "dest": install + "\\"}, sim, playbook_dir=tmp_path)
        first, _ = twice("archive", {"path": install, "dest": r"C:\Backup\crm.zip"}, sim)
        assert first.artifacts[0].resource == f"files:web1:{install}"
        inside = run_module("archive", {"path": install, "dest": install + r"\self.zip"}, connection=sim)
        assert inside.failed and "inside" in inside.msg
        twice("unarchive", {"src": r"C:\Backup\crm.zip", "dest": r"C:\Restore"}, sim)
        restored = run_module("stat", {"path": r"C:\Restore\eware.ini", "checksum": True}, connection=sim)
        assert restored.output["stat"]["checksum"] == sha(b"x=1\n")
        words = run_module("command", r'"C:\Windows\System32\cmd.exe" /c echo hi', connection=sim, check=True)
        assert words.output["cmd"] == [r"C:\Windows\System32\cmd.exe", "/c", "echo", "hi"]
    finally:
        sim.close()


# --- check mode: nothing changes ------------------------------------------------------------------


def test_check_mode_changes_nothing(conn, tmp_path):
    src = make_tree(tmp_path)
    (tmp_path / "existing.txt").write_text("old")
    run_module("archive", {"path": str(src), "dest": str(tmp_path / "b.zip")}, connection=conn)
    (src / "a.txt").write_text("newer")
    (tmp_path / "t.j2").write_text("{{ x }}")
    tasks = [
        ("file", {"path": str(tmp_path / "newdir"), "state": "directory"}),
        ("file", {"path": str(src), "state": "absent"}),
        ("file", {"path": str(tmp_path / "existing.txt"), "mode": "0600"}),
        ("copy", {"content": "new", "dest": str(tmp_path / "existing.txt"), "backup": True}),
        ("template", {"src": "t.j2", "dest": str(tmp_path / "t.txt")}),
        ("archive", {"path": str(src), "dest": str(tmp_path / "b2.tar.gz")}),
        ("unarchive", {"src": str(tmp_path / "b.zip"), "dest": str(tmp_path / "restored")}),
        ("command", {"cmd": f"rm -rf {src}"}),
        ("shell", {"cmd": f"echo x > {tmp_path}/shell.txt"}),
        ("gate", {"id": "g", "prompt": "go?"}),
    ]
    before = snapshot(tmp_path)
    for name, args in tasks:
        result = run_module(name, args, connection=conn, check=True, vars={"x": 1}, playbook_dir=tmp_path)
        assert not result.failed, (name, result.msg)
        assert result.changed, name
    assert snapshot(tmp_path) == before


# --- stat / wait_for / http_check ------------------------------------------------------------------


def test_stat(conn, tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"data")
    found = run_module("stat", {"path": str(target), "checksum": True}, connection=conn).output["stat"]
    assert found["exists"] and found["isreg"] and not found["isdir"]
    assert found["size"] == 4 and found["checksum"] == sha(b"data")
    (tmp_path / "l").symlink_to(target)
    link = run_module("stat", {"path": str(tmp_path / "l")}, connection=conn).output["stat"]
    assert link["islnk"] and link["lnk_target"] == str(target)
    missing = run_module("stat", {"path": str(tmp_path / "nope")}, connection=conn)
    assert missing.output["stat"] == {"exists": False, "path": str(tmp_path / "nope")}
    assert not missing.changed and not missing.failed


def test_wait_for_path_appears_and_times_out(conn, tmp_path):
    target = tmp_path / "ready"
    timer = threading.Timer(0.3, target.touch)
    timer.start()
    try:
        result = run_module("wait_for", {"path": str(target), "timeout": 30, "sleep": 0.05}, connection=conn)
    finally:
        timer.cancel()
    assert not result.failed and target.exists()
    assert result.output["attempts"] >= 1
    gone = run_module(
        "wait_for", {"path": str(tmp_path / "never"), "timeout": 0.3, "sleep": 0.1}, connection=conn
    )
    assert gone.failed and "timeout" in gone.msg
    absent = run_module("wait_for", {"path": str(tmp_path / "never"), "state": "absent"}, connection=conn)
    assert not absent.failed


def test_wait_for_port_states(conn):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        up = run_module("wait_for", {"port": port, "timeout": 5}, connection=conn)
        assert not up.failed
    finally:
        listener.close()
    down = run_module("wait_for", {"port": port, "state": "stopped", "timeout": 5}, connection=conn)
    assert not down.failed


def test_wait_for_stops_when_the_run_is_interrupted(conn, tmp_path):
    run = RunContext(run_id="t", operator="tester")
    run.interrupted.set()
    result = run_module(
        "wait_for", {"path": str(tmp_path / "never"), "timeout": 600}, connection=conn, run=run
    )
    assert result.failed and "interrupted" in result.msg


def test_wait_for_url_and_check_mode(conn, tmp_path):
    with http_server({"/": (200, "up")}) as base:
        result = run_module("wait_for", {"url": base + "/", "timeout": 5}, connection=conn)
        assert not result.failed
    probe = run_module(
        "wait_for", {"path": str(tmp_path / "never"), "timeout": 600}, connection=conn, check=True
    )
    assert not probe.failed and probe.output == {"state": "down", "waited": False}


def test_http_check(conn):
    routes = {"/": (200, "Welcome to Sage CRM"), "/login": (401, "login"), "/down": (503, "pool stopped")}
    with http_server(routes) as base:
        ok = run_module("http_check", {"url": base + "/", "contains": "Sage CRM"}, connection=conn)
        assert not ok.failed and ok.output["status"] == 200 and ok.output["body"] == "Welcome to Sage CRM"
        listed = run_module("http_check", {"url": base + "/login", "status": [200, 401]}, connection=conn)
        assert not listed.failed
        wrong = run_module("http_check", {"url": base + "/down", "retries": 1, "delay": 0}, connection=conn)
        assert wrong.failed and "status 503, expected 200" in wrong.msg and wrong.output["attempts"] == 2
        missing = run_module("http_check", {"url": base + "/", "contains": "1CRM"}, connection=conn)
        assert missing.failed and "does not contain" in missing.msg
        controller = run_module("http_check", {"url": base + "/", "from": "controller"})
        assert not controller.failed and controller.output["status"] == 200
        in_check = run_module("http_check", {"url": base + "/down"}, connection=conn, check=True)
        assert not in_check.failed and in_check.output["status"] == 503


# --- controller modules -----------------------------------------------------------------------------


def test_assert_fail_debug_set_fact():
    variables = {"result": {"rc": 0, "stdout": "7.3"}, "version": "7.3"}
    passed = run_module(
        "assert", {"that": ["result.rc == 0", "version is version('7.2', '>=')"]}, vars=variables
    )
    assert not passed.failed and not passed.changed
    failed = run_module(
        "assert",
        {"that": ["result.rc == 0", "version == '7.2'"], "fail_msg": "wrong version"},
        vars=variables,
    )
    assert failed.failed and failed.msg == "wrong version"
    assert failed.output["assertion"] == "version == '7.2'"
    undefined = run_module("assert", {"that": "nope == 1"}, vars=variables)
    assert undefined.failed and "nope" in undefined.msg
    stop = run_module("fail", "stop here")
    assert stop.failed and stop.msg == "stop here"
    shown = run_module("debug", {"var": "result.stdout"}, vars=variables)
    assert shown.output == {"result.stdout": "7.3"} and not shown.changed
    assert run_module("debug", "hello").output == {"msg": "hello"}
    facts = run_module("set_fact", {"crm_version": "7.3", "hosts": ["a"]})
    assert facts.facts == {"crm_version": "7.3", "hosts": ["a"]} and not facts.changed
    with pytest.raises(UserError):
        check_args("set_fact", {"not-a-name": 1})


class Recording(Gatekeeper):
    def __init__(self, answer: dict[str, Any]):
        self.answer = answer
        self.asked: list[tuple[str, str, str | None]] = []

    def approve(self, gate_id: str, prompt: str, host: str | None) -> dict[str, Any]:
        self.asked.append((gate_id, prompt, host))
        return dict(self.answer)


def test_gate_approved_denied_and_checked():
    yes = Recording(
        {"approved": True, "by": "alice", "at": "2024-05-02T15:00:00+00:00", "comment": "tests green"}
    )
    result = run_module(
        "gate", {"id": "signoff", "prompt": "Client signed off?", "deadline": "16:00"}, gatekeeper=yes
    )
    assert result.changed and not result.failed
    assert result.output == {
        "id": "signoff",
        "deadline": "16:00",
        "approved": True,
        "by": "alice",
        "at": "2024-05-02T15:00:00+00:00",
        "comment": "tests green",
    }
    assert yes.asked == [("signoff", "Client signed off?", "local")]
    no = Recording({"approved": False, "by": "bob", "at": "x", "comment": "PDF broken"})
    denied = run_module("gate", {"id": "signoff", "prompt": "ok?"}, gatekeeper=no)
    assert denied.failed and denied.msg == "gate signoff not approved: PDF broken"
    stranger = run_module("gate", {"id": "g", "prompt": "ok?", "signers": ["carol"]}, gatekeeper=yes)
    assert stranger.failed and "not one of the signers" in stranger.msg
    no_roles = run_module("gate", {"id": "g", "prompt": "ok?", "required_role": "dba"}, gatekeeper=yes)
    assert no_roles.failed and "roles are unknown" in no_roles.msg
    dba = Recording({"approved": True, "by": "dan", "at": "x", "roles": ["dba"]})
    assert not run_module("gate", {"id": "g", "prompt": "ok?", "required_role": "dba"}, gatekeeper=dba).failed
    bad_deadline = run_module("gate", {"id": "g", "prompt": "ok?", "deadline": "4pm"}, gatekeeper=yes)
    assert bad_deadline.failed and "HH:MM" in bad_deadline.msg
    watcher = Recording({"approved": True})
    checked = run_module("gate", {"id": "g", "prompt": "ok?"}, gatekeeper=watcher, check=True)
    assert checked.changed and not watcher.asked


def test_every_schema_is_closed_and_documented():
    from engine.api.registry import ModuleRegistry

    registry = ModuleRegistry()
    for name in (
        "command",
        "shell",
        "file",
        "copy",
        "template",
        "archive",
        "unarchive",
        "stat",
        "wait_for",
        "http_check",
        "assert",
        "fail",
        "debug",
        "gate",
    ):
        schema = registry.get(name).schema
        assert schema["additionalProperties"] is False, name
        for arg, spec in schema["properties"].items():
            assert spec.get("description"), f"{name}.{arg} has no description"
    assert registry.get("assert").name == "assert"
