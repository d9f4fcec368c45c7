"""Ansible inventories as Ansible reads them: one tree of groups, hosts and variables, then cutover's form.

Operators bring the inventories they already keep for Ansible: YAML (`all: {hosts, children,
vars}`), INI (`engine.load.inventory_ini`) and directories of both with `group_vars/` and
`host_vars/` (`engine.load.inventory_dirs`). Every reader adds to one `AnsibleTree`, which follows
Ansible's rules: a group may appear in several places and several files (its hosts, children and
variables add up), `all` holds every group without a parent, `ungrouped` the hosts that are in no
group. Each value keeps the `Location` it was written at, so a mistake is reported at the line
the operator wrote and `cutover inventory --vars-origin` can say where each variable came from.

The translation into cutover's form resolves each host's variables in Ansible's precedence
(`host_layers`), then turns the connection variables (`ansible_host`, `ansible_user`,
`ansible_connection`, ...) into connection settings; every other variable stays a variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    "ansible_winrm_message_encryption": ("winrm", "message_encryption"),
    "ansible_winrm_proxy": ("winrm", "proxy"),
    "ansible_winrm_operation_timeout_sec": ("winrm", "operation_timeout"),
    "ansible_winrm_read_timeout_sec": ("winrm", "read_timeout"),
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
#: the variable that orders sibling groups when their variables merge (Ansible's default is 1)
PRIORITY_VAR = "ansible_group_priority"
_GROUP_KEYS = ("hosts", "children", "vars")
_IMPLICIT = ("all", "ungrouped")


@dataclass
class TreeGroup:
    """A group as Ansible sees it: its direct hosts and children, and its own variables."""

    name: str
    loc: Location | None
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: LDict = field(default_factory=LDict)
    #: `ansible_group_priority`: orders sibling groups when variables merge; not a variable itself
    priority: int = 1


@dataclass
class TreeHost:
    """A host with the groups that list it directly and the variables written on it."""

    name: str
    loc: Location | None
    groups: list[str] = field(default_factory=list)
    vars: LDict = field(default_factory=LDict)


@dataclass(frozen=True, slots=True)
class Layer:
    """One set of variables in a host's precedence chain, and what it is (`group web`, a file)."""

    origin: str
    values: Mapping[str, Any]


class AnsibleTree:
    """Groups, hosts and variables of one or more Ansible inventory sources, with locations."""

    def __init__(self, name: str = "inventory"):
        self.name = name
        self.groups: dict[str, TreeGroup] = {}
        self.hosts: dict[str, TreeHost] = {}
        self.problems: list[Problem] = []
        #: groups some source defines (a section or a YAML group), as opposed to only naming them
        self.defined: set[str] = set(_IMPLICIT)
        #: the directories whose `group_vars/` and `host_vars/` apply (one per source, then the playbook's)
        self.vars_files: list[Any] = []
        self.group("all", None)
        self.child("all", "ungrouped", None)

    # --- building ----------------------------------------------------------------------------
    def group(self, name: str, loc: Location | None) -> TreeGroup:
        """The group `name`, created on first sight (where it was first written is its location)."""
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = TreeGroup(name, loc)
        elif group.loc is None:
            group.loc = loc
        return group

    def host(self, name: str, loc: Location | None, group: str | None = None) -> TreeHost:
        """The host `name`, created on first sight, and listed in `group` when one is given."""
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = TreeHost(name, loc)
        if group is not None and group != "all":
            entry = self.group(group, loc)
            if name not in entry.hosts:
                entry.hosts.append(name)
                host.groups.append(group)
        return host

    def child(self, parent: str, child: str, loc: Location | None) -> None:
        parent_group, child_group = self.group(parent, loc), self.group(child, loc)
        if child not in parent_group.children:
            parent_group.children.append(child)
            child_group.parents.append(parent)

    def set_vars(self, target: LDict, values: Mapping[str, Any]) -> None:
        """Later sources win for the same key, as in Ansible; each value keeps its location."""
        _merge_into(target, values)

    def finish(self) -> None:
        """What Ansible does once every source is read: parentless groups go under `all`,
        hosts in no group go to `ungrouped`, and nesting must not loop."""
        for group in self.groups.values():
            if PRIORITY_VAR in group.vars:
                value = group.vars.pop(PRIORITY_VAR)
                try:
                    group.priority = int(value)
                except (TypeError, ValueError):
                    self.problems.append(Problem(f"{PRIORITY_VAR} must be a whole number, not {value!r}",
                                                 group.vars.value_locs.get(PRIORITY_VAR, group.loc)))
        for name, group in self.groups.items():
            if name != "all" and not group.parents:
                self.child("all", name, group.loc)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            listed = [g for g in host.groups if g != "ungrouped"]
            if not listed and "ungrouped" not in host.groups:
                ungrouped.hosts.append(host.name)
                host.groups.append("ungrouped")
            elif listed and "ungrouped" in host.groups:
                host.groups.remove("ungrouped")
                ungrouped.hosts.remove(host.name)
        cycle = self._cycle()
        if cycle:
            self.problems.append(
                Problem(f"groups nest in a cycle: {' -> '.join(cycle)}", self.groups[cycle[0]].loc)
            )

    def _cycle(self) -> list[str] | None:
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> list[str] | None:
            state[name] = 1
            for child in self.groups[name].children:
                if state.get(child) == 1:
                    return [*path[path.index(child) :], child] if child in path else [name, child]
                if child not in state:
                    found = visit(child, [*path, child])
                    if found:
                        return found
            state[name] = 2
            return None

        return visit("all", ["all"])

    # --- reading -------------------------------------------------------------------------------
    def depth(self) -> dict[str, int]:
        """Ansible's group depth: `all` is 0, a child one more than its deepest parent."""
        depth = {"all": 0}
        stack = ["all"]
        while stack:
            name = stack.pop()
            for child in self.groups[name].children:
                if depth.get(child, -1) < depth[name] + 1 <= len(self.groups):  # bounded even if nesting loops
                    depth[child] = depth[name] + 1
                    stack.append(child)
        return depth

    def groups_of(self, host: str, depth: Mapping[str, int] | None = None) -> list[str]:
        """Every group the host is in (through children too) but `all`, in the order Ansible
        merges their variables: by depth, then `ansible_group_priority`, then name."""
        depth = depth if depth is not None else self.depth()
        found: set[str] = set()
        stack = list(self.hosts[host].groups)
        while stack:
            name = stack.pop()
            if name not in found and name != "all":
                found.add(name)
                stack.extend(self.groups[name].parents)
        return sorted(found, key=lambda g: (depth.get(g, 0), self.groups[g].priority, g))

    def host_layers(self, host: str, depth: Mapping[str, int] | None = None) -> list[Layer]:
        """The host's variables lowest first, in the precedence Ansible documents: inventory
        `all`, then inventory groups, then `group_vars/all`, `group_vars/<group>` (each source's
        directory, then the playbook's), inventory host vars, then `host_vars/<host>`."""
        groups = self.groups_of(host, depth)
        layers = [Layer("group all", self.groups["all"].vars)]
        layers += [Layer(f"group {g}", self.groups[g].vars) for g in groups]
        for names in (["all"], groups):
            for vars_dir in self.vars_files:
                layers += [Layer(origin, values) for origin, values in vars_dir.group_layers(names)]
        layers.append(Layer(f"host {host}", self.hosts[host].vars))
        for vars_dir in self.vars_files:
            layers += [Layer(origin, values) for origin, values in vars_dir.host_layers(host)]
        return layers

    def host_vars(self, host: str, depth: Mapping[str, int] | None = None) -> LDict:
        """The host's variables as Ansible resolves them (each value keeps its location)."""
        merged = LDict(self.hosts[host].loc)
        for layer in self.host_layers(host, depth):
            _merge_into(merged, layer.values)
        return merged


# --- YAML -----------------------------------------------------------------------------------------


class _YamlReader:
    """One Ansible YAML document into the tree, collecting every problem."""

    def __init__(self, tree: AnsibleTree):
        self.tree = tree

    def mapping(self, value: Any, what: str, loc: Location | None) -> LDict | None:
        """`value` when it is a mapping (an empty one for null), else a located problem."""
        if value is None:
            return LDict(loc)
        if isinstance(value, LDict):
            return value
        self.tree.problems.append(
            Problem(
                f"{what} must be a mapping, not {kind_of(value)}",
                getattr(value, "loc", None) or loc,
                hint="in an Ansible YAML inventory hosts, children and vars are mappings "
                "(`name:` on its own line), not lists",
            )
        )
        return None

    def group(self, name: str, spec: Any, loc: Location | None) -> None:
        spec = self.mapping(spec, f"group {name!r}", loc)
        if spec is None:
            return
        for key in spec:
            if key not in _GROUP_KEYS:
                guess = closest(str(key), _GROUP_KEYS)
                self.tree.problems.append(
                    Problem(
                        f"unknown key {key!r} in Ansible group {name!r}",
                        spec.key_loc(key),
                        hint=f"did you mean {guess!r}?"
                        if guess
                        else "an Ansible YAML group has hosts, children and vars",
                    )
                )
        group = self.tree.group(name, loc)
        self.tree.defined.add(name)
        hosts = self.mapping(spec.get("hosts"), f"hosts of group {name!r}", spec.value_loc("hosts"))
        for hname, hspec in (hosts or {}).items():
            host = self.tree.host(str(hname), hosts.key_loc(hname), name)
            values = self.mapping(hspec, f"host {hname!r}", hosts.key_loc(hname))
            if values:
                self.tree.set_vars(host.vars, values)
        children = self.mapping(
            spec.get("children"), f"children of group {name!r}", spec.value_loc("children")
        )
        for cname, cspec in (children or {}).items():
            self.tree.child(name, str(cname), children.key_loc(cname))
            self.group(str(cname), cspec, children.key_loc(cname))
        variables = self.mapping(spec.get("vars"), f"vars of group {name!r}", spec.value_loc("vars"))
        if variables:
            self.tree.set_vars(group.vars, variables)


def read_yaml(doc: LDict, tree: AnsibleTree) -> None:
    """Add an Ansible YAML inventory (`all:` and, as Ansible allows, other top-level groups)."""
    for key in doc:
        _YamlReader(tree).group(str(key), doc[key], doc.key_loc(key))


def is_ansible_yaml(doc: Any) -> bool:
    """A YAML inventory in Ansible's form: top-level groups (`all:`), no cutover `hosts:` mapping."""
    return isinstance(doc, dict) and "all" in doc and "hosts" not in doc


# --- cutover's form ---------------------------------------------------------------------------------


def to_cutover(tree: AnsibleTree, loc: Location | None = None, into: LDict | None = None) -> LDict:
    """The tree in cutover's inventory form (filled into `into` when given): each host with its
    variables resolved as Ansible resolves them, its connection variables turned into settings."""
    tree.finish()
    problems = tree.problems
    out = into if into is not None else LDict(loc)
    out["estate"] = tree.name
    defaults = LDict(loc)
    estate_vars = _split_vars(defaults, tree.groups["all"].vars, problems)
    if estate_vars:
        out["vars"] = estate_vars
    if defaults:
        out["defaults"] = defaults
    depth = tree.depth()
    hosts = LDict(loc)
    for name, host in tree.hosts.items():
        entry = LDict(host.loc)
        plain = _split_vars(entry, tree.host_vars(name, depth), problems)
        if plain:
            entry["vars"] = plain
        hosts[name] = entry
        hosts.key_locs[name] = host.loc
    groups = LDict(loc)
    for name, group in tree.groups.items():
        if name in _IMPLICIT:
            continue
        entry = LDict(group.loc)
        entry["hosts"] = _located_list(group.hosts, [tree.hosts[h].loc for h in group.hosts], group.loc)
        entry["children"] = _located_list(group.children, [tree.groups[c].loc for c in group.children], group.loc)
        plain = _split_vars(LDict(group.loc), group.vars, [])
        if plain:
            entry["vars"] = plain
        groups[name] = entry
        groups.key_locs[name] = group.loc
    out["hosts"] = hosts
    out["groups"] = groups
    unique = list({(p.message, str(p.location)): p for p in problems}.values())
    if unique:
        raise UserError.many(unique)
    return out


def from_ansible(doc: LDict, path: str) -> LDict:
    """Translate one Ansible YAML document into cutover's form, keeping locations."""
    tree = AnsibleTree(Path(path).stem)
    read_yaml(doc, tree)
    return to_cutover(tree, doc.loc)


def _located_list(items: Iterable[str], locs: list[Location | None], loc: Location | None) -> LList:
    out = LList(loc)
    for item, item_loc in zip(items, locs, strict=True):
        out.append(item)
        out.item_locs.append(item_loc)
    return out


def _merge_into(base: LDict, top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        base[key] = value
        if isinstance(top, LDict):
            base.key_locs[key], base.value_locs[key] = top.key_loc(key), top.value_loc(key)


def _split_vars(entry: LDict, variables: Mapping[str, Any], problems: list[Problem]) -> LDict:
    """Connection variables become settings of `entry`; the others are returned as variables."""
    located = variables if isinstance(variables, LDict) else LDict()
    plain = LDict(getattr(variables, "loc", None))
    for key, value in variables.items():
        target = ANSIBLE_VARS.get(str(key))
        if target is None:
            plain[key] = value
            plain.key_locs[key], plain.value_locs[key] = located.key_loc(key), located.value_loc(key)
            continue
        loc = located.value_loc(key)
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
        holder.key_locs[target[-1]], holder.value_locs[target[-1]] = located.key_loc(key), loc
    return plain
