"""The inventory as Ansible's tools show one: `--list` JSON, `--graph`, `--host`, and where each variable came from.

An inventory read from Ansible sources is shown from the tree Ansible would build (its variable
names as written, `ansible_host` and all). A cutover-form inventory is shown in the same shape:
its connection settings under their Ansible names (`ansible_host`, `ansible_port`, ...), and its
variables merged in cutover's own order (estate < groups, parents first < host), which is the
order the run uses. Secrets are masked: vault values, and variables whose name says secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.errors import Location
from engine.core.model import Inventory
from engine.load.inventory_ansible import ANSIBLE_VARS, Layer
from engine.load.yaml_marks import LDict

MASK = "********"
#: a variable whose name contains one of these is shown masked, whatever its value
SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "licence_key",
    "license_key",
    "api_key",
    "private_key",
    "credential",
)
#: cutover setting -> the Ansible variable that sets it (the first spelling Ansible documents)
ANSIBLE_NAMES: dict[tuple[str, ...], str] = {}
for _name, _target in ANSIBLE_VARS.items():
    ANSIBLE_NAMES.setdefault(_target, _name)


def is_secret_name(key: str) -> bool:
    """`db_password`, `ansible_ssh_pass`, `API_TOKEN`: names that say their value is a secret."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS) or lowered.endswith(("_pass", "_pwd"))


def masked(value: Any, key: str = "") -> Any:
    """`value` with vault values and secret-named values replaced by the mask, recursively."""
    from engine.load.vault.keyring import EncryptedValue

    if isinstance(value, EncryptedValue) or (is_secret_name(key) and value not in (None, "")):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


@dataclass
class InventoryView:
    """Groups (direct hosts and children, `all` and `ungrouped` included) and each host's layers."""

    hosts: list[str]
    children: dict[str, list[str]]
    direct: dict[str, list[str]]
    layers: Callable[[str], list[Layer]]

    def hostvars(self, host: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for layer in self.layers(host):
            merged.update(layer.values)
        return merged

    def origins(self, host: str) -> dict[str, tuple[str, Location | None]]:
        """variable -> (the layer that set it last, where it is written)."""
        found: dict[str, tuple[str, Location | None]] = {}
        for layer in self.layers(host):
            values = layer.values
            for key in values:
                where = values.value_loc(key) if isinstance(values, LDict) else None
                found[key] = (layer.origin, where)
        return found


def view_of(inventory: Inventory) -> InventoryView:
    tree = getattr(inventory.source, "tree", None)
    if tree is not None:
        depth = tree.depth()
        return InventoryView(
            hosts=list(tree.hosts),
            children={name: list(g.children) for name, g in tree.groups.items()},
            direct={name: list(g.hosts) for name, g in tree.groups.items() if name != "all"},
            layers=lambda host: tree.host_layers(host, depth),
        )
    return _native_view(inventory)


def _native_view(inventory: Inventory) -> InventoryView:
    doc = inventory.source if isinstance(inventory.source, LDict) else LDict()
    hosts_doc: Mapping[str, Any] = doc.get("hosts") or {}
    groups_doc: Mapping[str, Any] = doc.get("groups") or {}
    nested = {c for g in inventory.groups.values() for c in g.children}
    children = {"all": ["ungrouped", *(g for g in inventory.groups if g not in nested)], "ungrouped": []}
    direct: dict[str, list[str]] = {"ungrouped": [h for h, host in inventory.hosts.items() if not host.groups]}
    for name, group in inventory.groups.items():
        children[name] = list(group.children)
        listed = list((groups_doc.get(name) or {}).get("hosts") or [])
        listed += [h for h, spec in hosts_doc.items() if name in ((spec or {}).get("groups") or [])]
        direct[name] = list(dict.fromkeys(listed))

    def layers(host: str) -> list[Layer]:
        spec = hosts_doc.get(host) or LDict()
        out = [Layer("estate vars", doc.get("vars") or {}), Layer("defaults", _as_ansible(doc.get("defaults")))]
        for group in inventory.hosts[host].groups:
            gspec = groups_doc.get(group) or LDict()
            out += [Layer(f"group {group}", gspec.get("vars") or {}), Layer(f"group {group}", _as_ansible(gspec))]
        out += [Layer(f"host {host}", spec.get("vars") or {}), Layer(f"host {host}", _as_ansible(spec))]
        return out

    return InventoryView(list(inventory.hosts), children, direct, layers)


def _as_ansible(settings: Any) -> LDict:
    """Connection settings under the names of the Ansible variables that set them."""
    out = LDict(getattr(settings, "loc", None))
    if not isinstance(settings, Mapping):
        return out
    for key in ("connection", "address", "port", "user", "password", "ssh", "winrm", "sim"):
        if key not in settings:
            continue
        value = settings[key]
        where = settings.value_loc(key) if isinstance(settings, LDict) else None
        if isinstance(value, Mapping) and key != "sim":
            for sub, sub_value in value.items():
                name = ANSIBLE_NAMES.get((key, str(sub)), f"cutover_{key}_{sub}")
                out[name] = sub_value
                out.value_locs[name] = value.value_loc(sub) if isinstance(value, LDict) else where
            continue
        name = ANSIBLE_NAMES.get((key,), f"cutover_{key}")
        out[name] = value
        if where is not None:
            out.value_locs[name] = where
    return out


def list_json(view: InventoryView) -> dict[str, Any]:
    """`ansible-inventory --list`: each group's direct hosts and children, `_meta.hostvars`."""
    out: dict[str, Any] = {}
    seen: set[str] = set()

    def walk(name: str) -> None:
        entry: dict[str, Any] = {}
        if name != "all" and view.direct.get(name):
            entry["hosts"] = list(view.direct[name])
        if view.children.get(name):
            entry["children"] = list(view.children[name])
        if entry:
            out[name] = entry
        for child in view.children.get(name, []):
            if child not in seen:
                seen.add(child)
                walk(child)

    walk("all")
    hostvars = {h: masked(v) for h in view.hosts if (v := view.hostvars(h))}
    out["_meta"] = {"hostvars": hostvars}
    return out


def graph_lines(view: InventoryView, start: str = "all") -> list[str]:
    """`ansible-inventory --graph`: `@group:` lines, children then the group's own hosts."""
    lines: list[str] = []

    def show(name: str, depth: int) -> None:
        lines.append(_indent(f"@{name}:", depth))
        for child in view.children.get(name, []):
            show(child, depth + 1)
        if name != "all":
            lines.extend(_indent(host, depth + 1) for host in view.direct.get(name, []))

    show(start, 0)
    return lines


def _indent(text: str, depth: int) -> str:
    return f"{'  |' * depth}--{text}" if depth else text


def origin_lines(view: InventoryView, host: str) -> list[str]:
    """`name = value    <- file:line:col (layer)` for each of the host's variables, sorted by name."""
    import json

    values = masked(view.hostvars(host))
    lines = [f"{host}:"]
    for key, (origin, where) in sorted(view.origins(host).items()):
        text = json.dumps(values[key], default=str)
        lines.append(f"    {key} = {text}    <- {where or '?'} ({origin})")
    return lines
