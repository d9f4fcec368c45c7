"""Re-encrypting the `!vault |` values inside a YAML file without touching anything else.

`cutover vault rekey` on a plain YAML file rewrites each inline value in place (same key, same
indentation, comments and order kept) under the new vault id, all with one salt, so the file
then costs one key derivation to load. The rewrite is text-based to keep the file as the
operator wrote it, and checked afterwards: the file is parsed before and after, and both must
hold the same data with every vault value now under the new key, or nothing is written.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from engine.core.errors import Location, UserError
from engine.load.vault.keyring import VaultKeyring, is_vault_text, parse_vault_text

#: A line whose value is a `!vault` literal block: `key: !vault |`, `- !vault |-`, ...
TAG_LINE = re.compile(r"(?:^|[\s:\-\[{,])!vault\s+\|[1-9]?[-+]?[1-9]?\s*(?:#.*)?$")


@dataclass(frozen=True, slots=True)
class InlineBlock:
    """One `!vault |` value: the 0-based range of its content lines and their indentation."""

    first: int
    end: int
    indent: int

    def text(self, lines: list[str]) -> str:
        return "".join(line[self.indent :] if line.strip() else "\n" for line in lines[self.first : self.end])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def find_blocks(lines: list[str]) -> list[InlineBlock]:
    """The `!vault |` values of a YAML text split with `keepends=True`."""
    blocks: list[InlineBlock] = []
    index = 0
    while index < len(lines):
        line = lines[index].rstrip("\r\n")
        index += 1
        if not TAG_LINE.search(line):
            continue
        start = index
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start == len(lines) or _indent(lines[start]) <= _indent(line):
            continue  # an empty block scalar: nothing to rewrite
        indent = _indent(lines[start])
        end = start
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= indent):
            end += 1
        while end > start and not lines[end - 1].strip():  # trailing blank lines are not ours
            end -= 1
        blocks.append(InlineBlock(start, end, indent))
        index = end
    return blocks


def vault_ids_in(text: str) -> set[str]:
    """The vault ids a whole vault file or a YAML file's inline values need (malformed ones skipped)."""
    if is_vault_text(text):
        return {parse_vault_text(text).vault_id}
    lines = text.splitlines(keepends=True)
    found = set()
    for block in find_blocks(lines):
        with contextlib.suppress(UserError):
            found.add(parse_vault_text(block.text(lines)).vault_id)
    return found


def rekey_inline(text: str, old: VaultKeyring, new: VaultKeyring, new_id: str, path: str) -> tuple[str, int]:
    """`text` with every inline value re-encrypted for `new_id` (one salt); also how many there were."""
    encrypter = new.encrypter(new_id)
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    done = 0
    for block in find_blocks(lines):
        out.extend(lines[done : block.first])
        sealed = block.text(lines)
        if is_vault_text(sealed):
            location = Location(path, block.first + 1, block.indent + 1)
            fresh = encrypter.encrypt(old.decrypt(sealed, location))
            out.extend(" " * block.indent + row + newline for row in fresh.splitlines())
        else:
            out.extend(lines[block.first : block.end])
        done = block.end
    out.extend(lines[done:])
    result = "".join(out)
    count = _check_same_data(text, result, old, new, new_id, path)
    return result, count


def _check_same_data(
    before: str, after: str, old: VaultKeyring, new: VaultKeyring, new_id: str, path: str
) -> int:
    """Both texts must parse to the same data, and `after` may only hold values sealed for `new_id`
    with the new keyring's one salt (whose key is cached, so this check derives no key)."""
    salt = new.encrypter(new_id).salt
    stale: list[int] = []

    def open_after(value: str, where: Location) -> str:
        sealed = parse_vault_text(value, where)
        if sealed.vault_id != new_id or sealed.salt != salt:
            stale.append(where.line)
            return old.decrypt(value, where)
        return new.decrypt(value, where)

    wanted = _load(before, path, old.decrypt)
    if wanted[1] == 0:
        raise UserError(
            f"{path}: not a vault file and holds no `!vault |` values",
            hint="encrypt it first with `cutover vault encrypt`",
        )
    got = _load(after, path, open_after)
    if got[0] != wanted[0] or stale:
        where = f" (line {stale[0]} could not be rewritten)" if stale else ""
        raise UserError(
            f"{path}: rewriting the inline vault values would change the file's data{where}; nothing written",
            hint="write the value as `key: !vault |` followed by the indented block `encrypt-string` prints",
        )
    return wanted[1]


def _load(text: str, path: str, open_value: Callable[[str, Location], str]) -> tuple[list[Any], int]:
    """All YAML documents of `text`, `!vault` values opened, unknown tags read as plain data."""
    count = 0

    class Loader(yaml.SafeLoader):
        pass

    def vault(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        nonlocal count
        count += 1
        mark = node.start_mark
        return open_value(str(loader.construct_scalar(node)), Location(path, mark.line + 1, mark.column + 1))  # type: ignore[arg-type]

    def other(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)  # type: ignore[arg-type]

    Loader.add_constructor("!vault", vault)
    Loader.add_multi_constructor("!", other)
    try:
        return list(yaml.load_all(text, Loader=Loader)), count  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise UserError(f"cannot parse YAML: {getattr(err, 'problem', None) or err}", location) from None
