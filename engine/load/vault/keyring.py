"""The vault: secrets encrypted at rest in playbooks and inventories, decrypted only in memory.

Format (whole files and single `!vault` values alike; docs/vault.md has the details)::

    $CUTOVER_VAULT;1;AES256GCM;<vault-id>
    base64( salt[16] | nonce[12] | AES-256-GCM(padded UTF-8 plaintext) | tag[16] ), 76 columns

The key is scrypt(password, salt, n=2**16, r=8, p=1). The header line is the GCM's additional
authenticated data, so changing the vault id (or anything else) makes decryption fail instead of
sending the operator to the wrong password. The plaintext is padded to a multiple of 32 bytes so
the ciphertext does not give away a password's exact length.

Speed: scrypt is slow on purpose (~0.2 s), so a keyring caches derived keys per (vault id, salt),
and one encrypter reuses one random salt for every value it encrypts (with a fresh random nonce
per value): values encrypted together, or re-encrypted by `cutover vault rekey`, cost one KDF to
decrypt however many there are.
"""

from __future__ import annotations

import base64
import binascii
import os
import textwrap
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.core.errors import Location, UserError
from engine.core.secrets import Masker
from engine.load.vault import ansible as ansible_vault
from engine.load.vault.sources import (
    DEFAULT_VAULT_ID,
    SOURCE_HINT,
    check_vault_id,
    parse_source,
    password_from_environment,
    read_password,
)

__all__ = [
    "DEFAULT_VAULT_ID",
    "EncryptedValue",
    "VaultEncrypter",
    "VaultKeyring",
    "decrypt_text",
    "encrypt_text",
    "is_vault_text",
    "vault_id_of",
]

MAGIC = "$CUTOVER_VAULT"
FORMAT_VERSION = "1"
CIPHER = "AES256GCM"
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
#: scrypt cost for format 1: 64 MiB of memory (128 * r * n bytes) and ~0.2 s per derivation.
SCRYPT_N = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
PAD_BLOCK = 32
LINE_WIDTH = 76
MALFORMED_HINT = "a vault value must be the block `cutover vault` wrote, unchanged (re-create it if unsure)"


def derive_key(password: str, salt: bytes) -> bytes:
    """The AES key for `password` and `salt` (scrypt: memory-hard, so guessing costs GPUs dearly)."""
    # cryptography is imported where a vault is used, not by every run (~8 ms of start-up)
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(password.encode("utf-8"))


def header_for(vault_id: str) -> str:
    return f"{MAGIC};{FORMAT_VERSION};{CIPHER};{vault_id}"


def is_vault_text(text: str) -> bool:
    """True when `text` (a file's content or a `!vault` scalar) is in cutover's or ansible-vault's format."""
    return text.lstrip("\ufeff \t\r\n").startswith(MAGIC + ";") or ansible_vault.is_ansible_vault(text)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A parsed vault text: what the header says and the binary parts of the body."""

    vault_id: str
    salt: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def aad(self) -> bytes:
        return header_for(self.vault_id).encode("ascii")


def parse_vault_text(text: str, location: Location | None = None) -> Sealed | ansible_vault.AnsibleSealed:
    """The header and binary parts of a vault text, checked for shape (no password needed)."""
    if ansible_vault.is_ansible_vault(text):
        return ansible_vault.parse(text, location)
    lines = [line.strip() for line in text.lstrip("\ufeff").strip().splitlines()]
    if not lines or not lines[0].startswith(MAGIC + ";"):
        raise UserError(f"malformed vault data: it does not start with {MAGIC}", location, MALFORMED_HINT)
    fields = lines[0].split(";")
    if len(fields) != 4:
        raise UserError(f"malformed vault header {lines[0]!r}", location, f"expected {header_for('ID')}")
    _, version, cipher, vault_id = fields
    if version != FORMAT_VERSION:
        raise UserError(
            f"vault format version {version!r} is not supported (this cutover reads {FORMAT_VERSION})",
            location,
            "upgrade cutover, or re-encrypt the value with this version",
        )
    if cipher != CIPHER:
        raise UserError(f"unknown vault cipher {cipher!r} (expected {CIPHER})", location, MALFORMED_HINT)
    if not vault_id:
        raise UserError("malformed vault header: the vault id is empty", location, MALFORMED_HINT)
    try:
        blob = base64.b64decode("".join(lines[1:]), validate=True)
    except (binascii.Error, ValueError):
        raise UserError(
            "malformed vault data: the body is not valid base64", location, MALFORMED_HINT
        ) from None
    if len(blob) < SALT_BYTES + NONCE_BYTES + TAG_BYTES + PAD_BLOCK:
        raise UserError("malformed vault data: the body is too short (truncated?)", location, MALFORMED_HINT)
    salt, rest = blob[:SALT_BYTES], blob[SALT_BYTES:]
    return Sealed(vault_id, salt, rest[:NONCE_BYTES], rest[NONCE_BYTES:])


def vault_id_of(text: str, location: Location | None = None) -> str:
    """The vault id in a vault text's header (UserError when the text is malformed)."""
    return parse_vault_text(text, location).vault_id


def _pad(data: bytes) -> bytes:
    """PKCS#7-style padding to PAD_BLOCK bytes: 1..32 bytes, each holding the pad length."""
    count = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([count]) * count


def _unpad(data: bytes) -> bytes | None:
    count = data[-1] if data else 0
    if not 1 <= count <= PAD_BLOCK or data[-count:] != bytes([count]) * count:
        return None
    return data[:-count]


class VaultEncrypter:
    """Encrypts many values for one vault id with one KDF: one random salt, a random nonce each.

    Reusing the salt across the values of one batch is safe: the salt only has to make a
    precomputed password dictionary useless, and GCM stays safe with random 96-bit nonces far
    beyond the number of values a vault ever holds. Different batches get different salts.
    """

    def __init__(self, password: str, vault_id: str = DEFAULT_VAULT_ID, *, salt: bytes | None = None):
        self.vault_id = check_vault_id(vault_id)
        self.salt = salt if salt is not None else os.urandom(SALT_BYTES)
        self.key = derive_key(password, self.salt)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(self.key)
        self._header = header_for(self.vault_id)

    def __repr__(self) -> str:
        return f"VaultEncrypter(vault_id={self.vault_id!r})"

    def encrypt(self, plaintext: str) -> str:
        """The vault text for `plaintext`: header line, then base64 lines, ending with a newline."""
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                "the text to encrypt is not valid Unicode (undecodable bytes in the input?)"
            ) from None
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, _pad(data), self._header.encode("ascii"))
        body = base64.b64encode(self.salt + nonce + sealed).decode("ascii")
        return "\n".join([self._header, *textwrap.wrap(body, LINE_WIDTH)]) + "\n"


def encrypt_text(plaintext: str, password: str, vault_id: str = DEFAULT_VAULT_ID) -> str:
    """Encrypt one text with a fresh salt (use a `VaultEncrypter` or a keyring for many values)."""
    return VaultEncrypter(password, vault_id).encrypt(plaintext)


def decrypt_text(text: str, keyring: VaultKeyring | None, location: Location | None = None) -> str:
    """Decrypt a vault text with the keyring's password for the id in its header.

    `keyring` may be None (a command run without any vault password): the error then says
    which id is needed and where, as a missing password for that id would.
    """
    return (keyring if keyring is not None else VaultKeyring()).decrypt(text, location)


class VaultKeyring:
    """Vault ids -> passwords, with the derived keys cached so each (id, salt) costs one KDF.

    Every password it holds and every value it decrypts is registered with its `masker`, so a
    secret cannot reach the console, the journal or a report without being masked. Thread-safe:
    the executor's workers decrypt through one keyring.
    """

    def __init__(self, passwords: Mapping[str, str] | None = None, *, masker: Masker | None = None):
        self.masker = masker if masker is not None else Masker()
        self._passwords: dict[str, str] = {}
        self._keys: dict[tuple[str, bytes], bytes] = {}
        self._encrypters: dict[str, VaultEncrypter] = {}
        self._lock = threading.RLock()
        #: scrypt runs so far: with the cache, one per distinct (vault id, salt) this keyring has seen.
        self.derivations = 0
        for vault_id, password in (passwords or {}).items():
            self.add(vault_id, password)

    @classmethod
    def from_sources(
        cls,
        ids_and_sources: Iterable[str],
        interactive: bool,
        *,
        masker: Masker | None = None,
        confirm: bool = False,
    ) -> VaultKeyring:
        """A keyring from `--vault-id` arguments (`ID@SOURCE` or a bare source for `default`).

        The `default` id also comes from CUTOVER_VAULT_PASSWORD / CUTOVER_VAULT_PASSWORD_FILE
        when no argument names it. Prompts happen here, before any work starts, and only when
        `interactive`; `confirm` asks twice (for passwords about to encrypt something).
        """
        keyring = cls(masker=masker)
        for arg in ids_and_sources:
            vault_id, source = parse_source(arg)
            check_vault_id(vault_id)
            if vault_id in keyring:
                raise UserError(f"vault id {vault_id!r} is given more than once")
            keyring.add(vault_id, read_password(vault_id, source, interactive=interactive, confirm=confirm))
        if DEFAULT_VAULT_ID not in keyring:
            password = password_from_environment()
            if password is not None:
                keyring.add(DEFAULT_VAULT_ID, password)
        return keyring

    def __repr__(self) -> str:
        return f"VaultKeyring(ids={self.ids()!r})"

    def __contains__(self, vault_id: object) -> bool:
        return vault_id in self._passwords

    def __len__(self) -> int:
        return len(self._passwords)

    def ids(self) -> list[str]:
        return sorted(self._passwords)

    def add(self, vault_id: str, password: str) -> None:
        """Set the password of `vault_id` (replacing one forgets the keys derived from it)."""
        check_vault_id(vault_id)
        if not password:
            raise UserError(f"the password for vault id {vault_id!r} is empty")
        with self._lock:
            if self._passwords.get(vault_id) == password:
                return
            self._passwords[vault_id] = password
            self._keys = {slot: key for slot, key in self._keys.items() if slot[0] != vault_id}
            self._encrypters.pop(vault_id, None)
        self.masker.add(password)

    def password(self, vault_id: str, location: Location | None = None) -> str:
        """The password of `vault_id`; a UserError naming the id and where it was needed if there is none."""
        try:
            return self._passwords[vault_id]
        except KeyError:
            known = ", ".join(self.ids()) or "none"
            raise UserError(
                f"no password for vault id {vault_id!r} (known ids: {known})",
                location,
                SOURCE_HINT.format(id=vault_id),
            ) from None

    def _key(self, vault_id: str, salt: bytes, location: Location | None) -> bytes:
        with self._lock:
            key = self._keys.get((vault_id, salt))
            if key is None:
                key = derive_key(self.password(vault_id, location), salt)
                self.derivations += 1
                self._keys[(vault_id, salt)] = key
            return key

    def encrypter(self, vault_id: str = DEFAULT_VAULT_ID) -> VaultEncrypter:
        """This keyring's encrypter for `vault_id`: one salt for everything it encrypts."""
        with self._lock:
            encrypter = self._encrypters.get(vault_id)
            if encrypter is None:
                encrypter = VaultEncrypter(self.password(vault_id), vault_id)
                self.derivations += 1
                self._encrypters[vault_id] = encrypter
                self._keys[(vault_id, encrypter.salt)] = encrypter.key
            return encrypter

    def encrypt(self, plaintext: str, vault_id: str = DEFAULT_VAULT_ID) -> str:
        return self.encrypter(vault_id).encrypt(plaintext)

    def decrypt(self, text: str, location: Location | None = None) -> str:
        """The plaintext of a vault text; UserErrors say which id and where, never a traceback."""
        if ansible_vault.is_ansible_vault(text):
            plaintext = ansible_vault.decrypt(self, text, location)
            self.masker.add(plaintext)
            return plaintext
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        sealed = parse_vault_text(text, location)
        key = self._key(sealed.vault_id, sealed.salt, location)
        try:
            padded = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, sealed.aad)
        except InvalidTag:
            raise UserError(
                f"decryption failed for vault id {sealed.vault_id!r} (wrong password or tampered data)",
                location,
                f"check the password given for {sealed.vault_id!r}; if it is right, the value was altered",
            ) from None
        data = _unpad(padded)
        try:
            if data is None:
                raise ValueError("bad padding")
            plaintext = data.decode("utf-8")
        except ValueError:
            raise UserError("malformed vault data: the decrypted content is invalid", location) from None
        self.masker.add(plaintext)
        return plaintext


@dataclass(frozen=True, slots=True)
class EncryptedValue:
    """A `!vault` scalar as the loader found it: still encrypted, and where it was written.

    It stays encrypted through loading, validation and planning; templating decrypts it in
    memory when a task needs it, so a plan or a dry run never holds the secret in clear.
    """

    ciphertext: str
    location: Location | None = None

    def __repr__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"<EncryptedValue vault_id={self.vault_id!r}{where}>"

    @property
    def vault_id(self) -> str | None:
        """The id in the header, None when the value is malformed (`validate` says why)."""
        try:
            return parse_vault_text(self.ciphertext, self.location).vault_id
        except UserError:
            return None

    def validate(self) -> None:
        """Check the format without a password, so a broken value is reported at load time."""
        parse_vault_text(self.ciphertext, self.location)

    def decrypt(self, keyring: VaultKeyring) -> str:
        return keyring.decrypt(self.ciphertext, self.location)
