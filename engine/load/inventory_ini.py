"""Ansible INI inventories read into the `AnsibleTree`, with a location for every host, group and value.

The format is Ansible's own (its `ini` inventory plugin is the reference):

    web[01:04].example.com ansible_user=deploy http_port=8080   # hosts of `ungrouped` until a section
    [web]                       # a group's hosts; `host:2222` sets ansible_port
    db-[a:c] ansible_port=2222  # ranges: numbers (leading zeros kept), letters, optional :step
    [crm:children]              # child groups, one name a line
    web
    [crm:vars]                  # group variables, one key=value a line
    site=paris

Values are read the way Ansible reads them: a Python literal where the text is one (`3`, `1.5`,
`True`, `[1, 2]`, `{'a': 1}`), else the text itself (`yes` stays the string "yes"). On a host line
the words are split like a shell does (quotes group, `#` starts a comment) before that; in a
`:vars` section the text after `=` is taken whole, quotes included in what is evaluated. A
section or child that names a group never defined anywhere is an error, as in Ansible.
"""

from __future__ import annotations

import ast
import re
import shlex
import string
import warnings
from typing import Any

from engine.core.errors import Location, Problem
from engine.load.inventory_ansible import AnsibleTree
from engine.load.yaml_marks import LDict

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")
#: one shell word: unquoted runs and quoted parts, up to white space or a comment
_WORD = re.compile(r"""(?:[^\s"'#]+|"(?:\\.|[^"\\])*"?|'[^']*'?)+""")
_RANGE = re.compile(r"\[([^\]]*)\]")
_SECTION_KINDS = ("hosts", "children", "vars")
RANGE_HINT = "a range is [first:last] or [first:last:step]: web[01:04], db-[a:c], node[0:10:2]"


class IniError(Exception):
    """One line that does not parse: the message and the column it concerns."""

    def __init__(self, message: str, col: int = 1, hint: str | None = None):
        super().__init__(message)
        self.col = col
        self.hint = hint


def looks_like_ini(text: str) -> bool:
    """True when the first line that says anything is an INI section or an INI host line."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line == "---" or line.startswith(("%YAML", "- ")):
            return False
        if line.startswith("["):
            return True
        first = line.split(None, 1)[0]
        return not first.endswith(":") and ": " not in line.split("=", 1)[0]
    return False


def read_ini(text: str, path: str, tree: AnsibleTree) -> None:
    """Add the hosts, groups and variables of an INI inventory to `tree`; each bad line is a problem."""
    reader = _IniReader(path, tree)
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            reader.line(number, raw)
        except IniError as err:
            tree.problems.append(Problem(str(err), Location(path, number, err.col), err.hint))
    reader.check_pending()


class _IniReader:
    def __init__(self, path: str, tree: AnsibleTree):
        self.path = path
        self.tree = tree
        self.group = "ungrouped"
        self.kind = "hosts"
        self.defined = tree.defined
        #: group -> (where it was first needed, what needed it): a group only ever named, never defined
        self.pending: dict[str, tuple[Location, str]] = {}

    def loc(self, number: int, col: int) -> Location:
        return Location(self.path, number, col)

    def line(self, number: int, raw: str) -> None:
        line = raw.strip()
        if not line or line[0] in "#;":
            return
        indent = len(raw) - len(raw.lstrip()) + 1
        section = _SECTION.match(line)
        if section:
            self.section(number, indent, section.group(1), section.group(2) or "hosts")
            return
        if line.startswith("[") and line.endswith("]"):
            raise IniError(
                f"invalid section {line!r}",
                indent,
                "a section is [group], [group:children] or [group:vars], with no spaces inside the brackets",
            )
        if self.kind == "hosts":
            self.hosts(number, raw)
        elif self.kind == "vars":
            self.variable(number, raw, indent)
        else:
            found = _GROUP_NAME.match(line)
            if not found:
                raise IniError(f"expected a group name, got {line!r}", indent, "one child group name a line")
            child = found.group(1)
            self.tree.child(self.group, child, self.loc(number, indent))
            if child not in self.defined:
                self.pending.setdefault(child, (self.loc(number, indent), f"[{self.group}:children]"))

    def section(self, number: int, col: int, name: str, kind: str) -> None:
        if kind not in _SECTION_KINDS:
            raise IniError(
                f"section [{name}:{kind}] has unknown type {kind!r}",
                col + len(name) + 2,
                "the types are :children and :vars ([group] alone lists hosts)",
            )
        self.group, self.kind = name, kind
        self.tree.group(name, self.loc(number, col + 1))
        if kind == "vars":
            if name not in self.defined:
                self.pending.setdefault(name, (self.loc(number, col), f"[{name}:vars]"))
        else:
            self.defined.add(name)
            self.pending.pop(name, None)

    def check_pending(self) -> None:
        for name, (where, what) in self.pending.items():
            if name in ("all", "ungrouped") and what.endswith(":vars]"):
                continue
            message = (
                f"{what} names the group {name!r}, which is never defined"
                if what.endswith(":children]")
                else f"{what} sets variables of the group {name!r}, which is never defined"
            )
            self.tree.problems.append(
                Problem(message, where, hint=f"add a [{name}] section (it may list no host), or fix the name")
            )

    def hosts(self, number: int, raw: str) -> None:
        words = _words(raw)
        name_col, pattern = words[0]
        if pattern.strip() == "---":
            raise IniError("'---' starts a YAML document, not an INI host", name_col,
                           "an Ansible YAML inventory must start with `all:`")
        names, port = expand_host_pattern(pattern, name_col)
        values = LDict(self.loc(number, name_col))
        if port is not None:
            values["ansible_port"] = port
            values.key_locs["ansible_port"] = values.value_locs["ansible_port"] = values.loc
        for col, word in words[1:]:
            key, sep, text = word.partition("=")
            if not sep or not key:
                raise IniError(
                    f"expected key=value, got {word!r}",
                    col,
                    "host variables are written key=value after the host name (quote values with spaces)",
                )
            values[key] = parse_value(text)
            values.key_locs[key] = self.loc(number, col)
            values.value_locs[key] = self.loc(number, col + len(key) + 1)
        for name in names:
            host = self.tree.host(name, self.loc(number, name_col), self.group)
            self.tree.set_vars(host.vars, values)
        self.defined.add(self.group)

    def variable(self, number: int, raw: str, col: int) -> None:
        line = raw.strip()
        key, sep, text = line.partition("=")
        if not sep or not key.strip():
            raise IniError(f"expected key=value, got {line!r}", col, "a [group:vars] line is key=value")
        values = LDict(self.loc(number, col))
        key = key.strip()
        values[key] = parse_value(text.strip())
        values.key_locs[key] = self.loc(number, col)
        value_col = col + len(line.split("=", 1)[0]) + 1
        value_col += len(text) - len(text.lstrip())
        values.value_locs[key] = self.loc(number, value_col)
        self.tree.set_vars(self.tree.group(self.group, values.loc).vars, values)


def _words(raw: str) -> list[tuple[int, str]]:
    """(column, unquoted text) of each shell word of a host line, comments left out."""
    out: list[tuple[int, str]] = []
    for found in _WORD.finditer(raw):
        piece = found.group()
        try:
            parts = shlex.split(piece, comments=True)
        except ValueError as err:
            raise IniError(f"cannot split the host line: {str(err).lower()}", found.start() + 1,
                           "close the quote, or escape it") from None
        out.extend((found.start() + 1, part) for part in parts)
        if raw[found.end() : found.end() + 1] == "#":
            break
    return out


def parse_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal when it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """Literal types YAML has no word for become the ones Ansible turns them into."""
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def expand_host_pattern(pattern: str, col: int = 1) -> tuple[list[str], int | None]:
    """`web[01:03]:2222` -> (['web01', 'web02', 'web03'], 2222); ranges may repeat in one name."""
    name, port = _split_port(pattern, col)
    names = [name]
    while _RANGE.search(names[0]):
        names = [expanded for n in names for expanded in _expand_first_range(n, col)]
    return names, port


def _split_port(pattern: str, col: int) -> tuple[str, int | None]:
    """A trailing `:digits` outside brackets is the port (IPv6 addresses keep their colons)."""
    outside = _RANGE.sub(lambda m: "_" * len(m.group()), pattern)
    if outside.endswith(":"):
        raise IniError(f"host {pattern!r} ends with ':'", col + len(pattern) - 1,
                       "':' introduces a port: web1:2222")
    if outside.count(":") == 1:
        head, _, tail = pattern.rpartition(":")
        if tail.isdigit():
            return head, int(tail)
        raise IniError(f"host {pattern!r}: {tail!r} is not a port number", col + len(head) + 1,
                       "':' introduces a port: web1:2222")
    return pattern, None


def _expand_first_range(name: str, col: int) -> list[str]:
    found = _RANGE.search(name)
    assert found is not None
    head, tail = name[: found.start()], name[found.end() :]
    where = col + found.start()
    bounds = found.group(1).split(":")
    if len(bounds) not in (2, 3):
        raise IniError(f"host range [{found.group(1)}] must be first:last or first:last:step", where, RANGE_HINT)
    first, last = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not last:
        raise IniError(f"host range [{found.group(1)}] has no last value", where, RANGE_HINT)
    try:
        step = int(step_text)
    except ValueError:
        raise IniError(f"host range step {step_text!r} is not a number", where, RANGE_HINT) from None
    if step < 1:
        raise IniError(f"host range step {step} must be at least 1", where, RANGE_HINT)
    letters = string.ascii_letters
    if len(first) == 1 and len(last) == 1 and first in letters and last in letters:
        if letters.index(first) > letters.index(last):
            raise IniError(f"host range [{found.group(1)}] goes backwards", where, RANGE_HINT)
        values = list(letters[letters.index(first) : letters.index(last) + 1 : step])
    elif first.isdigit() and last.isdigit():
        width = len(first) if first.startswith("0") and len(first) > 1 else 0
        if width and len(last) != width:
            raise IniError(
                f"host range [{found.group(1)}]: with leading zeros both ends need {width} digits",
                where,
                RANGE_HINT,
            )
        if int(first) > int(last):
            raise IniError(f"host range [{found.group(1)}] goes backwards", where, RANGE_HINT)
        values = [str(n).zfill(width) for n in range(int(first), int(last) + 1, step)]
    else:
        raise IniError(
            f"host range [{found.group(1)}] mixes letters and numbers or has more than one letter",
            where,
            RANGE_HINT,
        )
    return [f"{head}{value}{tail}" for value in values]
