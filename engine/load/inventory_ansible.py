"""Ansible YAML inventories (`all: {hosts, children, vars}`) translated into cutover's form.

Operators bring the inventories they already keep for Ansible. The translation keeps every
location, so a mistake is still reported at the line the operator wrote, and it follows
Ansible's rules: a group may appear under several parents (its hosts, children and variables
add up), `ungrouped` holds hosts that belong to no group, and the connection variables
(`ansible_host`, `ansible_user`, `ansible_connection`, ...) become connection settings while
every other variable stays a variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.core.errors import Location, Problem, UserError, closest
from engine.load.schema import kind_of
from engine.load.yaml_marks import LDict, LList

#: Ansible connection variable -> (setting,) or (transport section, setting)
ANSIBLE_VARS: dict[str, tuple[str, ...]] = {
    "ansible_host": ("address",),
    "ansible_ssh_host": ("address",),
    "ansible_connection": ("connection",),
    "ansible_port": ("port",),
    "ansible_ssh_port": ("port",),
    "ansible_user": ("user",),
    "ansible_ssh_user": ("user",),
    "ansible_password": ("password",),
    "ansible_ssh_pass": ("password",),
    "ansible_ssh_private_key_file": ("ssh", "key_file"),
    "ansible_private_key_file": ("ssh", "key_file"),
    "ansible_python_interpreter": ("ssh", "python"),
    "ansible_winrm_transport": ("winrm", "transport"),
    "ansible_winrm_scheme": ("winrm", "scheme"),
    "ansible_winrm_server_cert_validation": ("winrm", "validate_certs"),
    "ansible_winrm_ca_trust_path": ("winrm", "ca_bundle"),
}
#: Ansible connection plugins -> cutover connections
CONNECTIONS = {
    "ssh": "ssh",
    "paramiko": "ssh",
    "smart": "ssh",
    "winrm": "winrm",
    "psrp": "winrm",
    "local": "local",
}
_GROUP_KEYS = ("hosts", "children", "vars")


class _Translation:
    """One pass over the Ansible tree, collecting every problem."""

    def __init__(self, doc: LDict):
        self.hosts = LDict(doc.loc)
        self.groups = LDict(doc.loc)
        self.defaults: LDict | None = None
        self.estate_vars: LDict | None = None
        self.problems: list[Problem] = []

    def mapping(self, value: Any, what: str, loc: Location | None) -> LDict | None:
        """`value` when it is a mapping (an empty one for null), else a located problem."""
        if value is None:
            return LDict(loc)
        if isinstance(value, LDict):
            return value
        self.problems.append(
            Problem(
                f"{what} must be a mapping, not {kind_of(value)}",
                getattr(value, "loc", None) or loc,
                hint="in an Ansible YAML inventory hosts, children and vars are mappings "
                "(`name:` on its own line), not lists",
            )
        )
        return None

    def host(self, name: str, spec: Any, loc: Location | None) -> None:
        spec = self.mapping(spec, f"host {name!r}", loc)
        entry = self.hosts.get(name)
        if entry is None:
            entry = LDict(loc)
            self.hosts[name] = entry
            self.hosts.key_locs[name] = loc
        if spec is not None:
            plain = _split_vars(entry, spec, self.problems)
            if plain:
                _merge_into(entry.setdefault("vars", LDict(spec.loc)), plain)

    def group(self, name: str, spec: Any, loc: Location | None) -> None:
        spec = self.mapping(spec, f"group {name!r}", loc)
        if spec is None:
            return
        for key in spec:
            if key not in _GROUP_KEYS:
                guess = closest(str(key), _GROUP_KEYS)
                self.problems.append(
                    Problem(
                        f"unknown key {key!r} in Ansible group {name!r}",
                        spec.key_loc(key),
                        hint=f"did you mean {guess!r}?"
                        if guess
                        else "an Ansible YAML group has hosts, children and vars",
                    )
                )
        group = self._group_entry(name, loc)
        hosts = self.mapping(spec.get("hosts"), f"hosts of group {name!r}", spec.value_loc("hosts"))
        for hname, hspec in (hosts or {}).items():
            self.host(str(hname), hspec, hosts.key_loc(hname))
            if group is not None:
                _append(group["hosts"], str(hname), hosts.key_loc(hname))
        children = self.mapping(
            spec.get("children"), f"children of group {name!r}", spec.value_loc("children")
        )
        for cname, cspec in (children or {}).items():
            if group is not None and cname != "ungrouped":
                _append(group["children"], str(cname), children.key_loc(cname))
            self.group(str(cname), cspec, children.key_loc(cname))
        variables = self.mapping(spec.get("vars"), f"vars of group {name!r}", spec.value_loc("vars"))
        if not variables:
            return
        if group is not None:
            group["vars"] = _merge(group.get("vars"), _split_vars(group, variables, self.problems))
        elif name == "all":
            self.defaults = self.defaults or LDict(variables.loc)
            self.estate_vars = _merge(self.estate_vars, _split_vars(self.defaults, variables, self.problems))
        else:  # ungrouped: its variables apply to its hosts
            for hname in hosts or {}:
                _merge_into(self.hosts[str(hname)].setdefault("vars", LDict(variables.loc)), variables)

    def _group_entry(self, name: str, loc: Location | None) -> LDict | None:
        """The cutover group for `name` (None for `all` and `ungrouped`), created on first sight."""
        if name in ("all", "ungrouped"):
            return None
        group = self.groups.get(name)
        if group is None:
            group = LDict(loc)
            group["hosts"], group["children"] = LList(loc), LList(loc)
            self.groups[name] = group
            self.groups.key_locs[name] = loc
        return group


def from_ansible(doc: LDict, path: str) -> LDict:
    """Translate `all: {hosts, children, vars}` into cutover's form, keeping locations."""
    translation = _Translation(doc)
    translation.group("all", doc["all"], doc.key_loc("all"))
    for key in doc:
        if key != "all":
            translation.problems.append(
                Problem(
                    f"unknown top-level key {key!r} in an Ansible inventory",
                    doc.key_loc(key),
                    hint="everything goes under `all:` (groups under `all: children:`)",
                )
            )
    if translation.problems:
        raise UserError.many(translation.problems)
    out = LDict(doc.loc)
    out["estate"] = Path(path).stem
    if translation.estate_vars:
        out["vars"] = translation.estate_vars
    if translation.defaults:
        out["defaults"] = translation.defaults
    out["hosts"] = translation.hosts
    out["groups"] = translation.groups
    return out


def _append(items: LList, value: str, loc: Location | None) -> None:
    if value not in items:
        items.append(value)
        items.item_locs.append(loc)


def _merge(base: LDict | None, top: LDict) -> LDict:
    if base is None:
        return top
    _merge_into(base, top)
    return base


def _merge_into(base: LDict, top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        base[key] = value
        if isinstance(top, LDict):
            base.key_locs[key], base.value_locs[key] = top.key_loc(key), top.value_loc(key)


def _split_vars(entry: LDict, variables: LDict, problems: list[Problem]) -> LDict:
    """Connection variables become settings of `entry`; the others are returned as variables."""
    plain = LDict(variables.loc)
    for key, value in variables.items():
        target = ANSIBLE_VARS.get(str(key))
        if target is None:
            plain[key] = value
            plain.key_locs[key], plain.value_locs[key] = variables.key_loc(key), variables.value_loc(key)
            continue
        loc = variables.value_loc(key)
        if target == ("connection",):
            if str(value) not in CONNECTIONS:
                guess = closest(str(value), list(CONNECTIONS))
                problems.append(
                    Problem(
                        f"{key}: {value!r} is not a connection cutover has ({', '.join(sorted(CONNECTIONS))})",
                        loc,
                        hint=f"did you mean {guess!r}?"
                        if guess
                        else "cutover reaches hosts over ssh, winrm or local",
                    )
                )
                continue
            value = CONNECTIONS[str(value)]
        if target[-1] == "validate_certs":
            value = str(value).lower() != "ignore"
        holder = entry
        if len(target) == 2:
            holder = entry.setdefault(target[0], LDict(loc))
        holder[target[-1]] = value
        holder.key_locs[target[-1]], holder.value_locs[target[-1]] = variables.key_loc(key), loc
    return plain
