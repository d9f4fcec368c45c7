"""Host patterns as operators know them from Ansible.

`web`, `crm-db`, `all`, `*`, globs (`crm-web*`), roles (`db`), unions `a:b` (or `a,b`),
intersections `a:&b` and exclusions `a:!b`. A plain term is a host name, else a group (with its
nested groups), else a role; a glob matches host, group and role names. As in Ansible, the plain
terms are united first, then intersections narrow the set, then exclusions remove from it,
whatever order they are written in (a pattern of only `&`/`!` terms starts from all hosts); the
result keeps inventory order. A term that matches nothing is an error (a typo would otherwise
silently skip hosts). `@FILE` (a retry file, as `--limit @site.retry`) stands for the names in
FILE, one a line (`#` comments and blank lines ignored); a bad one is reported at its line.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace

from engine.core.errors import Location, UserError, closest
from engine.core.model import Inventory

_TERM = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+$")
_SPLIT = re.compile(r"[^:,]+")


def split_pattern(pattern: str) -> list[str]:
    """Split on ':' and ','; surrounding spaces are ignored."""
    return [t for t, _offset in _terms(pattern)]


def _terms(pattern: str) -> list[tuple[str, int]]:
    """(term, offset of its first character in `pattern`) for each non-empty term."""
    out = []
    for found in _SPLIT.finditer(pattern):
        text = found.group()
        if text.strip():
            out.append((text.strip(), found.start() + len(text) - len(text.lstrip())))
    return out


def _from_file(name: str, where: Location | None) -> list[tuple[str, Location | None]]:
    """The host names of a retry file, each with its own file:line:col."""
    from pathlib import Path

    path = Path(name).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"@{name}: no such file", where, hint="a retry file lists one host a line") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"@{name}: cannot read it ({getattr(err, 'strerror', None) or err})", where) from None
    out = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            out.append((text, Location(str(path), number, len(line) - len(line.lstrip()) + 1)))
    if not out:
        raise UserError(f"@{name}: the file lists no host", where)
    return out


def _names_for(term: str, inventory: Inventory, location: Location | None) -> list[str]:
    if term in ("all", "*"):
        return list(inventory.hosts)
    if not term:
        raise UserError(
            "'&' or '!' must be followed by a name, group, role or glob",
            location,
            hint="e.g. web:&prod, all:!db",
        )
    if not _TERM.match(term):
        raise UserError(
            f"bad host pattern term {term!r}",
            location,
            hint="terms are names, groups, roles or globs, joined by ':' ':&' ':!'",
        )
    if term in inventory.hosts:
        return [term]
    if term in inventory.groups:
        return list(inventory.groups[term].hosts)
    by_role = [h.name for h in inventory.hosts.values() if term in h.roles]
    if by_role:
        return by_role
    if any(c in term for c in "*?["):  # a glob matches host, group and role names, as in Ansible
        matched = {h for h in inventory.hosts if fnmatch.fnmatchcase(h, term)}
        for group in inventory.groups.values():
            if fnmatch.fnmatchcase(group.name, term):
                matched.update(group.hosts)
        for host in inventory.hosts.values():
            if any(fnmatch.fnmatchcase(role, term) for role in host.roles):
                matched.add(host.name)
        if matched:
            return [h for h in inventory.hosts if h in matched]
        raise UserError(f"host pattern {term!r} matches no host", location)
    candidates = (
        list(inventory.hosts)
        + list(inventory.groups)
        + sorted({r for h in inventory.hosts.values() for r in h.roles})
    )
    guess = closest(term, candidates)
    raise UserError(
        f"host pattern {term!r} matches no host, group or role",
        location,
        hint=f"did you mean {guess!r}?" if guess else "see `cutover inventory -i FILE` for names",
    )


def match_hosts(
    pattern: str | list[str],
    inventory: Inventory,
    location: Location | None = None,
    term_columns: bool = False,
) -> list[str]:
    """Host names matching `pattern`, in inventory order.

    With `term_columns`, `location` is where the pattern's first character sits and an error
    points at the column of the term at fault (used for `--limit`, whose text is the whole "file").
    """
    text = ",".join(str(p) for p in pattern) if isinstance(pattern, list) else str(pattern)
    terms = _terms(text)
    if not terms:
        raise UserError("empty host pattern", location, hint="e.g. all, web, db:web, web:!web2")
    union: set[str] = set()
    intersections: list[set[str]] = []
    exclusions: set[str] = set()
    saw_plain = False
    located: list[tuple[str, Location | None]] = []
    for term, offset in terms:
        where = location
        if term_columns and location is not None and location.line:
            where = replace(location, col=location.col + offset + (1 if term[0] in "&!" else 0))
        located.extend(_from_file(term[1:], where) if term.startswith("@") else [(term, where)])
    for term, where in located:
        if term.startswith("&"):
            intersections.append(set(_names_for(term[1:].strip(), inventory, where)))
        elif term.startswith("!"):
            exclusions.update(_names_for(term[1:].strip(), inventory, where))
        else:
            saw_plain = True
            union.update(_names_for(term, inventory, where))
    if not saw_plain:
        union = set(inventory.hosts)
    for subset in intersections:
        union &= subset
    union -= exclusions
    return [name for name in inventory.hosts if name in union]
