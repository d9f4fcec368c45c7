"""Values are data in every kind of argument: hostile text reaches the host byte for byte, never as code.

The same hostile corpus (quotes, backticks, `$()`, `;`, `--`, newlines, and NUL where a kind can
carry it) goes through every place a value can travel:

- POSIX `process.run` argv, env, stdin and cwd, and file names and content, through the local
  connection AND a real sshd (the same helper at the far end of two different transports);
- the `command` module (literal, never a shell) and the `shell` module (a shell by definition:
  a value templated into `shell:` is interpreted, which is the operator's responsibility and
  documented; `env:` is the data channel);
- Windows primitives over a real WinRM client (pywinrm, NTLM sealing) to the test endpoint, whose
  simulated host plays Windows: file names and content, registry key/value names and data, service
  names, process argv/env/stdin/cwd; the decrypted wire is recorded to show the values travel
  only inside the base64 JSON on stdin, never on a command line;
- SQL through engine/db: values bound, identifiers quoted or refused (SQLite always; MariaDB and
  PostgreSQL through the session's real servers).

Where a kind cannot carry NUL (file names, argv, env, Windows names) the host answers `invalid`
instead of truncating the value at the NUL.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from engine.api.primitives import PrimitiveFailed, Remote
from engine.connect import connection_for
from engine.connect.local import LocalConnection
from engine.connect.winrm import BOOTSTRAP_SCRIPT, WinRMConnection
from engine.core.model import Host
from engine.db import DbError, InvalidIdentifier, connect, dialect_for
from simulation.host import SimHost, register_program, unregister_program
from tests.support import sshd as sshd_support
from tests.support.dbservers import mariadb_server, new_run, postgres_server, run_db_module  # noqa: F401
from tests.support.modharness import run_module
from tests.support.runs import local_inventory, run_cli, write_yaml
from tests.support.winrm_endpoint import WinRMEndpoint
from tests.support.winrm_soap import NS

sshd_server = sshd_support.sshd_server  # the session fixture, registered in this module

REPO = Path(__file__).resolve().parents[2]


def hostile(canary: Path) -> list[str]:
    """Text that does harm (creates `canary`) wherever a value is pasted into shell, PowerShell or SQL."""
    return [
        "it's",
        'say "hi"',
        f"`touch {canary}`",
        f"$(touch {canary})",
        f"a; touch {canary}",
        f"x && touch {canary} || y",
        f"| touch {canary}",
        "-- --help",
        "--output=/etc/passwd",
        "line1\nline2",
        "crlf\r\n",
        "tab\there",
        "back\\slash",
        "${IFS}$HOME",
        "*",
        "'; DROP TABLE victim; --",
        "%PATH% ^& |",
        "ünïcødé €",
    ]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def fails(remote: Remote, op: str, **args: Any) -> PrimitiveFailed:
    with pytest.raises(PrimitiveFailed) as info:
        remote.call(op, **args)
    return info.value


# =========================================================================== POSIX: local and ssh


@pytest.fixture(scope="module", params=["local", "ssh"])
def posix(request: pytest.FixtureRequest) -> Iterator[Remote]:
    """A Remote to this machine through the local connection or through the real sshd."""
    if request.param == "local":
        conn: Any = LocalConnection(Host(name="local", address="localhost", connection="local"))
    else:
        conn = connection_for(request.getfixturevalue("sshd_server").ssh_host("h3"))
    conn.open()
    try:
        yield Remote(conn)
    finally:
        conn.close()


ECHO_SCRIPT = (
    "import base64, json, os, sys; "
    "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), "
    "'env': {k: v for k, v in os.environ.items() if k.startswith('HOSTILE_')}, "
    "'stdin': base64.b64encode(sys.stdin.buffer.read()).decode()}))"
)


def test_posix_process_argv_env_stdin_cwd_are_data(posix: Remote, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    values = hostile(canary)
    cwd = tmp_path / "dir 'q' \"dq\" $(touch canary) ;\nnl"
    posix.call("file.mkdir", path=str(cwd))
    stdin = "\x00".join(values).encode() + b"\x00\xff"
    env = {f"HOSTILE_{i}": v for i, v in enumerate(values)}
    out = posix.call(
        "process.run",
        argv=["python3", "-c", ECHO_SCRIPT, *values],
        cwd=str(cwd),
        env=env,
        stdin_b64=b64(stdin),
    )
    assert out["rc"] == 0, out["stderr"]
    seen = json.loads(out["stdout"])
    assert seen["argv"] == values
    assert seen["cwd"] == str(cwd)
    assert seen["env"] == env
    assert base64.b64decode(seen["stdin"]) == stdin
    assert not canary.exists()


def test_posix_file_names_and_content_round_trip(posix: Remote, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    root = tmp_path / "files"
    posix.call("file.mkdir", path=str(root))
    expected: dict[str, bytes] = {}
    for i, value in enumerate(hostile(canary)):
        name = f"{i}-{value.replace('/', '_')}"
        content = value.encode() + b"\x00\xff\r\n"
        path = root / name
        posix.call("file.write", path=str(path), content_b64=b64(content))
        assert path.read_bytes() == content  # on disk, under exactly that name
        assert base64.b64decode(posix.call("file.read", path=str(path))["content_b64"]) == content
        assert posix.call("file.stat", path=str(path))["size"] == len(content)
        posix.call("file.copy", src=str(path), dest=str(path) + " copy")
        posix.call("file.move", src=str(path) + " copy", dest=str(path) + " moved")
        expected[name] = expected[name + " moved"] = content
    listed = {e["path"] for e in posix.call("file.list", path=str(root))["entries"]}
    assert listed == set(expected) == {p.name for p in root.iterdir()}
    archive = tmp_path / "names.zip"
    posix.call("archive.create", src=str(root), dest=str(archive))
    posix.call("archive.extract", src=str(archive), dest=str(tmp_path / "copy"))
    assert {p.name: p.read_bytes() for p in (tmp_path / "copy").iterdir()} == expected
    assert not canary.exists()


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("process.run", {"argv": ["echo", "a\x00b"]}),
        ("process.run", {"argv": ["ech\x00o", "x"]}),
        ("process.run", {"argv": ["true"], "env": {"V": "a\x00b"}}),
        ("process.run", {"argv": ["true"], "env": {"V\x00W": "x"}}),
        ("process.run", {"argv": ["true"], "cwd": "/tmp\x00/x"}),
        ("file.write", {"path": "{tmp}/name\x00.txt", "content_b64": "eA=="}),
        ("file.mkdir", {"path": "{tmp}/dir\x00x"}),
        ("file.stat", {"path": "{tmp}\x00"}),
    ],
)
def test_posix_nul_where_it_cannot_travel_is_invalid_not_truncated(
    posix: Remote, tmp_path: Path, op: str, args: dict[str, Any]
) -> None:
    args = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in args.items()}
    error = fails(posix, op, **args)
    assert error.kind == "invalid", error
    assert "NUL" in str(error) or "list of strings" in str(error)
    assert list(tmp_path.iterdir()) == []  # nothing written under the part before the NUL


# =========================================================================== command and shell modules


@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_command_module_passes_every_value_literally(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    canary = tmp_path / "canary"
    values = hostile(canary)
    if kind == "local":
        conn: Any = LocalConnection(Host(name="local", address="localhost", connection="local"))
    else:
        conn = connection_for(request.getfixturevalue("sshd_server").ssh_host("h4"))
    with conn:
        as_list = run_module("command", {"argv": ["printf", "%s\\0", *values]}, connection=conn)
        assert not as_list.failed, as_list.msg
        assert as_list.output["stdout"].split("\0")[:-1] == values
        line = f"printf '%s|' \"it's\" '$(touch {canary})' ; touch {canary} && `touch {canary}`"
        as_line = run_module("command", line, connection=conn)
        assert not as_line.failed, as_line.msg
        assert as_line.output["stdout"] == f"it's|$(touch {canary})|;|touch|{canary}|&&|`touch|{canary}`|"
        with_nul = run_module("command", {"argv": ["printf", "a\x00b"]}, connection=conn)
        assert with_nul.failed and with_nul.output["kind"] == "invalid"
    assert not canary.exists()


def test_argv_with_trailing_newlines_is_exact(tmp_path: Path) -> None:
    """The registered stdout is stripped of ONE trailing line end (like Ansible); argv itself is exact."""
    with LocalConnection(Host(name="local", address="localhost", connection="local")) as conn:
        result = run_module(
            "command", {"argv": ["python3", "-c", ECHO_SCRIPT, "crlf\r\n", "lf\n"]}, connection=conn
        )
    assert json.loads(result.output["stdout"])["argv"] == ["crlf\r\n", "lf\n"]


def test_playbook_values_in_command_and_shell(tmp_path: Path) -> None:
    """A variable holding hostile text: `command` argv and `shell` + `env` keep it data; templating
    it INTO a `shell:` line makes it shell code. That last case is the operator's responsibility
    (a shell is what `shell:` asks for) and docs/security.md and the module reference say so."""
    canary = tmp_path / "canary"
    evil = f'it\'s "q" $(touch {canary}); touch {canary}'
    write_yaml(tmp_path / "vars.yml", {"evil": evil, "note": f"hello; touch {canary}"})
    plays = [
        {
            "hosts": "all",
            "tasks": [
                {"name": "argv", "command": {"argv": ["printf", "%s", "{{ evil }}"]}, "register": "a"},
                {
                    "name": "env",
                    "shell": {"cmd": 'printf %s "$EVIL"', "env": {"EVIL": "{{ evil }}"}},
                    "register": "b",
                },
                {"name": "same", "assert": {"that": ["a.stdout == evil", "b.stdout == evil"]}},
            ],
        }
    ]
    local_inventory(tmp_path / "inv.yml", ["h"])
    write_yaml(tmp_path / "pb.yml", plays)
    safe = run_cli(
        ["run", "pb.yml", "-i", "inv.yml", "-e", "@vars.yml", "--output", "jsonl", "--no-report"], tmp_path
    )
    assert safe.rc == 0, safe.err + safe.out
    assert set(safe.statuses().values()) == {"changed", "ok"}
    assert not canary.exists()

    write_yaml(
        tmp_path / "pb.yml", [{"hosts": "all", "tasks": [{"name": "templated", "shell": "echo {{ note }}"}]}]
    )
    shelled = run_cli(
        ["run", "pb.yml", "-i", "inv.yml", "-e", "@vars.yml", "--output", "jsonl", "--no-report"], tmp_path
    )
    assert shelled.rc == 0, shelled.err + shelled.out
    assert canary.exists()  # interpreted: `shell:` is a shell, by definition
    docs = (REPO / "docs" / "security.md").read_text()
    assert "operator's responsibility" in docs and "`env:`" in docs
    assert "`env`" in (REPO / "modules" / "flow" / "shell.py").read_text()


# =========================================================================== Windows over WinRM


class RecordingEndpoint(WinRMEndpoint):
    """The test endpoint, keeping every SOAP request as it arrived (after NTLM unsealing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[bytes] = []

    def handle(self, body: bytes) -> tuple[int, bytes]:
        self.requests.append(body)
        return super().handle(body)

    def wire(self) -> tuple[list[str], list[Any], str]:
        """(command lines, decoded batches, every request with its stdin streams cut out)."""
        commands: list[str] = []
        stdin = bytearray()
        rest: list[str] = []
        for body in self.requests:
            root = ET.fromstring(body)
            command = root.find(".//rsp:CommandLine", NS)
            if command is not None:
                commands.append(" ".join((e.text or "") for e in command))
            for stream in root.findall(".//rsp:Send/rsp:Stream", NS):
                stdin += base64.b64decode(stream.text or "")
                stream.text = ""
            rest.append(ET.tostring(root, encoding="unicode"))
        lines = bytes(stdin).split(b"\n")
        batches = [json.loads(base64.b64decode(line)) for line in lines[1:] if line]
        return commands, batches, "\n".join(rest)


WIN_NAMES = [
    "it's",
    "`whoami`",
    "$(Stop-Service W3SVC)",
    "a; Remove-Item -Recurse -Force x",
    "-- --% x",
    "%PATH% ^& y",
    "'; DROP TABLE victim; --",
    "[x] {y} @(z)",
    "ünïcødé €",
]
#: Characters Windows refuses in a file name; the sim plays Windows and refuses them too.
WIN_BAD_NAMES = ['say "hi"', "line1\nline2", "nul\x00here", "pipe|x", "a:b"]
WIN_DATA = [*WIN_NAMES, 'say "hi"', "line1\r\nline2", "nul\x00inside", "back\\slash\\"]
#: Registry value names may hold any character but NUL (the API takes NUL-terminated names).
WIN_VALUE_NAMES = [v for v in WIN_DATA if "\x00" not in v]
KEY = "HKLM\\SOFTWARE\\CutoverProbe"


def _win_echo(host: SimHost, argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    """A program on the simulated host that answers what it was given, as JSON."""
    process = host.process or {}
    seen = {"argv": argv[1:], "stdin": b64(stdin), "cwd": process.get("cwd"), "env": process.get("env")}
    return 0, json.dumps(seen), ""


@pytest.fixture
def winrm(tmp_path: Path) -> Iterator[tuple[RecordingEndpoint, Remote]]:
    services = {name: {"state": "running", "start_mode": "auto", "path": "C:\\svc.exe"} for name in WIN_NAMES}
    services["W3SVC"] = {"state": "running", "start_mode": "auto", "path": "C:\\Windows\\w3svc.exe"}
    initial = {"directories": ["C:\\Probe", "C:\\Probe\\" + WIN_NAMES[2]], "services": services}
    endpoint = RecordingEndpoint(
        "win1", auth="ntlm", state_dir=tmp_path / "state", initial=initial, ntlm_user_file=tmp_path / "ntlm"
    ).start()
    register_program("cutover-echo.exe", _win_echo)
    conn = WinRMConnection(endpoint.host())
    try:
        conn.open()
        yield endpoint, Remote(conn)
    finally:
        conn.close()
        unregister_program("cutover-echo.exe")
        endpoint.stop()


def _values_in(batches: list[Any]) -> set[str]:
    """Every string inside the decoded batches (names, data, argv...)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(batches)
    return found


def test_windows_values_round_trip_over_winrm_inside_the_payload_only(
    winrm: tuple[RecordingEndpoint, Remote],
) -> None:
    endpoint, remote = winrm
    sent: set[str] = set()
    # --- file names and content
    for name in WIN_NAMES:
        path = f"C:\\Probe\\{name}.txt"
        content = name.encode() + b"\x00\xff\r\n\"'`"
        remote.call("file.write", path=path, content_b64=b64(content))
        assert base64.b64decode(remote.call("file.read", path=path)["content_b64"]) == content
        assert endpoint.sim.read_bytes(path) == content
        sent.add(path)
    listed = {e["path"] for e in remote.call("file.list", path="C:\\Probe")["entries"]}
    assert listed == {f"{n}.txt" for n in WIN_NAMES} | {WIN_NAMES[2]}
    for bad in WIN_BAD_NAMES:
        assert fails(remote, "file.write", path=f"C:\\Probe\\{bad}", content_b64="eA==").kind == "invalid"
    assert {e["path"] for e in remote.call("file.list", path="C:\\Probe")["entries"]} == listed
    # --- registry: key names, value names, data of every string type
    for i, name in enumerate(WIN_NAMES):
        key = f"{KEY}\\{name}"
        data = WIN_DATA[i]
        remote.call("registry.set", key=key, name=WIN_VALUE_NAMES[-(i + 1)], data=data)
        remote.call("registry.set", key=key, name="multi", data=WIN_DATA, type="REG_MULTI_SZ")
        remote.call("registry.set", key=key, name="expand", data=f"%TEMP%\\{name}", type="REG_EXPAND_SZ")
        got = remote.call("registry.get", key=key)["values"]
        assert got == {
            WIN_VALUE_NAMES[-(i + 1)]: {"type": "REG_SZ", "data": data},
            "multi": {"type": "REG_MULTI_SZ", "data": WIN_DATA},
            "expand": {"type": "REG_EXPAND_SZ", "data": f"%TEMP%\\{name}"},
        }
        sent |= {key, data}
    assert set(remote.call("registry.get", key=KEY)["subkeys"]) == set(WIN_NAMES)
    # --- services named with hostile text: found by exactly that name, W3SVC untouched
    for name in WIN_NAMES:
        assert remote.call("service.get", name=name)["state"] == "running"
        assert remote.call("service.set", name=name, state="stopped")["after"]["state"] == "stopped"
        sent.add(name)
    assert remote.call("service.get", name="W3SVC")["state"] == "running"
    assert remote.call("service.get", name="W3SVC'; Stop-Service W3SVC")["exists"] is False
    # --- a program: argv, env, stdin and cwd as given
    cwd = f"C:\\Probe\\{WIN_NAMES[2]}"
    env = {f"HOSTILE_{i}": v for i, v in enumerate(WIN_DATA) if "\x00" not in v}
    stdin = "\x00".join(WIN_DATA).encode() + b"\xff"
    argv = [v for v in WIN_DATA if "\x00" not in v]
    out = remote.call("process.run", argv=["cutover-echo.exe", *argv], env=env, stdin_b64=b64(stdin), cwd=cwd)
    seen = json.loads(out["stdout"])
    assert seen == {"argv": argv, "stdin": b64(stdin), "cwd": cwd, "env": env}
    sent |= set(argv)
    # --- the wire: one constant bootstrap on the command line; every value inside the stdin JSON
    commands, batches, rest = endpoint.wire()
    assert commands and all(_bootstrap_only(c) for c in commands), commands
    carried = _values_in(batches)
    assert sent <= carried
    for value in sent:
        for form in {value, escape(value), value.encode("utf-16-le").decode("latin-1")}:
            assert form not in rest and form not in " ".join(commands), value


def _bootstrap_only(command_line: str) -> bool:
    words = command_line.split()
    script = base64.b64decode(words[words.index("-EncodedCommand") + 1]).decode("utf-16-le")
    return words[0] == "powershell.exe" and script == BOOTSTRAP_SCRIPT


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("process.run", {"argv": ["cutover-echo.exe", "a\x00b"]}),
        ("process.run", {"argv": ["cutover-echo.exe"], "env": {"V": "a\x00b"}}),
        ("registry.set", {"key": KEY, "name": "v\x00hidden", "data": "x"}),
        ("registry.set", {"key": KEY + "\\k\x00hidden", "name": "v", "data": "x"}),
        ("service.get", {"name": "W3SVC\x00x"}),
        ("file.write", {"path": "C:\\Probe\\x\x00.txt", "content_b64": "eA=="}),
    ],
)
def test_windows_nul_where_it_cannot_travel_is_invalid_not_truncated(
    winrm: tuple[RecordingEndpoint, Remote], op: str, args: dict[str, Any]
) -> None:
    endpoint, remote = winrm
    before = json.dumps(endpoint.sim.state, sort_keys=True, default=str)
    error = fails(remote, op, **args)
    assert error.kind == "invalid", error
    assert json.dumps(endpoint.sim.state, sort_keys=True, default=str) == before


def test_registry_export_import_round_trips_hostile_names(winrm: tuple[RecordingEndpoint, Remote]) -> None:
    """A backup of a key with hostile names restores exactly (the .reg text escapes `"` and `\\`).

    Newlines and NUL stay out of REG_SZ here: reg.exe's text format cannot carry them in a quoted
    string (a known Windows limitation the sim mirrors); registry.set/get above carries them."""
    endpoint, remote = winrm
    data = [v for v in WIN_DATA if "\n" not in v and "\x00" not in v]
    for i, name in enumerate(WIN_NAMES):
        remote.call("registry.set", key=f"{KEY}\\{name}", name=data[-(i + 1)], data=data[i])
    exported = {n: remote.call("registry.get", key=f"{KEY}\\{n}")["values"] for n in WIN_NAMES}
    remote.call("registry.export", key=KEY, dest="C:\\Probe\\backup.reg")
    for i, name in enumerate(WIN_NAMES):
        remote.call("registry.set", key=f"{KEY}\\{name}", name=data[-(i + 1)], data="changed")
    assert remote.call("registry.import", path="C:\\Probe\\backup.reg")["changed"] is True
    assert {n: remote.call("registry.get", key=f"{KEY}\\{n}")["values"] for n in WIN_NAMES} == exported


# =========================================================================== SQL


SQL_VALUES = [
    "it's",
    'say "hi"',
    "'; DROP TABLE victim; --",
    "`x`",
    "$(x)",
    "a;b",
    "--",
    "l1\nl2",
    "\\",
    "ünï €",
]
SQL_NAMES = [
    't"; DROP TABLE victim; --',
    "t`; DROP TABLE victim; --",
    "t]; DROP TABLE victim; --",
    "it's",
    "sp ace",
]


def _round_trip(entry: dict[str, Any], dialect: str, values: list[str]) -> None:
    """Tables and columns with hostile names, filled with hostile values; `victim` survives."""
    quote = dialect_for(dialect).quote_ident
    with connect(entry, name="crm") as db:
        db.execute("CREATE TABLE victim (id INTEGER)")
        db.execute("INSERT INTO victim VALUES (1)")
        for name in SQL_NAMES:
            db.execute(f"CREATE TABLE {quote(name)} ({quote(name + ' col')} VARCHAR(200))")
            for value in values:
                db.execute(f"INSERT INTO {quote(name)} VALUES (?)", (value,))
            rows = [r[0] for r in db.rows(f"SELECT {quote(name + ' col')} FROM {quote(name)}")]
            assert sorted(rows) == sorted(values), name
            found = db.value(
                f"SELECT COUNT(*) FROM {quote(name)} WHERE {quote(name + ' col')} = ?", (values[2],)
            )
            assert found == 1
        db.commit()
        assert db.value("SELECT COUNT(*) FROM victim") == 1
    run = new_run({"crm": entry})
    queried = run_db_module("db_query", {"db": "crm", "sql": "SELECT ? AS v", "params": [values[2]]}, run)
    assert queried.output["rows"] == [{"v": values[2]}]
    pattern = run_db_module("db_schema_objects", {"db": "crm", "pattern": values[2], "drop": True}, run)
    assert not pattern.failed and pattern.output["count"] == 0
    with connect(entry, name="crm") as db:
        assert db.value("SELECT COUNT(*) FROM victim") == 1


def test_sqlite_values_bound_identifiers_quoted(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    sqlite3.connect(path).close()
    _round_trip({"dialect": "sqlite", "path": str(path)}, "sqlite", [*SQL_VALUES, "nul\x00inside"])
    names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"victim", *SQL_NAMES}


@pytest.mark.parametrize("dialect", ["mariadb", "postgresql"])
def test_server_values_bound_identifiers_quoted(dialect: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("mariadb_server" if dialect == "mariadb" else "postgres_server")
    entry = server.target(server.create_database())
    _round_trip(entry, dialect, SQL_VALUES)


@pytest.mark.parametrize("dialect", ["mariadb", "postgresql"])
def test_nul_in_a_value_for_an_odbc_server_is_refused_not_cut(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    """psqlODBC stores 'a' for 'a\\0b' and MariaDB's driver reads it back as 'a': the engine refuses
    the value with a clear error instead of letting the driver cut it short."""
    server = request.getfixturevalue("mariadb_server" if dialect == "mariadb" else "postgres_server")
    entry = server.target(server.create_database())
    with connect(entry, name="crm") as db:
        db.execute("CREATE TABLE t (v VARCHAR(20))")
        db.commit()
        with pytest.raises(DbError, match="contains NUL"):
            db.execute("INSERT INTO t VALUES (?)", ("a\x00b",))
        with pytest.raises(DbError, match="contains NUL"):
            db.value("SELECT ?", ("a\x00b",))
        db.rollback()
        assert db.value("SELECT COUNT(*) FROM t") == 0
    failed = run_db_module(
        "db_query", {"db": "crm", "sql": "SELECT ? AS v", "params": ["a\x00b"]}, new_run({"crm": entry})
    )
    assert failed.failed and "contains NUL" in failed.msg


@pytest.mark.parametrize("bad", ["", "a\x00b", "new\nline", "tab\tname", "x" * 2000, None, 7])
@pytest.mark.parametrize("dialect", ["sqlite", "mssql", "mariadb", "postgresql"])
def test_identifiers_that_no_object_can_have_are_refused(dialect: str, bad: Any) -> None:
    with pytest.raises(InvalidIdentifier):
        dialect_for(dialect).quote_ident(bad)
