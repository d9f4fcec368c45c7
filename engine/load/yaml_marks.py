"""Load YAML keeping where every node came from.

PyYAML's C composer (when present) builds the node tree; we convert it to plain Python values
inside `LDict`/`LList` containers that remember the `Location` of each key and value, so every
later stage can report `file:line:col`. Duplicate keys are an error (YAML allows the last one to
win silently, which has hidden real mistakes in inventories). `!vault` scalars become
`engine.load.vault.keyring.EncryptedValue`; whole vault-encrypted files are decrypted before parsing.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from engine.core.errors import Location, Problem, UserError

try:  # the C composer is several times faster on large inventories
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_DEPTH = 200
#: aliases can make a small file expand enormously ("billion laughs"); no real inventory comes near
MAX_NODES = 2_000_000


class LDict(dict):
    """A dict that knows where it, each key and each value sit in the source file."""

    __slots__ = ("loc", "key_locs", "value_locs")

    def __init__(self, loc: Location | None = None):
        super().__init__()
        self.loc = loc
        self.key_locs: dict[Any, Location] = {}
        self.value_locs: dict[Any, Location] = {}

    def key_loc(self, key: Any) -> Location | None:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key: Any) -> Location | None:
        return self.value_locs.get(key, self.key_locs.get(key, self.loc))


class LList(list):
    """A list that knows where it and each item sit in the source file."""

    __slots__ = ("loc", "item_locs")

    def __init__(self, loc: Location | None = None):
        super().__init__()
        self.loc = loc
        self.item_locs: list[Location] = []

    def item_loc(self, index: int) -> Location | None:
        if 0 <= index < len(self.item_locs):
            return self.item_locs[index]
        return self.loc


def location_of(container: Any, key: Any = None) -> Location | None:
    """Best location for `container[key]` (or the container itself when key is None)."""
    if key is None:
        return getattr(container, "loc", None)
    if isinstance(container, LDict):
        return container.value_loc(key)
    if isinstance(container, LList) and isinstance(key, int):
        return container.item_loc(key)
    return getattr(container, "loc", None)


def _loc(path: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)


class _Converter:
    """Node tree -> located Python values, collecting every problem instead of stopping."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []
        # one constructor per file: PyYAML's keeps every node it built, so a shared one would leak
        self.scalars = yaml.constructor.SafeConstructor()
        #: values produced so far, counting an alias as the size of what it repeats
        self.count = 0
        #: id(collection node) -> (converted value, its size): an alias shares the value (as PyYAML does)
        self.done: dict[int, tuple[Any, int]] = {}

    def convert(self, node: yaml.Node, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            self.problems.append(
                Problem("document nested too deeply (recursive alias?)", _loc(self.path, node))
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            self.count += 1
            return self._scalar(node)
        seen = self.done.get(id(node))
        if seen is not None:
            self.count += seen[1]
            if self.count > MAX_NODES:
                self._too_big(node)
                return None
            return seen[0]
        before = self.count
        if isinstance(node, yaml.MappingNode):
            value: Any = self._mapping(node, depth)
        else:
            value = LList(_loc(self.path, node))
            for item in node.value:
                value.append(self.convert(item, depth + 1))
                value.item_locs.append(_loc(self.path, item))
        self.count += 1
        self.done[id(node)] = (value, self.count - before)
        return value

    def _too_big(self, node: yaml.Node) -> None:
        if not any(p.message.startswith("document expands") for p in self.problems):
            self.problems.append(
                Problem(
                    f"document expands to more than {MAX_NODES:,} values (repeated aliases?)",
                    _loc(self.path, node),
                    hint="YAML aliases repeat what they point at",
                )
            )

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR_TAG:  # most values: skip the constructor's bookkeeping
            return node.value
        if node.tag == "!vault":
            from engine.load.vault.keyring import EncryptedValue

            return EncryptedValue(str(node.value), _loc(self.path, node))
        if node.tag.startswith("!"):
            self.problems.append(
                Problem(
                    f"unknown tag {node.tag}", _loc(self.path, node), hint="the only custom tag is !vault"
                )
            )
            return node.value
        try:
            return self.scalars.construct_object(node)
        except yaml.constructor.ConstructorError as err:
            self.problems.append(Problem(f"bad value: {err.problem}", _loc(self.path, node)))
        except (ValueError, TypeError, OverflowError) as err:  # e.g. `!!int abc`, `!!float x`
            self.problems.append(
                Problem(
                    f"bad {node.tag.rsplit(':', 1)[-1]} value {node.value!r}: {err}", _loc(self.path, node)
                )
            )
        return node.value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> LDict:
        out = LDict(_loc(self.path, node))
        merged: list[tuple[Any, Any, Location, Location]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_source(value_node, depth))
                continue
            key = self.convert(key_node, depth + 1)
            if isinstance(key, list | dict):
                # `msg: {{ x }}` parses as a mapping whose key is a mapping: the classic unquoted template
                hint = (
                    'a value starting with "{{" must be quoted: "{{ var }}"'
                    if isinstance(key_node, yaml.MappingNode) and key_node.flow_style
                    else None
                )
                self.problems.append(
                    Problem("a mapping key must be a plain value", _loc(self.path, key_node), hint)
                )
                continue
            if key in out:
                first = out.key_locs[key]
                self.problems.append(
                    Problem(
                        f"duplicate key {key!r} (first defined at line {first.line})",
                        _loc(self.path, key_node),
                        hint="YAML would silently keep only the last one; remove or rename one of them",
                    )
                )
                continue
            out[key] = self.convert(value_node, depth + 1)
            out.key_locs[key] = _loc(self.path, key_node)
            out.value_locs[key] = _loc(self.path, value_node)
        for key, value, key_loc, value_loc in merged:  # explicit keys win over `<<:` merges
            if key not in out:
                out[key] = value
                out.key_locs[key] = key_loc
                out.value_locs[key] = value_loc
        return out

    def _merge_source(self, node: yaml.Node, depth: int) -> list[tuple[Any, Any, Location, Location]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        items = []
        for source in sources:
            value = self.convert(source, depth + 1)
            if not isinstance(value, LDict):
                self.problems.append(Problem("`<<` merges only mappings", _loc(self.path, source)))
                continue
            items.extend((k, v, value.key_locs[k], value.value_locs[k]) for k, v in value.items())
        return items


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects that form no cycles.

    Loading a 10,000-host inventory or planning 100,000 nodes allocates millions of containers;
    the collector would walk all of them again and again (most of that time is the collector's).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_text(text: str, path: str, keyring: Any = None) -> Any:
    """Parse one YAML document; UserError with every problem found, located."""
    from engine.load.vault.keyring import decrypt_text, is_vault_text

    if is_vault_text(text):
        text = decrypt_text(text, keyring, Location(path, 1, 1))
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        loc = _mark_location(text, path, mark)
        message = f"YAML syntax error: {err.problem or err.context}"
        if err.context and err.problem:
            message += f" ({err.context})"
        raise UserError(message, loc, hint=_syntax_hint(err, text)) from None
    except yaml.reader.ReaderError as err:  # a control character: PyYAML gives only an offset
        raise UserError(
            f"YAML error: character {err.character!r} is not allowed in YAML text",
            _offset_location(text, path, err.position),
            hint="remove it, or write it as an escape inside double quotes (\\x07)",
        ) from None
    except yaml.YAMLError as err:
        raise UserError(f"YAML error: {err}", Location(path)) from None
    if node is None:
        return None
    converter = _Converter(path)
    with bulk_allocation():
        value = converter.convert(node)
    if converter.problems:
        raise UserError.many(converter.problems)
    return value


def _mark_location(text: str, path: str, mark: Any) -> Location:
    """file:line:col of a PyYAML mark; the end of a text without a final newline stays on its last line."""
    if mark is None:
        return Location(path)
    lines = text.split("\n")
    if mark.line >= len(lines):
        return Location(path, len(lines), len(lines[-1]) + 1)
    return Location(path, mark.line + 1, mark.column + 1)


def _offset_location(text: str, path: str, offset: int) -> Location:
    """file:line:col of a character offset into `text`."""
    before = text[:offset]
    line = before.count("\n") + 1
    return Location(path, line, offset - (before.rfind("\n") + 1) + 1)


def _char_at(text: str, mark: Any) -> str:
    if mark is None:
        return ""
    lines = text.split("\n")
    if 0 <= mark.line < len(lines) and 0 <= mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


def _syntax_hint(err: yaml.MarkedYAMLError, text: str = "") -> str | None:
    problem = str(err.problem or "")
    if "tab" in problem or _char_at(text, err.problem_mark) == "\t":
        return "YAML indentation must use spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': ', and check this line is indented like the keys around it"
    if "found character '%'" in problem or "'{'" in problem or "found unhashable key" in problem:
        return 'a value starting with "{{" must be quoted: "{{ var }}"'
    return None


class SourceFile:
    """A file read once: its text, parsed value and sha256 (part of the run's content hash)."""

    __slots__ = ("path", "text", "value", "sha256")

    def __init__(self, path: Path, keyring: Any = None, parse: bool = True):
        self.path = path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise UserError(f"file not found: {path}") from None
        except OSError as err:
            raise UserError(f"cannot read {path}: {err.strerror}") from None
        self.sha256 = hashlib.sha256(raw).hexdigest()
        try:
            self.text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            before = raw[: err.start].decode("utf-8-sig", errors="replace")
            raise UserError(
                f"not UTF-8 text: byte 0x{raw[err.start]:02x} cannot be read",
                _offset_location(before + "?", str(path), len(before)),
                hint="save the file as UTF-8 (editors call it 'UTF-8' or 'Unicode')",
            ) from None
        self.value = parse_text(self.text, str(path), keyring) if parse else None


def load_file(path: str | Path, keyring: Any = None) -> SourceFile:
    """Read and parse one YAML file."""
    return SourceFile(Path(path), keyring)
