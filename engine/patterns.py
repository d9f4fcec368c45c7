"""Host patterns as operators know them from Ansible.

`web`, `crm-db`, `all`, `*`, globs (`crm-web*`), roles (`db`), unions `a:b` (or `a,b`),
intersections `a:&b` and exclusions `a:!b`. As in Ansible, the plain terms are united first,
then intersections narrow the set, then exclusions remove from it; the result keeps inventory
order. A term that matches nothing is an error (a typo would otherwise silently skip hosts).
"""

from __future__ import annotations

import fnmatch
import re

from engine.errors import Location, UserError, closest
from engine.model import Inventory

_TERM = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+$")


def split_pattern(pattern: str) -> list[str]:
    """Split on ':' and ',' (but not inside an IPv6 bracket, which host names never use here)."""
    return [t.strip() for t in re.split(r"[:,]", pattern) if t.strip()]


def _names_for(term: str, inventory: Inventory, location: Location | None) -> list[str]:
    if term in ("all", "*"):
        return list(inventory.hosts)
    if not _TERM.match(term):
        raise UserError(f"bad host pattern term {term!r}", location,
                        hint="terms are names, groups, roles or globs, joined by ':' ':&' ':!'")
    if term in inventory.hosts:
        return [term]
    if term in inventory.groups:
        return list(inventory.groups[term].hosts)
    by_role = [h.name for h in inventory.hosts.values() if term in h.roles]
    if by_role:
        return by_role
    if any(c in term for c in "*?["):
        matched = [h for h in inventory.hosts if fnmatch.fnmatchcase(h, term)]
        if matched:
            return matched
        raise UserError(f"host pattern {term!r} matches no host", location)
    candidates = list(inventory.hosts) + list(inventory.groups) + sorted(
        {r for h in inventory.hosts.values() for r in h.roles}
    )
    guess = closest(term, candidates)
    raise UserError(
        f"host pattern {term!r} matches no host, group or role",
        location,
        hint=f"did you mean {guess!r}?" if guess else "see `cutover inventory -i FILE` for names",
    )


def match_hosts(pattern: str | list[str], inventory: Inventory, location: Location | None = None) -> list[str]:
    """Host names matching `pattern`, in inventory order."""
    terms = split_pattern(",".join(pattern) if isinstance(pattern, list) else str(pattern))
    if not terms:
        raise UserError("empty host pattern", location)
    union: set[str] = set()
    intersections: list[set[str]] = []
    exclusions: set[str] = set()
    saw_plain = False
    for term in terms:
        if term.startswith("&"):
            intersections.append(set(_names_for(term[1:], inventory, location)))
        elif term.startswith("!"):
            exclusions.update(_names_for(term[1:], inventory, location))
        else:
            saw_plain = True
            union.update(_names_for(term, inventory, location))
    if not saw_plain:
        union = set(inventory.hosts)
    for subset in intersections:
        union &= subset
    union -= exclusions
    return [name for name in inventory.hosts if name in union]
