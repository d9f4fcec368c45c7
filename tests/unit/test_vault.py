"""The vault format, keyring, password sources and `!vault` values (the CLI is in test_vault_cli)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import Location, UserError
from engine.core.secrets import SECRET_PLACEHOLDER
from engine.load.vault.keyring import (
    LINE_WIDTH,
    EncryptedValue,
    VaultEncrypter,
    VaultKeyring,
    decrypt_text,
    encrypt_text,
    is_vault_text,
    vault_id_of,
)
from tests.support.vault_yaml import vault_loader

PASSWORDS = {"default": "default-pass-1", "prod": "prod-pass-2"}


@pytest.fixture(scope="module")
def keyring() -> VaultKeyring:
    """One keyring for the module: its encrypters and key cache keep the scrypt runs few."""
    return VaultKeyring(PASSWORDS)


@pytest.fixture(autouse=True)
def _no_vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUTOVER_VAULT_PASSWORD", raising=False)
    monkeypatch.delenv("CUTOVER_VAULT_PASSWORD_FILE", raising=False)


def tamper(text: str) -> str:
    """Flip one bit of the ciphertext, keeping the text well-formed base64."""
    header, *body = text.splitlines()
    blob = bytearray(base64.b64decode("".join(body)))
    blob[40] ^= 0x01
    return header + "\n" + base64.b64encode(bytes(blob)).decode() + "\n"


def test_round_trip_keeps_text_exactly(keyring: VaultKeyring) -> None:
    plain = "hosts:\r\n  db1: {password: 'ü€ 😀'}\n\n  trailing  \n"
    sealed = keyring.encrypt(plain, "prod")
    assert plain not in sealed
    assert decrypt_text(sealed, VaultKeyring(PASSWORDS)) == plain


def test_format_is_a_header_and_wrapped_base64(keyring: VaultKeyring) -> None:
    sealed = keyring.encrypt("x" * 200, "prod")
    header, *body = sealed.rstrip("\n").split("\n")
    assert header == "$CUTOVER_VAULT;1;AES256GCM;prod"
    assert all(len(line) <= LINE_WIDTH for line in body) and len(body) > 1
    base64.b64decode("".join(body), validate=True)
    assert is_vault_text(sealed) and is_vault_text("\ufeff  \n" + sealed)
    assert not is_vault_text("$CUTOVER_VAULTX;1") and not is_vault_text("a: 1\n")
    assert vault_id_of(sealed) == "prod"


def test_encrypt_text_uses_a_fresh_salt_and_nonce_each_time() -> None:
    one, two = encrypt_text("same", "pw-x"), encrypt_text("same", "pw-x")
    assert one != two
    assert (
        base64.b64decode("".join(one.splitlines()[1:]))[:16]
        != base64.b64decode("".join(two.splitlines()[1:]))[:16]
    )
    keyring = VaultKeyring({"default": "pw-x"})
    assert [keyring.decrypt(one), keyring.decrypt(two)] == ["same", "same"]


def test_several_vault_ids_in_one_keyring(keyring: VaultKeyring) -> None:
    values = {vault_id: keyring.encrypt(f"secret for {vault_id}", vault_id) for vault_id in PASSWORDS}
    fresh = VaultKeyring(PASSWORDS)
    assert {vault_id: fresh.decrypt(text) for vault_id, text in values.items()} == {
        "default": "secret for default",
        "prod": "secret for prod",
    }


def test_padding_hides_the_exact_length(keyring: VaultKeyring) -> None:
    sizes = {n: len(keyring.encrypt("p" * n, "prod")) for n in (1, 8, 31, 32)}
    assert sizes[1] == sizes[8] == sizes[31] < sizes[32]


def test_wrong_password_names_the_id_and_the_place(keyring: VaultKeyring) -> None:
    sealed = keyring.encrypt("s3cret-value", "prod")
    with pytest.raises(UserError) as caught:
        decrypt_text(sealed, VaultKeyring({"prod": "not-it"}), Location("inv.yml", 3, 13))
    assert str(caught.value).startswith(
        "inv.yml:3:13: decryption failed for vault id 'prod' (wrong password or tampered data)"
    )


def test_tampered_ciphertext_is_refused(keyring: VaultKeyring) -> None:
    sealed = keyring.encrypt("s3cret-value", "prod")
    with pytest.raises(UserError, match="decryption failed for vault id 'prod'"):
        keyring.decrypt(tamper(sealed), Location("a.yml", 2, 1))


def test_vault_id_is_authenticated() -> None:
    """Same password under two ids: relabelling a value must still fail, not decrypt."""
    keyring = VaultKeyring({"prod": "same-password", "test": "same-password"})
    sealed = keyring.encrypt("s3cret-value", "prod")
    relabelled = sealed.replace(";prod\n", ";test\n", 1)
    with pytest.raises(UserError, match="decryption failed for vault id 'test'"):
        keyring.decrypt(relabelled)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.splitlines()[0] + "\n" + t.splitlines()[1][:20] + "\n", "too short"),
        (lambda t: t.replace("\n", "\n!!", 1), "not valid base64"),
        (lambda t: t.replace(";1;", ";2;", 1), "version '2' is not supported"),
        (lambda t: t.replace("AES256GCM", "ROT13", 1), "unknown vault cipher 'ROT13'"),
        (lambda t: t.replace(";prod", "", 1), "malformed vault header"),
        (lambda t: "junk" + t, "does not start with"),
    ],
)
def test_malformed_values_get_a_located_message(keyring: VaultKeyring, change, message: str) -> None:
    broken = change(keyring.encrypt("s3cret-value", "prod"))
    value = EncryptedValue(broken, Location("inv.yml", 7, 5))
    with pytest.raises(UserError, match=message) as caught:
        value.validate()
    assert str(caught.value).startswith("inv.yml:7:5: ")
    assert value.vault_id is None or value.vault_id == "prod"
    with pytest.raises(UserError, match=message):
        value.decrypt(keyring)


def test_missing_password_names_the_id_and_the_value_location(keyring: VaultKeyring) -> None:
    value = EncryptedValue(keyring.encrypt("s3cret-value", "prod"), Location("group_vars/all.yml", 4, 11))
    with pytest.raises(UserError) as caught:
        value.decrypt(VaultKeyring({"default": "x-pass"}))
    text = str(caught.value)
    assert text.startswith("group_vars/all.yml:4:11: no password for vault id 'prod' (known ids: default)")
    assert "--vault-id prod@prompt" in text


def test_values_sealed_together_cost_one_key_derivation(keyring: VaultKeyring) -> None:
    encrypter = VaultEncrypter(PASSWORDS["prod"], "prod")
    values = [encrypter.encrypt(f"value {n}") for n in range(50)]
    reader = VaultKeyring(PASSWORDS)
    assert [reader.decrypt(v) for v in values] == [f"value {n}" for n in range(50)]
    assert reader.derivations == 1
    separate = [encrypt_text("v", PASSWORDS["default"]) for _ in range(3)]
    for value in separate:
        reader.decrypt(value)
    assert reader.derivations == 4


def test_replacing_a_password_forgets_its_keys(keyring: VaultKeyring) -> None:
    sealed = keyring.encrypt("s3cret-value", "prod")
    reader = VaultKeyring({"prod": "wrong-one"})
    with pytest.raises(UserError, match="decryption failed"):
        reader.decrypt(sealed)
    reader.add("prod", PASSWORDS["prod"])
    assert reader.decrypt(sealed) == "s3cret-value"


def test_decrypted_values_and_passwords_are_registered_for_masking(keyring: VaultKeyring) -> None:
    sealed = keyring.encrypt("db-secret-42", "prod")
    reader = VaultKeyring(PASSWORDS)
    masker = reader.masker
    assert masker.mask_text("db-secret-42") == "db-secret-42"
    reader.decrypt(sealed)
    assert masker.mask_text("pw=db-secret-42;") == f"pw={SECRET_PLACEHOLDER};"
    assert masker.mask_text(PASSWORDS["prod"]) == SECRET_PLACEHOLDER
    assert PASSWORDS["prod"] not in repr(reader) and "db-secret-42" not in repr(EncryptedValue(sealed))


def test_yaml_vault_values_load_as_encrypted_values(keyring: VaultKeyring) -> None:
    sealed = keyring.encrypt("db-secret-42", "prod")
    indented = "".join(f"    {line}\n" for line in sealed.splitlines())
    doc = f"db:\n  host: db1\n  password: !vault |\n{indented}"
    data = yaml.load(doc, Loader=vault_loader())  # noqa: S506 - SafeLoader subclass
    value = data["db"]["password"]
    assert isinstance(value, EncryptedValue)
    assert value.vault_id == "prod" and value.location == Location("inv.yml", 3, 13)
    assert value.decrypt(keyring) == "db-secret-42"
    with pytest.raises(AttributeError):
        value.ciphertext = "x"  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(plain=st.text())
def test_any_text_round_trips(plain: str) -> None:
    keyring = _hypothesis_keyring()
    assert keyring.decrypt(keyring.encrypt(plain, "prod")) == plain


_SHARED: list[VaultKeyring] = []


def _hypothesis_keyring() -> VaultKeyring:
    if not _SHARED:
        _SHARED.append(VaultKeyring(PASSWORDS))
    return _SHARED[0]


# --- password sources -------------------------------------------------------------------------


def write_secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_sources_file_env_script_and_bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_secret(tmp_path / "prod.pw", "prod-pass-2\n")
    write_secret(tmp_path / "default.pw", "default-pass-1\r\n")
    script = write_secret(
        tmp_path / "get-pw",
        f'#!{sys.executable}\nimport os\nprint("pw-for-" + os.environ["CUTOVER_VAULT_ID"])\n',
        0o700,
    )
    monkeypatch.setenv("TEST_PW", "test-pass-3")
    keyring = VaultKeyring.from_sources(
        [
            f"prod@{tmp_path / 'prod.pw'}",
            "test@env:TEST_PW",
            f"ops@exec:{script}",
            str(tmp_path / "default.pw"),
        ],
        interactive=False,
    )
    assert keyring.ids() == ["default", "ops", "prod", "test"]
    assert [keyring.password(i) for i in keyring.ids()] == [
        "default-pass-1",
        "pw-for-ops",
        "prod-pass-2",
        "test-pass-3",
    ]


def test_bare_path_with_at_sign_is_a_path(tmp_path: Path) -> None:
    folder = tmp_path / "ops@corp"
    folder.mkdir()
    write_secret(folder / "pw", "x-pass")
    assert VaultKeyring.from_sources([str(folder / "pw")], interactive=False).ids() == ["default"]


def test_default_id_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOVER_VAULT_PASSWORD", "env-pass")
    assert VaultKeyring.from_sources([], interactive=False).password("default") == "env-pass"
    explicit = write_secret(tmp_path / "pw", "file-pass")
    assert VaultKeyring.from_sources([str(explicit)], interactive=False).password("default") == "file-pass"
    monkeypatch.delenv("CUTOVER_VAULT_PASSWORD")
    monkeypatch.setenv("CUTOVER_VAULT_PASSWORD_FILE", str(explicit))
    assert VaultKeyring.from_sources([], interactive=False).password("default") == "file-pass"
    monkeypatch.setenv("CUTOVER_VAULT_PASSWORD", "env-pass")
    with pytest.raises(UserError, match="both CUTOVER_VAULT_PASSWORD and CUTOVER_VAULT_PASSWORD_FILE"):
        VaultKeyring.from_sources([], interactive=False)


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["prod@prompt"], "vault id 'prod' asks for a password prompt, but there is no terminal"),
        (["prod@env:NOPE_NOT_SET"], "environment variable NOPE_NOT_SET .* is not set"),
        (["prod@/does/not/exist"], "password file /does/not/exist for vault id 'prod' does not exist"),
        (["prod@env:EMPTY_PW"], "password for vault id 'prod' from environment variable EMPTY_PW is empty"),
        (["prod@env:A_PW", "prod@env:A_PW"], "vault id 'prod' is given more than once"),
        (["prod@"], "names no password source"),
        (["@env:A_PW"], "names no vault id"),
        (["prod@exec:/bin/false"], "password script /bin/false for vault id 'prod' exited with code 1"),
        ([""], "empty --vault-id"),
    ],
)
def test_bad_sources_get_clear_messages(
    monkeypatch: pytest.MonkeyPatch, sources: list[str], message: str
) -> None:
    monkeypatch.setenv("EMPTY_PW", "")
    monkeypatch.setenv("A_PW", "a-pass")
    with pytest.raises(UserError, match=message):
        VaultKeyring.from_sources(sources, interactive=False)


def test_invalid_vault_ids_are_refused() -> None:
    with pytest.raises(UserError, match="invalid vault id 'a;b'"):
        VaultKeyring({"a;b": "pw-pw"})
    with pytest.raises(UserError, match="invalid vault id"):
        encrypt_text("x", "pw-pw", vault_id="has space")


def test_password_file_that_cannot_be_read_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot read password file .* for vault id 'prod': Is a directory"):
        VaultKeyring.from_sources([f"prod@{tmp_path}"], interactive=False)


def test_decrypt_without_any_keyring_names_the_needed_id(keyring: VaultKeyring) -> None:
    with pytest.raises(UserError, match="a.yml:1:1: no password for vault id 'prod' .known ids: none."):
        decrypt_text(keyring.encrypt("x", "prod"), None, Location("a.yml", 1, 1))
