"""`cutover inventory -i INV`: hosts with resolved roles and variables (secrets masked); `--list`,
`--graph`, `--host` and `--vars-origin` as an Ansible user knows them (see engine.cli.inventory_view)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.common import add_inventory_args, keyring_from
from engine.cli.inventory_view import graph_lines, is_secret_name, list_json, masked, origin_lines, view_of
from engine.core.errors import closest

__all__ = ["configure", "execute", "is_secret_name"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_inventory_args(parser)
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--list", action="store_true",
                       help="groups and host variables as `ansible-inventory --list` prints them (JSON)")
    shown.add_argument("--graph", nargs="?", const="all", metavar="GROUP",
                       help="the group tree (from GROUP, default all), as `ansible-inventory --graph`")
    shown.add_argument("--json", action="store_true", help="the host listing, machine-readable")
    parser.add_argument("--host", metavar="NAME",
                        help="one host's variables (JSON, as `ansible-inventory --host`); with --vars-origin, "
                        "where each came from")
    parser.add_argument("--vars-origin", action="store_true",
                        help="each variable with the file:line:col and layer (group, group_vars, host_vars) "
                        "whose value won")
    parser.add_argument("--playbook-dir", metavar="DIR",
                        help="also read the group_vars/ and host_vars/ beside the playbook in DIR")


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.load.inventory import load_inventory

    inventory = load_inventory(args.inventory, keyring_from(args), playbook_dir=args.playbook_dir)
    if args.host and args.host not in inventory.hosts:
        guess = closest(args.host, list(inventory.hosts))
        raise UserError(f"no host {args.host!r} in {args.inventory}",
                        hint=f"did you mean {guess!r}?" if guess else "`cutover inventory -i INV` lists them")
    view = view_of(inventory)
    if args.graph:
        if args.graph not in view.children:
            raise UserError(f"--graph {args.graph}: no group {args.graph!r} in {args.inventory}")
        print("\n".join(graph_lines(view, args.graph)))
        return 0
    if args.list:
        print(json.dumps(list_json(view), indent=4, sort_keys=True, default=str))
        return 0
    if args.vars_origin:
        for name in [args.host] if args.host else view.hosts:
            print("\n".join(origin_lines(view, name)))
        return 0
    if args.host:
        print(json.dumps(masked(view.hostvars(args.host)), indent=4, sort_keys=True, default=str))
        return 0
    return _listing(inventory, as_json=args.json)


def _listing(inventory: Any, *, as_json: bool) -> int:
    """cutover's own listing: each host's connection, roles, groups and resolved variables."""
    data = {
        h.name: {
            "connection": h.connection,
            "address": h.address,
            "roles": list(h.roles),
            "groups": list(h.groups),
            "settings": masked({k: v for k, v in h.settings.items() if k not in ("connection", "address")}),
            "vars": masked(dict(h.vars)),
        }
        for h in inventory.hosts.values()
    }
    if as_json:
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
