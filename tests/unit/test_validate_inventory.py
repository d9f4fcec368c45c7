"""`cutover validate` holds the inventory to what a run would refuse, without reaching a host.

Before, each of these passed `validate` and failed only when the run opened the connection or a
task decrypted the value, inside the maintenance window:
- an unknown key in a connection's settings (`sim:`, `initial:`, a fault rule, `winrm:`/`ssh:`
  of another connection), at the key's own line, reported once for a `defaults:` mistake;
- a `!vault` value whose header is corrupted, or that the given password does not open
  (decrypted once; the plaintext never printed); without a password, a note says it was not;
- an estate rule on a database setting points at that setting (`max_connections:`), not at the
  product section's `database:` line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from engine.load.vault.keyring import encrypt_text
from tests.support.runs import run_cli

PLAYBOOK = "- hosts: all\n  tasks:\n    - name: look\n      debug:\n        msg: hi\n"


def _validate(tmp_path: Path, inventory: str, *extra: str):
    (tmp_path / "inv.yml").write_text(inventory, encoding="utf-8")
    (tmp_path / "site.yml").write_text(PLAYBOOK, encoding="utf-8")
    return run_cli(
        ["validate", str(tmp_path / "site.yml"), "-i", str(tmp_path / "inv.yml"), *extra], tmp_path
    )


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


SIM_ESTATE = """\
estate: t
defaults:
  connection: sim
  sim:
    latency: 0
{extra}hosts:
  a: {{}}
  b: {{}}
"""


def test_an_unknown_sim_setting_is_named_at_its_own_line_once(tmp_path: Path) -> None:
    text = SIM_ESTATE.format(extra="    latncy: 1\n")
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    line = _line_of(text, "latncy")
    assert f"inv.yml:{line}:5: host a: unknown sim setting 'latncy'" in result.err
    assert "did you mean 'latency'?" in result.err
    assert result.err.count("latncy") == 1  # `defaults:` is both hosts': said once, where it is written
    assert "Traceback" not in result.err


def test_an_unknown_key_of_a_simulated_hosts_initial_state_is_named(tmp_path: Path) -> None:
    text = SIM_ESTATE.format(extra="    initial:\n      registyr: {}\n")
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    assert (
        f"inv.yml:{_line_of(text, 'registyr')}:7: simulated host a: unknown key 'registyr' in `initial`"
        in result.err
    )
    assert "did you mean 'registry'?" in result.err


def test_a_malformed_fault_rule_is_refused_before_the_host_is_built(tmp_path: Path) -> None:
    text = SIM_ESTATE.format(extra="    faults:\n      - op: service.set\n        mood: always\n")
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    assert "simulated fault: unknown key 'mood'" in result.err and "did you mean 'mode'?" in result.err
    assert f"inv.yml:{_line_of(text, '- op: service.set')}:9:" in result.err
    assert not (tmp_path / ".cutover" / "sim").exists()  # validate built no simulated host


def test_the_section_of_another_connection_is_held_to_its_keys_too(tmp_path: Path) -> None:
    text = SIM_ESTATE.format(extra="  winrm:\n    transprt: ntlm\n  ssh:\n    key_file: id\n")
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    assert f"inv.yml:{_line_of(text, 'transprt')}:5: host a: unknown winrm setting 'transprt'" in result.err
    assert "did you mean 'transport'?" in result.err
    assert "key_file" not in result.err  # a known ssh key is fine on a host that is not SSH


def test_a_winrm_hosts_own_settings_are_read_as_the_connection_reads_them(tmp_path: Path) -> None:
    text = (
        "estate: t\nhosts:\n  web1:\n    connection: winrm\n    user: admin\n    password: pw\n"
        "    winrm:\n      transport: ntlm\n      operation_timeout: soon\n"
    )
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    line = _line_of(text, "operation_timeout")
    assert (
        f"inv.yml:{line}:7: host 'web1': winrm.operation_timeout must be a whole number, not 'soon'"
        in result.err
    )


def test_settings_written_as_templates_are_rendered_before_they_are_checked(tmp_path: Path) -> None:
    text = (
        "estate: t\nvars:\n  timeout: 30\nhosts:\n  web1:\n    connection: winrm\n    user: admin\n"
        '    password: pw\n    winrm:\n      operation_timeout: "{{ timeout }}"\n'
    )
    result = _validate(tmp_path, text)
    assert result.rc == 0, result.out + result.err
    assert "ok:" in result.out


# --- vault values ---------------------------------------------------------------------------------


def _vault_inventory(sealed: str) -> str:
    block = "\n".join("        " + line for line in sealed.strip().splitlines())
    return f"estate: t\nhosts:\n  here:\n    connection: local\n    vars:\n      api_key: !vault |\n{block}\n"


def _password_file(tmp_path: Path, password: str) -> str:
    path = tmp_path / "pw.txt"
    path.write_text(password + "\n", encoding="utf-8")
    return str(path)


def test_a_wrong_vault_password_is_found_by_validate(tmp_path: Path) -> None:
    text = _vault_inventory(encrypt_text("s3cret-api-key", "right"))
    result = _validate(tmp_path, text, "--vault-password-file", _password_file(tmp_path, "wrong"))
    assert result.rc == 2, result.out + result.err
    assert f"inv.yml:{_line_of(text, 'api_key')}:" in result.err
    assert "decryption failed for vault id 'default' (wrong password or tampered data)" in result.err


def test_the_right_vault_password_passes_and_the_secret_is_never_printed(tmp_path: Path) -> None:
    text = _vault_inventory(encrypt_text("s3cret-api-key", "right"))
    result = _validate(tmp_path, text, "--vault-password-file", _password_file(tmp_path, "right"))
    assert result.rc == 0, result.out + result.err
    assert "s3cret-api-key" not in result.out + result.err
    assert "checked for shape only" not in result.out


def test_a_corrupted_vault_header_is_found_without_a_password(tmp_path: Path) -> None:
    sealed = encrypt_text("s3cret-api-key", "right").replace(";AES256GCM;", ";AES128;", 1)
    text = _vault_inventory(sealed)
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    assert f"inv.yml:{_line_of(text, 'api_key')}:" in result.err
    assert "unknown vault cipher 'AES128'" in result.err


def test_without_a_password_validate_says_the_values_were_not_opened(tmp_path: Path) -> None:
    result = _validate(tmp_path, _vault_inventory(encrypt_text("s3cret-api-key", "right")))
    assert result.rc == 0, result.out + result.err
    assert "note: 1 vault value(s) checked for shape only: no vault password was given" in result.out


# --- estate rules point at the value they are about --------------------------------------------------


def test_max_connections_too_low_points_at_max_connections(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo" / "inventory.yml"
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["databases"]["crm"]["max_connections"] = 5
    text = yaml.safe_dump(data, sort_keys=False)
    result = _validate(tmp_path, text)
    assert result.rc == 2, result.out + result.err
    assert f"inv.yml:{_line_of(text, 'max_connections')}:" in result.err
    assert "databases.crm.max_connections is 5 but 3 web server(s) need 60" in result.err


def test_a_playbook_vault_value_the_password_does_not_open_is_named(tmp_path: Path) -> None:
    sealed = encrypt_text("s3cret-api-key", "right")
    block = "\n".join("          " + line for line in sealed.strip().splitlines())
    (tmp_path / "inv.yml").write_text("estate: t\nhosts:\n  here:\n    connection: local\n", encoding="utf-8")
    playbook = f"- hosts: all\n  tasks:\n    - name: look\n      debug:\n        msg: !vault |\n{block}\n"
    (tmp_path / "site.yml").write_text(playbook, encoding="utf-8")
    args = ["validate", str(tmp_path / "site.yml"), "-i", str(tmp_path / "inv.yml")]
    result = run_cli([*args, "--vault-password-file", _password_file(tmp_path, "wrong")], tmp_path)
    assert result.rc == 2, result.out + result.err
    assert f"site.yml:{_line_of(playbook, 'msg:')}:" in result.err and "decryption failed" in result.err
