"""Inventories: one file per client estate, in cutover's form or as an Ansible YAML inventory.

The result is an immutable `Inventory` whose hosts carry resolved roles, groups, variables
(estate < group (parents before children) < host) and connection settings (defaults < group <
host). Each product plug-in's section is kept as loaded in `Inventory.products`, then checked
against the product's schema and by its estate rules (`engine.load.products`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.api import inventories
from engine.core.clock import controller_zone
from engine.core.errors import Location, Problem, UserError, closest
from engine.core.model import Group, Host, Inventory
from engine.load.inventory_dirs import read_inventory_source
from engine.load.schema import load_schema, validate
from engine.load.yaml_marks import LDict, LList, bulk_allocation

CONNECTION_KEYS = ("connection", "address", "port", "user", "password", "ssh", "winrm", "sim")
_GROUP_NAME_RESERVED = {"all", "ungrouped"}


def load_inventory(path: str | Path, keyring: Any = None, playbook_dir: str | Path | None = None) -> Inventory:
    """Load, validate and resolve an inventory file; UserError listing every problem found."""
    source = read_inventory_source(path, keyring, playbook_dir)  # cutover YAML, Ansible YAML/INI, a directory
    doc = source.value
    if doc is None:
        raise UserError(
            "the inventory is empty", Location(str(path), 1, 1), hint="see inventories/ for examples"
        )
    if not isinstance(doc, dict):
        raise UserError("an inventory must be a mapping", getattr(doc, "loc", Location(str(path))))
    with bulk_allocation():
        problems = validate(doc, load_schema("inventory"), Location(str(path), 1, 1))
        if problems:
            raise UserError.many(problems)
        inventory = _build(doc, str(path), source.sha256)
    from engine.load.products import check_products

    database_problems = check_databases(inventory)
    if database_problems:
        raise UserError.many(database_problems)
    check_products(inventory)
    return inventory


def check_databases(inventory: Inventory) -> list[Problem]:
    """Each database target makes sense (dialect, port, ODBC options, its `host`) before anything runs.

    Values that are templates or vault-encrypted are checked when they are resolved at run time.
    """
    from engine.db import target_from
    from engine.db.errors import DbError
    from engine.load.templating import has_templates

    section = inventory.source.get("databases") if isinstance(inventory.source, dict) else None
    problems: list[Problem] = []
    for name, raw in inventory.databases.items():
        where = section.key_loc(name) if isinstance(section, LDict) else None
        plain = {k: ("-" if has_templates(v) or type(v).__name__ == "EncryptedValue" else v)
                 for k, v in dict(raw).items()}
        if "port" in plain and plain["port"] == "-":
            plain.pop("port")
        try:
            target_from(str(name), plain)
        except DbError as err:
            problems.append(Problem(str(err), where))
        host = raw.get("host") if isinstance(raw, dict) else None
        if isinstance(host, str) and not has_templates(host) and host not in inventory.hosts:
            value_loc = raw.value_loc("host") if isinstance(raw, LDict) else where
            problems.append(Problem(f"database target {name!r}: host {host!r} is not in the inventory",
                                    value_loc, hint=_did_you_mean(host, inventory.hosts)))
    return problems


def _settings_of(node: Mapping[str, Any] | None) -> dict[str, Any]:
    if not node:
        return {}
    return {k: node[k] for k in CONNECTION_KEYS if k in node}


def _merge_settings(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _build(doc: LDict, path: str, sha: str) -> Inventory:
    problems: list[Problem] = []
    hosts_doc: LDict = doc.get("hosts") or LDict()
    groups_doc: LDict = doc.get("groups") or LDict()

    # groups: membership and nesting
    parents: dict[str, list[str]] = {}
    members: dict[str, list[str]] = {name: [] for name in groups_doc}
    for gname, g in groups_doc.items():
        g = g or {}
        if gname in _GROUP_NAME_RESERVED:
            problems.append(Problem(f"group name {gname!r} is reserved", groups_doc.key_loc(gname)))
        if gname in hosts_doc:
            problems.append(Problem(f"{gname!r} is both a host and a group", groups_doc.key_loc(gname)))
        for hname in _known(g.get("hosts"), hosts_doc, f"group {gname!r} lists unknown host", problems):
            members[gname].append(hname)
        for child in _known(g.get("children"), groups_doc, f"group {gname!r} has unknown child group", problems):
            parents.setdefault(child, []).append(gname)
    for hname, h in hosts_doc.items():
        for gname in _known((h or {}).get("groups"), groups_doc, f"host {hname!r} names unknown group", problems):
            members[gname].append(hname)
    cycle = _group_cycle(parents)
    if cycle:
        problems.append(
            Problem(f"groups nest in a cycle: {' -> '.join(cycle)}", groups_doc.key_loc(cycle[0]))
        )
    if problems:
        raise UserError.many(problems)

    order = _group_order(list(groups_doc), parents)  # parents before children
    rank = {name: i for i, name in enumerate(order)}
    ancestors = _ancestors(order, parents)
    host_groups: dict[str, list[str]] = {h: [] for h in hosts_doc}
    for gname in order:
        for hname in members[gname]:
            host_groups[hname].append(gname)
    group_docs = {gname: groups_doc[gname] or {} for gname in order}
    group_settings = {gname: _settings_of(g) for gname, g in group_docs.items()}

    estate_vars = dict(doc.get("vars") or {})
    defaults = _settings_of(doc.get("defaults"))
    hosts: dict[str, Host] = {}
    group_hosts: dict[str, list[str]] = {gname: [] for gname in order}
    for hname, h in hosts_doc.items():
        h = h or LDict()
        # a child's members belong to all its ancestors too
        mine = {a for g in host_groups[hname] for a in (g, *ancestors[g])}
        groups = tuple(sorted(mine, key=rank.__getitem__))
        variables = dict(estate_vars)
        settings = dict(defaults)
        for gname in groups:
            variables.update(group_docs[gname].get("vars") or {})
            settings = _merge_settings(settings, group_settings[gname])
            group_hosts[gname].append(hname)
        variables.update(h.get("vars") or {})
        settings = _merge_settings(settings, _settings_of(h))
        settings.setdefault("connection", "ssh")
        address = settings.pop("address", hname)  # kept once: on the Host, not among its settings
        hosts[hname] = Host(
            name=hname,
            address=str(address),
            connection=str(settings["connection"]),
            roles=tuple(h.get("roles") or ()),
            groups=groups,
            vars=MappingProxyType(variables),
            settings=MappingProxyType(settings),
            location=hosts_doc.key_loc(hname),
        )
    groups = {
        gname: Group(
            name=gname,
            hosts=tuple(group_hosts[gname]),
            children=tuple(group_docs[gname].get("children") or ()),
            vars=MappingProxyType(dict(group_docs[gname].get("vars") or {})),
            location=groups_doc.key_loc(gname),
        )
        for gname in order
    }
    return Inventory(
        path=path,
        name=str(doc.get("estate") or Path(path).stem),
        hosts=MappingProxyType(hosts),
        groups=MappingProxyType(groups),
        vars=MappingProxyType(estate_vars),
        databases=MappingProxyType({k: v for k, v in (doc.get("databases") or {}).items()}),
        products=MappingProxyType({name: doc[name] for name in _product_sections(doc)}),
        timezone=str(doc.get("timezone") or os.environ.get("CUTOVER_TIMEZONE") or controller_zone()),  # cutover.toml timezone
        content_hash=sha,
        location=doc.loc,
        source=doc,
    )


def _product_sections(doc: Mapping[str, Any]) -> list[str]:
    """The product sections the document has, in the order the products are declared."""
    from engine.api.plugins import PLUGINS

    return [p.name for p in PLUGINS.products() if doc.get(p.name) is not None]


def _known(names: Any, known: Mapping[str, Any], what: str, problems: list[Problem]) -> list[str]:
    """The names of a list that exist in `known`; each other one is a problem at its own line."""
    found = []
    for i, name in enumerate(names or []):
        if name in known:
            found.append(name)
        else:
            problems.append(Problem(f"{what} {name!r}", _item_loc(names, i), hint=_did_you_mean(name, known)))
    return found


def _item_loc(container: Any, index: int) -> Location | None:
    return container.item_loc(index) if isinstance(container, LList) else getattr(container, "loc", None)


def _did_you_mean(name: str, options: Mapping[str, Any]) -> str | None:

    guess = closest(str(name), [str(o) for o in options])
    return f"did you mean {guess!r}?" if guess else None


def _group_cycle(parents: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for parent in parents.get(node, []):
            if state.get(parent) == 1:
                return stack[stack.index(parent) :] + [parent]
            if state.get(parent) is None:
                found = visit(parent)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in list(parents):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _group_order(names: list[str], parents: dict[str, list[str]]) -> list[str]:
    """Groups with parents before children (so child variables override), else file order."""
    depth: dict[str, int] = {}
    position = {name: i for i, name in enumerate(names)}

    def d(name: str) -> int:
        if name not in depth:
            depth[name] = 0
            depth[name] = 1 + max((d(p) for p in parents.get(name, [])), default=-1)
        return depth[name]

    return sorted(names, key=lambda n: (d(n), position[n]))


def _ancestors(order: list[str], parents: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    """Every group's parents, grand-parents, ... (the nesting has no cycle by now)."""
    found: dict[str, frozenset[str]] = {}
    for name in order:  # parents come first, so theirs are known
        found[name] = frozenset(a for p in parents.get(name, []) for a in (p, *found.get(p, ())))
    return found


def inventory_digest(inventory: Inventory) -> str:
    """Stable digest of what was loaded (the file's bytes)."""
    return hashlib.sha256(inventory.content_hash.encode()).hexdigest()


inventories.provide(load_inventory)  # products read another estate's inventory through engine.api
