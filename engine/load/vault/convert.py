"""`cutover vault convert`: between cutover's vault format and ansible-vault's, whole files and inline values.

A whole vault file is decrypted and sealed again in the other format under the same vault id. In
a YAML file, each `!vault |` value is rewritten in place (same key, indentation, comments and
order, as `rekey` does), and the file is checked afterwards: before and after must hold the same
data once every value is opened, or nothing is written.
"""

from __future__ import annotations

from engine.core.errors import Location, UserError
from engine.load.vault import ansible as ansible_vault
from engine.load.vault.inline import _load, find_blocks
from engine.load.vault.keyring import VaultKeyring, is_vault_text, parse_vault_text

FORMATS = ("cutover", "ansible")


def format_of(text: str) -> str:
    return "ansible" if ansible_vault.is_ansible_vault(text) else "cutover"


def seal(keyring: VaultKeyring, plaintext: str, vault_id: str, to: str) -> str:
    """`plaintext` encrypted for `vault_id` in format `to` (`cutover` or `ansible`)."""
    if to == "ansible":
        return ansible_vault.encrypt(plaintext, keyring.password(vault_id), vault_id)
    return keyring.encrypt(plaintext, vault_id)


def convert_text(text: str, keyring: VaultKeyring, to: str, path: str) -> tuple[str, int]:
    """`text` with its vault content in format `to`, and how many values were converted."""
    if is_vault_text(text):
        where = Location(path, 1, 1)
        plain = keyring.decrypt(text, where)
        return seal(keyring, plain, parse_vault_text(text, where).vault_id, to), 1
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    done = count = 0
    for block in find_blocks(lines):
        out.extend(lines[done : block.first])
        sealed = block.text(lines)
        if is_vault_text(sealed) and format_of(sealed) != to:
            where = Location(path, block.first + 1, block.indent + 1)
            fresh = seal(keyring, keyring.decrypt(sealed, where), parse_vault_text(sealed, where).vault_id, to)
            out.extend(" " * block.indent + row + newline for row in fresh.splitlines())
            count += 1
        else:
            out.extend(lines[block.first : block.end])
        done = block.end
    out.extend(lines[done:])
    result = "".join(out)
    before, values = _load(text, path, keyring.decrypt)
    if values == 0:
        raise UserError(f"{path}: not a vault file and holds no `!vault |` values; nothing to convert")
    if _load(result, path, keyring.decrypt)[0] != before:
        raise UserError(f"{path}: converting the inline vault values would change the file's data; nothing written",
                        hint="write each value as `key: !vault |` followed by its indented block")
    return result, count
