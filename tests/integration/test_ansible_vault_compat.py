"""ansible-vault and cutover open each other's work: the real ansible-vault encrypts, cutover decrypts,
and the reverse, for whole files (1.1, and 1.2 with a vault id) and inline `!vault` values.

With the same salt (ansible-vault's VAULT_ENCRYPT_SALT setting), cutover's encryption is byte for
byte ansible-vault's: the same PBKDF2/AES-CTR/HMAC layout, not merely a compatible one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.core.errors import UserError
from engine.load.inventory import load_inventory
from engine.load.vault import ansible as ansible_vault
from engine.load.vault.keyring import VaultKeyring
from tests.support.ansible_tools import run_ansible
from tests.support.plans import write

PLAIN = "db_password: hunter2\nlicence: 'ü€ 😀'\n"


@pytest.fixture
def estate(tmp_path, monkeypatch):
    write(tmp_path, {"pw": "correct horse\n", "prod.pw": "prod battery\n", "wrong.pw": "nope\n"})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _ansible(estate: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return run_ansible("ansible-vault", list(args), estate / "home", cwd=estate, env=env).stdout


@pytest.mark.parametrize(("ansible_id", "cutover_flags"), [
    ([], ["--vault-password-file", "pw"]),
    (["--vault-id", "prod@prod.pw"], ["--vault-id", "prod@prod.pw"]),
    (["--vault-id", "prod@prod.pw"], ["--vault-password-file", "wrong.pw", "--vault-password-file", "prod.pw"]),
])
def test_a_file_ansible_vault_encrypted_is_read_by_cutover(ansible_id, cutover_flags, estate, capsys):
    (estate / "secret.yml").write_text(PLAIN)
    _ansible(estate, "encrypt", *(ansible_id or ["--vault-password-file", "pw"]), "secret.yml")
    header = (estate / "secret.yml").read_text().splitlines()[0]
    assert header == ("$ANSIBLE_VAULT;1.2;AES256;prod" if ansible_id else "$ANSIBLE_VAULT;1.1;AES256")
    assert main(["vault", "view", *cutover_flags, "secret.yml"]) == 0
    assert capsys.readouterr().out == PLAIN


def test_cutover_writes_what_ansible_vault_reads(estate, capsys):
    (estate / "secret.yml").write_text(PLAIN)
    assert main(["vault", "encrypt", "--format", "ansible", "--vault-id", "prod@prod.pw", "secret.yml"]) == 0
    assert (estate / "secret.yml").read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert _ansible(estate, "view", "--vault-id", "prod@prod.pw", "secret.yml") == PLAIN


def test_same_salt_same_bytes_as_ansible_vault(estate):
    salt = "0123456789abcdef0123456789abcdef"
    (estate / "secret.yml").write_text(PLAIN)
    _ansible(estate, "encrypt", "--vault-id", "prod@prod.pw", "secret.yml", env={"ANSIBLE_VAULT_ENCRYPT_SALT": salt})
    ours = ansible_vault.encrypt(PLAIN, "prod battery", "prod", salt=salt.encode())
    assert ours == (estate / "secret.yml").read_text()
    default = ansible_vault.encrypt(PLAIN, "correct horse", salt=salt.encode())
    (estate / "other.yml").write_text(PLAIN)
    _ansible(estate, "encrypt", "--vault-password-file", "pw", "other.yml", env={"ANSIBLE_VAULT_ENCRYPT_SALT": salt})
    assert default == (estate / "other.yml").read_text()


def test_inline_values_from_ansible_vault_encrypt_string_in_group_vars(estate):
    sealed = _ansible(estate, "encrypt_string", "--vault-id", "prod@prod.pw", "s3cret", "--name", "db_password")
    write(estate, {"hosts.ini": "[db]\ndb1\n", "group_vars/db.yml": sealed})
    inventory = load_inventory(estate / "hosts.ini", VaultKeyring({"prod": "prod battery"}))
    value = inventory.hosts["db1"].vars["db_password"]
    keyring = VaultKeyring({"prod": "prod battery"})
    assert value.decrypt(keyring) == "s3cret" and keyring.masker.mask_text("pw s3cret") == "pw ********"
    with pytest.raises(UserError) as caught:
        value.decrypt(VaultKeyring({"prod": "wrong"}))
    assert str(caught.value.problems[0].location).endswith("group_vars/db.yml:1:14")
    assert "decryption failed for ansible-vault id 'prod'" in caught.value.problems[0].message


def test_cutover_encrypt_string_in_ansible_format_is_read_by_ansible(estate, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", _Stdin("s3cret"))
    assert main(["vault", "encrypt-string", "--format", "ansible", "--vault-id", "prod@prod.pw",
                 "--name", "db_password"]) == 0
    (estate / "vars.yml").write_text(capsys.readouterr().out)
    assert _ansible_sees(estate, "db_password", ["--vault-id", "prod@prod.pw"]) == "s3cret"


def test_convert_both_ways_keeps_the_data(estate, capsys):
    sealed = _ansible(estate, "encrypt_string", "--vault-id", "prod@prod.pw", "s3cret", "--name", "token")
    (estate / "vars.yml").write_text(f"# kept\nplain: 1\n{sealed}after: 2\n")
    flags = ["--vault-id", "prod@prod.pw"]
    assert main(["vault", "convert", "--to", "cutover", *flags, "vars.yml"]) == 0
    text = (estate / "vars.yml").read_text()
    assert "$CUTOVER_VAULT;1;AES256GCM;prod" in text and text.startswith("# kept\nplain: 1\ntoken: !vault |\n")
    assert text.endswith("after: 2\n")
    assert main(["vault", "convert", "--to", "ansible", *flags, "vars.yml"]) == 0
    assert _ansible_sees(estate, "token", flags) == "s3cret"
    (estate / "whole.yml").write_text(PLAIN)
    _ansible(estate, "encrypt", *flags, "whole.yml")
    assert main(["vault", "convert", "--to", "cutover", *flags, "whole.yml"]) == 0
    assert (estate / "whole.yml").read_text().startswith("$CUTOVER_VAULT;1;AES256GCM;prod\n")
    capsys.readouterr()
    assert main(["vault", "view", *flags, "whole.yml"]) == 0 and capsys.readouterr().out == PLAIN


def test_a_wrong_password_is_exit_2_with_the_file_and_nothing_written(estate, capsys):
    (estate / "secret.yml").write_text(PLAIN)
    _ansible(estate, "encrypt", "--vault-password-file", "pw", "secret.yml")
    before = (estate / "secret.yml").read_bytes()
    assert main(["vault", "decrypt", "--vault-password-file", "wrong.pw", "secret.yml"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("secret.yml: decryption failed for ansible-vault id 'default'")
    assert (estate / "secret.yml").read_bytes() == before


def test_an_executable_password_file_is_run_as_ansible_vault_runs_it(estate, capsys):
    script = estate / "get-pw-client.sh"
    script.write_text('#!/bin/sh\n[ "$1" = --vault-id ] && [ "$2" = prod ] && echo "prod battery"\n')
    script.chmod(0o700)
    (estate / "secret.yml").write_text(PLAIN)
    _ansible(estate, "encrypt", "--vault-id", "prod@prod.pw", "secret.yml")
    assert main(["vault", "view", "--vault-id", f"prod@{script}", "secret.yml"]) == 0
    assert capsys.readouterr().out == PLAIN


def test_ask_vault_pass_without_a_terminal_says_so(estate, monkeypatch, capsys):
    (estate / "secret.yml").write_text(ansible_vault.encrypt(PLAIN, "correct horse"))
    monkeypatch.setattr("engine.load.vault.sources._has_terminal", lambda: False)
    assert main(["vault", "view", "-J", "secret.yml"]) == 2
    assert "asks for a password prompt, but there is no terminal" in capsys.readouterr().err


def _ansible_sees(estate: Path, name: str, flags: list[str]) -> str:
    """The value Ansible itself decrypts for `name` from vars.yml (a `debug` runs on the controller only)."""
    import json

    play = ("- hosts: localhost\n  gather_facts: false\n  vars_files: [vars.yml]\n  tasks:\n"
            f"    - debug: {{msg: '{{{{ {name} | to_json }}}}'}}\n")
    (estate / "play.yml").write_text(play)
    out = run_ansible("ansible-playbook", ["-i", "localhost,", "-c", "local", *flags, "play.yml"], estate / "home",
                      cwd=estate).stdout
    line = next(line for line in out.splitlines() if line.strip().startswith('"msg": '))
    return json.loads(json.loads(line.strip()[len('"msg": '):]))


class _Stdin:
    def __init__(self, text: str):
        self.text = text

    def isatty(self) -> bool:
        return False

    def read(self) -> str:
        return self.text
