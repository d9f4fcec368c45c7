"""ansible-vault's format, read and written byte for byte as ansible-core does (lib/ansible/parsing/vault).

    $ANSIBLE_VAULT;1.1;AES256            (no vault id: Ansible's `default`)
    $ANSIBLE_VAULT;1.2;AES256;<vault-id>
    hexlify( hexlify(salt) \\n hexlify(hmac) \\n hexlify(ciphertext) ), 80 columns, final newline

The key material is PBKDF2-HMAC-SHA256(password, salt[32], 10000 iterations, 80 bytes): 32 bytes
of AES key, 32 of HMAC key, 16 of counter block. The plaintext is PKCS#7-padded to the AES block,
encrypted with AES-256-CTR, and the ciphertext authenticated with HMAC-SHA256 (checked before
anything is decrypted). Every primitive is `cryptography`'s; nothing here is hand-written crypto.

As ansible-vault does, a value whose header names a vault id is tried first with that id's
password, then with every other password given (a 1.1 value names none, so all are tried).
"""

from __future__ import annotations

import binascii
import functools
import os
from dataclasses import dataclass
from typing import Any

from engine.core.errors import Location, UserError

MAGIC = "$ANSIBLE_VAULT"
CIPHER = "AES256"
DEFAULT_ID = "default"
ITERATIONS = 10000
SALT_BYTES = 32
KEY_BYTES = 32
IV_BYTES = 16
LINE_WIDTH = 80
MALFORMED_HINT = "an ansible-vault value must be the block ansible-vault (or `cutover vault`) wrote, unchanged"


def is_ansible_vault(text: str) -> bool:
    """True when `text` (a file's content or a `!vault` scalar) is in ansible-vault's format."""
    return text.lstrip("\ufeff \t\r\n").startswith(MAGIC + ";")


@dataclass(frozen=True, slots=True)
class AnsibleSealed:
    """A parsed ansible-vault text: its header fields and the three binary parts of its body."""

    version: str
    vault_id: str
    salt: bytes
    hmac: bytes
    ciphertext: bytes


def parse(text: str, location: Location | None = None) -> AnsibleSealed:
    """The header and binary parts of an ansible-vault text, checked for shape (no password needed)."""
    lines = [line.strip() for line in text.lstrip("\ufeff").strip().splitlines()]
    fields = [f.strip() for f in lines[0].split(";")] if lines else []
    if len(fields) < 3 or fields[0] != MAGIC:
        raise UserError(f"malformed ansible-vault header {lines[0] if lines else ''!r}", location, MALFORMED_HINT)
    version, cipher = fields[1], fields[2]
    if version not in ("1.1", "1.2"):
        raise UserError(f"ansible-vault format version {version!r} is not supported (1.1 and 1.2 are)", location,
                        "re-encrypt it with a current ansible-vault or `cutover vault`")
    if cipher != CIPHER:
        raise UserError(f"unknown ansible-vault cipher {cipher!r} (expected {CIPHER})", location, MALFORMED_HINT)
    vault_id = fields[3] if len(fields) >= 4 and fields[3] else DEFAULT_ID
    try:
        inner = binascii.unhexlify("".join(lines[1:]))
        salt_hex, hmac_hex, cipher_hex = inner.split(b"\n", 2)
        return AnsibleSealed(version, vault_id, binascii.unhexlify(salt_hex), binascii.unhexlify(hmac_hex),
                             binascii.unhexlify(cipher_hex))
    except (binascii.Error, ValueError):
        raise UserError("malformed ansible-vault data: the body is not the hexadecimal layout ansible-vault writes",
                        location, MALFORMED_HINT) from None


@functools.lru_cache(maxsize=256)
def derive(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES key, HMAC key, counter block) for a password and salt; cached, as ansible-core caches them."""
    # cryptography is imported where a vault is opened, not by every run (~8 ms of start-up)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=2 * KEY_BYTES + IV_BYTES, salt=salt, iterations=ITERATIONS)
    material = kdf.derive(password)
    return material[:KEY_BYTES], material[KEY_BYTES : 2 * KEY_BYTES], material[2 * KEY_BYTES :]


def encrypt(plaintext: str, password: str, vault_id: str = DEFAULT_ID, *, salt: bytes | None = None) -> str:
    """The ansible-vault text of `plaintext` (1.1 for the default id, 1.2 naming any other)."""
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    aes_key, hmac_key, iv = derive(password.encode("utf-8"), salt)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = HMAC(hmac_key, hashes.SHA256())
    mac.update(ciphertext)
    inner = b"\n".join([binascii.hexlify(salt), binascii.hexlify(mac.finalize()), binascii.hexlify(ciphertext)])
    body = binascii.hexlify(inner).decode("ascii")
    header = f"{MAGIC};1.1;{CIPHER}" if vault_id == DEFAULT_ID else f"{MAGIC};1.2;{CIPHER};{vault_id}"
    return "\n".join([header, *(body[i : i + LINE_WIDTH] for i in range(0, len(body), LINE_WIDTH))]) + "\n"


def _open(sealed: AnsibleSealed, password: str) -> bytes | None:
    """The plaintext bytes, or None when the HMAC says this is not the password (or the data was altered)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    aes_key, hmac_key, iv = derive(password.encode("utf-8"), sealed.salt)
    mac = HMAC(hmac_key, hashes.SHA256())
    mac.update(sealed.ciphertext)
    try:
        mac.verify(sealed.hmac)
    except InvalidSignature:
        return None
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).decryptor()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(decryptor.update(sealed.ciphertext) + decryptor.finalize()) + unpadder.finalize()
    except ValueError:
        return None


def decrypt(keyring: Any, text: str, location: Location | None = None) -> str:
    """The plaintext of an ansible-vault text with the keyring's passwords (its own id's first)."""
    sealed = parse(text, location)
    ids = keyring.ids()
    if not ids:
        keyring.password(sealed.vault_id, location)  # raises: says which id is needed, and how to give it
    order = ([sealed.vault_id] if sealed.vault_id in ids else []) + [i for i in ids if i != sealed.vault_id]
    for vault_id in order:
        data = _open(sealed, keyring.password(vault_id, location))
        if data is not None:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError("the decrypted ansible-vault content is not UTF-8 text", location) from None
    raise UserError(
        f"decryption failed for ansible-vault id {sealed.vault_id!r}: no password given opens it "
        f"(tried {', '.join(order)})",
        location,
        f"check the password given for {sealed.vault_id!r} (--vault-id {sealed.vault_id}@FILE, "
        "--vault-password-file FILE or --ask-vault-pass)",
    )
