"""`cutover inventory -i FILE`: hosts with resolved roles and variables (secrets masked)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.common import add_inventory_args, keyring_from

MASK = "********"


def configure(parser: argparse.ArgumentParser) -> None:
    add_inventory_args(parser)
    parser.add_argument("--graph", action="store_true", help="show the group tree")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--host", metavar="NAME", help="only this host")


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


def is_secret_name(key: str) -> bool:
    """`db_password`, `ansible_ssh_pass`, `API_TOKEN`: names that say their value is a secret."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS) or lowered.endswith(("_pass", "_pwd"))


def _masked(value: Any, key: str = "") -> Any:
    from engine.load.vault.keyring import EncryptedValue

    if isinstance(value, EncryptedValue) or (is_secret_name(key) and value not in (None, "")):
        return MASK
    if isinstance(value, dict):
        return {k: _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.load.inventory import load_inventory

    inventory = load_inventory(args.inventory, keyring_from(args))
    hosts = list(inventory.hosts.values())
    if args.host:
        hosts = [h for h in hosts if h.name == args.host]
        if not hosts:
            raise UserError(f"no host {args.host!r} in {args.inventory}")
    if args.graph:
        print(_graph(inventory))
        return 0
    data = {
        h.name: {
            "connection": h.connection,
            "address": h.address,
            "roles": list(h.roles),
            "groups": list(h.groups),
            "settings": _masked({k: v for k, v in h.settings.items() if k not in ("connection", "address")}),
            "vars": _masked(dict(h.vars)),
        }
        for h in hosts
    }
    if args.json:
        print(json.dumps({"estate": inventory.name, "hosts": data}, indent=2, default=str))
        return 0
    print(f"estate {inventory.name} ({len(inventory.hosts)} hosts)")
    for name, d in data.items():
        roles = ", ".join(d["roles"]) or "-"
        groups = ", ".join(d["groups"]) or "-"
        settings = d["settings"]
        user = f"{settings['user']}@" if settings.get("user") else ""
        port = f":{settings['port']}" if settings.get("port") else ""
        print(f"{name}  [{d['connection']} {user}{d['address']}{port}]  roles: {roles}  groups: {groups}")
        for key, value in sorted(d["vars"].items()):
            print(f"    {key} = {json.dumps(value, default=str)}")
    return 0


def _graph(inventory: Any) -> str:
    lines = ["@all:"]
    children = {c for g in inventory.groups.values() for c in g.children}
    grouped = {h for g in inventory.groups.values() for h in g.hosts}

    def show(name: str, depth: int) -> None:
        group = inventory.groups[name]
        lines.append(f"{'  |' * depth}--@{name}:")
        for child in group.children:
            show(child, depth + 1)
        nested = {h for c in group.children for h in inventory.groups[c].hosts}
        for host in group.hosts:
            if host not in nested:
                lines.append(f"{'  |' * (depth + 1)}--{host}")

    for name in inventory.groups:
        if name not in children:
            show(name, 1)
    ungrouped = [h for h in inventory.hosts if h not in grouped]
    if ungrouped:
        lines.append("  |--@ungrouped:")
        lines.extend(f"  |  |--{h}" for h in ungrouped)
    return "\n".join(lines)
