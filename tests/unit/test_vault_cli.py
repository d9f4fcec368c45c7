"""`cutover vault`: in-process through engine.cli.main, and as a real process (exit codes, prompts)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.load.vault.keyring import VaultKeyring, is_vault_text, vault_id_of
from tests.support.terminal import run_in_terminal
from tests.support.vault_yaml import vault_loader

PLAIN = "db:\r\n  password: hunter2-secret\n"


class Env:
    """Password files for two ids, and the matching keyring to check results with."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.passwords = {"default": "default-pass-1", "prod": "prod-pass-2", "next": "next-pass-3"}
        self.files = {}
        for vault_id, password in self.passwords.items():
            path = root / f"{vault_id}.pw"
            path.write_text(password + "\n")
            self.files[vault_id] = path
        self.keyring = VaultKeyring(self.passwords)

    def vid(self, vault_id: str) -> list[str]:
        return ["--vault-id", f"{vault_id}@{self.files[vault_id]}"]

    def plain_file(self, name: str = "secrets.yml", text: str = PLAIN, mode: int = 0o640) -> Path:
        path = self.root / name
        path.write_bytes(text.encode())
        path.chmod(mode)
        return path


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    for name in ("CUTOVER_VAULT_PASSWORD", "CUTOVER_VAULT_PASSWORD_FILE", "VISUAL", "EDITOR"):
        monkeypatch.delenv(name, raising=False)
    return Env(tmp_path)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- whole files ------------------------------------------------------------------------------


def test_encrypt_view_decrypt_round_trip_keeps_bytes_and_mode(
    env: Env, capsys: pytest.CaptureFixture
) -> None:
    path = env.plain_file()
    assert main(["vault", "encrypt", str(path), *env.vid("prod")]) == 0
    sealed = path.read_text()
    assert is_vault_text(sealed) and vault_id_of(sealed) == "prod" and "hunter2" not in sealed
    assert mode_of(path) == 0o640
    capsys.readouterr()
    assert main(["vault", "view", str(path), *env.vid("prod")]) == 0
    assert capsys.readouterr().out == PLAIN
    assert main(["vault", "decrypt", str(path), *env.vid("prod")]) == 0
    assert path.read_bytes() == PLAIN.encode()
    assert mode_of(path) == 0o640


def test_view_prints_the_plaintext(env: Env, capsys: pytest.CaptureFixture) -> None:
    path = env.plain_file(text="a: b-secret\n")
    path.write_text(env.keyring.encrypt("a: b-secret\n", "prod"))
    assert main(["vault", "view", str(path), *env.vid("prod")]) == 0
    assert capsys.readouterr().out == "a: b-secret\n"


def test_encrypt_through_a_symlink_keeps_the_link(env: Env) -> None:
    target = env.plain_file()
    link = env.root / "link.yml"
    link.symlink_to(target.name)
    assert main(["vault", "encrypt", str(link), *env.vid("default")]) == 0
    assert link.is_symlink() and is_vault_text(target.read_text())


def test_encrypt_and_decrypt_to_output(env: Env, capsys: pytest.CaptureFixture) -> None:
    path = env.plain_file()
    out = env.root / "out.vault"
    assert main(["vault", "encrypt", str(path), "--output", str(out), *env.vid("prod")]) == 0
    assert path.read_bytes() == PLAIN.encode() and mode_of(out) == 0o600
    capsys.readouterr()
    assert main(["vault", "decrypt", str(out), "--output", "-", *env.vid("prod")]) == 0
    assert capsys.readouterr().out.replace("\r\n", "\n") == PLAIN.replace("\r\n", "\n")
    assert main(["vault", "encrypt", str(path), str(out), "--output", "x", *env.vid("prod")]) == 2


def test_wrong_state_or_password_changes_nothing(env: Env, capsys: pytest.CaptureFixture) -> None:
    plain = env.plain_file("plain.yml")
    sealed = env.plain_file("sealed.yml", env.keyring.encrypt(PLAIN, "prod"))
    before = sealed.read_bytes()
    assert main(["vault", "encrypt", str(plain), str(sealed), *env.vid("prod")]) == 2
    assert "sealed.yml: already encrypted; nothing changed" in capsys.readouterr().err
    assert plain.read_bytes() == PLAIN.encode(), "a bad file among several must leave all unchanged"
    assert main(["vault", "decrypt", str(plain), *env.vid("prod")]) == 2
    assert "plain.yml: not encrypted" in capsys.readouterr().err
    assert main(["vault", "decrypt", str(sealed), *env.vid("default")]) == 2
    err = capsys.readouterr().err
    assert "no password for vault id 'prod'" in err and "Traceback" not in err
    wrong = env.root / "wrong.pw"
    wrong.write_text("nope-nope")
    assert main(["vault", "decrypt", str(sealed), "--vault-id", f"prod@{wrong}"]) == 2
    err = capsys.readouterr().err
    assert "sealed.yml: decryption failed for vault id 'prod' (wrong password or tampered data)" in err
    assert sealed.read_bytes() == before
    assert main(["vault", "view", str(env.root / "missing.yml"), *env.vid("prod")]) == 2
    assert "missing.yml: no such file" in capsys.readouterr().err


def test_several_ids_need_a_choice_to_encrypt(env: Env, capsys: pytest.CaptureFixture) -> None:
    path = env.plain_file()
    assert main(["vault", "encrypt", str(path), *env.vid("prod"), *env.vid("default")]) == 2
    assert "--encrypt-vault-id" in capsys.readouterr().err
    assert (
        main(
            [
                "vault",
                "encrypt",
                str(path),
                *env.vid("prod"),
                *env.vid("default"),
                "--encrypt-vault-id",
                "prod",
            ]
        )
        == 0
    )
    assert vault_id_of(path.read_text()) == "prod"


def test_rekey_whole_file_to_a_new_id_and_password(env: Env, capsys: pytest.CaptureFixture) -> None:
    path = env.plain_file(mode=0o600)
    path.write_text(env.keyring.encrypt(PLAIN, "prod"))
    new = f"next@{env.files['next']}"
    assert main(["vault", "rekey", str(path), *env.vid("prod"), "--new-vault-id", new]) == 0
    sealed = path.read_text()
    assert vault_id_of(sealed) == "next" and mode_of(path) == 0o600
    assert VaultKeyring({"next": env.passwords["next"]}).decrypt(sealed) == PLAIN
    assert main(["vault", "view", str(path), *env.vid("prod")]) == 2
    assert "no password for vault id 'next'" in capsys.readouterr().err


def test_rekey_inline_values_keeps_the_yaml_and_shares_one_salt(
    env: Env, capsys: pytest.CaptureFixture
) -> None:
    def block(value: str, vault_id: str, indent: int) -> str:
        sealed = VaultKeyring(env.passwords).encrypt(value, vault_id)  # a salt of its own each
        return "".join(" " * indent + line + "\n" for line in sealed.splitlines())

    text = (
        "# inventory for ACME\n"
        "db:\n"
        "  host: db1  # the SQL Server\n"
        "  password: !vault |\n" + block("db-secret-1", "prod", 4) + "\n"
        "  users:\n"
        "    - !vault |-\n" + block("user-secret-2", "default", 6) + "  port: 1433\n"
    )
    path = env.plain_file("inventory.yml", text)
    new = f"next@{env.files['next']}"
    args = ["vault", "rekey", str(path), *env.vid("prod"), *env.vid("default"), "--new-vault-id", new]
    assert main(args) == 0
    assert "2 inline values" in capsys.readouterr().err
    rewritten = path.read_text()
    assert "# inventory for ACME" in rewritten and "host: db1  # the SQL Server" in rewritten
    data = yaml.load(rewritten, Loader=vault_loader())  # noqa: S506 - SafeLoader subclass
    reader = VaultKeyring({"next": env.passwords["next"]})
    assert data["db"]["host"] == "db1" and data["db"]["port"] == 1433
    assert data["db"]["password"].decrypt(reader) == "db-secret-1"
    assert data["db"]["users"][0].decrypt(reader) == "user-secret-2"
    assert reader.derivations == 1


def test_rekey_of_a_plain_yaml_without_values_is_refused(env: Env, capsys: pytest.CaptureFixture) -> None:
    path = env.plain_file("plain.yml", "a: 1\n")
    assert (
        main(["vault", "rekey", str(path), *env.vid("prod"), "--new-vault-id", f"next@{env.files['next']}"])
        == 2
    )
    assert "holds no `!vault |` values" in capsys.readouterr().err
    assert path.read_text() == "a: 1\n"


# --- edit and create --------------------------------------------------------------------------

EDITOR_SCRIPT = """
import json, os, stat, sys
path = sys.argv[1]
report = os.environ["EDITOR_REPORT"]
with open(report, "w") as out:
    json.dump({"path": path, "mode": stat.S_IMODE(os.stat(path).st_mode),
               "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
               "text": open(path, newline="").read()}, out)
action = os.environ["EDITOR_ACTION"]
if action == "append":
    with open(path, "a", newline="") as handle:
        handle.write("added: line\\n")
sys.exit(3 if action == "fail" else 0)
"""


@pytest.fixture()
def editor(env: Env, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = env.root / "editor.py"
    script.write_text(EDITOR_SCRIPT)
    report = env.root / "editor-report.json"
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.setenv("EDITOR_REPORT", str(report))
    monkeypatch.setenv("EDITOR_ACTION", "append")
    return report


def test_edit_uses_a_private_temp_file_and_re_encrypts(env: Env, editor: Path) -> None:
    path = env.plain_file(mode=0o640)
    path.write_text(env.keyring.encrypt(PLAIN, "prod"))
    assert main(["vault", "edit", str(path), *env.vid("prod")]) == 0
    seen = json.loads(editor.read_text())
    assert seen["text"] == PLAIN and seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert seen["path"].endswith(".yml"), "the suffix is kept for the editor's syntax highlighting"
    assert not Path(seen["path"]).parent.exists(), "the private temp dir must be gone"
    sealed = path.read_text()
    assert vault_id_of(sealed) == "prod" and mode_of(path) == 0o640
    assert env.keyring.decrypt(sealed) == PLAIN + "added: line\n"


def test_edit_without_change_or_with_failing_editor_keeps_the_file(
    env: Env, editor: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = env.plain_file()
    path.write_text(env.keyring.encrypt(PLAIN, "prod"))
    before = path.read_bytes()
    monkeypatch.setenv("EDITOR_ACTION", "keep")
    assert main(["vault", "edit", str(path), *env.vid("prod")]) == 0
    assert path.read_bytes() == before
    monkeypatch.setenv("EDITOR_ACTION", "fail")
    assert main(["vault", "edit", str(path), *env.vid("prod")]) == 1
    assert "the editor exited with code 3; nothing was saved" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert not Path(json.loads(editor.read_text())["path"]).parent.exists()
    monkeypatch.setenv("EDITOR", str(env.root / "no-such-editor"))
    assert main(["vault", "edit", str(path), *env.vid("prod")]) == 2
    assert "cannot start the editor" in capsys.readouterr().err


def test_create_writes_a_new_encrypted_file(env: Env, editor: Path, capsys: pytest.CaptureFixture) -> None:
    path = env.root / "new.yml"
    assert main(["vault", "create", str(path), *env.vid("prod")]) == 0
    assert mode_of(path) == 0o600
    assert env.keyring.decrypt(path.read_text()) == "added: line\n"
    assert main(["vault", "create", str(path), *env.vid("prod")]) == 2
    assert "already exists" in capsys.readouterr().err


# --- encrypt-string ---------------------------------------------------------------------------


def test_encrypt_string_output_parses_back(env: Env, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cr3t value\n"))
    assert main(["vault", "encrypt-string", "--name", "db_password", *env.vid("prod")]) == 0
    snippet = capsys.readouterr().out
    assert snippet.startswith("db_password: !vault |\n  $CUTOVER_VAULT;1;AES256GCM;prod\n")
    data = yaml.load(f"vars:\n  other: 1\n{snippet}", Loader=vault_loader())  # noqa: S506
    assert data["db_password"].decrypt(env.keyring) == "s3cr3t value"


def test_encrypt_string_several_names_one_line_each(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("first-secret\nsecond secret\nthird\n"))
    argv = [
        "vault",
        "encrypt-string",
        "--name",
        "a",
        "--name",
        "odd key: x",
        "--name",
        "yes",
        *env.vid("prod"),
    ]
    assert main(argv) == 0
    data = yaml.load(capsys.readouterr().out, Loader=vault_loader())  # noqa: S506
    reader = VaultKeyring(env.passwords)
    assert {k: v.decrypt(reader) for k, v in data.items()} == {
        "a": "first-secret",
        "odd key: x": "second secret",
        "yes": "third",
    }
    assert reader.derivations == 1, "values encrypted together share one salt"
    monkeypatch.setattr(sys, "stdin", io.StringIO("only-one\n"))
    assert main(["vault", "encrypt-string", "--name", "a", "--name", "b", *env.vid("prod")]) == 2
    assert "2 --name given but stdin holds 1 line(s)" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["vault", "encrypt-string", *env.vid("prod")]) == 2
    assert "is empty; nothing encrypted" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["vault"],
        ["vault", "frobnicate", "x"],
        ["vault", "rekey", "x.yml"],
        ["vault", "view"],
        ["vault", "encrypt-string", "secret-on-argv"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


# --- as a real process ------------------------------------------------------------------------


def cutover(env: Env, *args: str, stdin: str = "", extra_env: dict[str, str] | None = None):
    """`python -m engine vault ...` without a controlling terminal (as under cron or CI)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CUTOVER_VAULT")}
    child_env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "engine", "vault", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=env.root,
        env=child_env,
        start_new_session=True,
        check=False,
    )


def test_process_exit_codes_and_messages(env: Env) -> None:
    path = env.plain_file()
    path.write_text(env.keyring.encrypt(PLAIN, "default"))
    ok = cutover(env, "view", str(path), extra_env={"CUTOVER_VAULT_PASSWORD": env.passwords["default"]})
    assert (ok.returncode, ok.stdout) == (0, PLAIN.replace("\r\n", "\n"))
    bad = cutover(env, "view", str(path), extra_env={"CUTOVER_VAULT_PASSWORD": "wrong-pass"})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "decryption failed for vault id 'default' (wrong password or tampered data)" in bad.stderr
    no_tty = cutover(env, "view", str(path))
    assert no_tty.returncode == 2
    assert "asks for a password prompt, but there is no terminal" in no_tty.stderr
    usage = cutover(env, "rekey", str(path))
    assert usage.returncode == 2 and "--new-vault-id" in usage.stderr


def test_encrypt_string_from_stdin_in_a_process(env: Env) -> None:
    done = cutover(
        env, "encrypt-string", "--name", "pw", "--vault-id", f"prod@{env.files['prod']}", stdin="v-1234\n"
    )
    assert done.returncode == 0, done.stderr
    assert yaml.load(done.stdout, Loader=vault_loader())["pw"].decrypt(env.keyring) == "v-1234"  # noqa: S506


def test_prompts_on_a_terminal(env: Env) -> None:
    """No source given: the password and the value are asked on the terminal, each twice."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CUTOVER_VAULT")}
    code, screen = run_in_terminal(
        [
            sys.executable,
            "-m",
            "engine",
            "vault",
            "encrypt-string",
            "--name",
            "token",
            "--encrypt-vault-id",
            "prod",
        ],
        [
            ("Vault password (prod): ", env.passwords["prod"]),
            ("Vault password (prod) (again): ", env.passwords["prod"]),
            ("Value for token: ", "tty-secret-9"),
            ("Value for token (again): ", "tty-secret-9"),
        ],
        env=child_env,
        cwd=str(env.root),
    )
    assert code == 0, screen
    assert env.passwords["prod"] not in screen and "tty-secret-9" not in screen, "prompts must not echo"
    snippet = screen[screen.index("token: !vault |") :].replace("\r\n", "\n")
    assert yaml.load(snippet, Loader=vault_loader())["token"].decrypt(env.keyring) == "tty-secret-9"  # noqa: S506
