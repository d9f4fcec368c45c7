"""`cutover unlock`: clear an estate lock a run left behind.

`cutover unlock --estate -i INV [--force]` removes the lock markers on every host of the estate
(engine/execute/estate_unlock.py: refused while the holder's heartbeat is fresh, unless --force;
recorded in the journal as a run of kind `unlock`). `cutover unlock ESTATE` removes the local lock
record of this state directory (engine/execute/lock.py) whose process is gone.
"""

from __future__ import annotations

import argparse
import os

from engine.cli.common import keyring_from
from engine.cli.vault_flags import add_vault_flags


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "estate",
        metavar="ESTATE",
        nargs="?",
        help="estate name (the inventory's `estate:`): its local lock record",
    )
    parser.add_argument(
        "--estate",
        dest="markers",
        action="store_true",
        help="remove the lock markers on every host of the estate of -i INV (recorded)",
    )
    # not add_inventory_args: `-i` is needed only with --estate (the CLI asks for an inventory
    # wherever a command has an `inventory` argument)
    parser.add_argument(
        "-i", "--inventory", dest="estate_inventory", metavar="FILE", help="the estate's inventory"
    )
    parser.add_argument(
        "--vault-id",
        action="append",
        default=[],
        metavar="ID@SOURCE",
        help="vault password source for the inventory's connection settings (repeatable)",
    )
    add_vault_flags(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --estate: remove the markers even when the holder's heartbeat is fresh",
    )
    parser.add_argument(
        "--operator", default=None, help="who unlocks (default $CUTOVER_OPERATOR or the login)"
    )
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"))


def execute(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError

    if args.markers:
        if not args.estate_inventory:
            raise UserError("unlock --estate needs the estate's inventory: -i INV")
        return _markers(args)
    if not args.estate:
        raise UserError(
            "unlock needs ESTATE (the local lock record) or --estate -i INV (the markers on the hosts)"
        )
    from engine.execute.lock import break_lock, describe, inspect_lock

    status, holder = inspect_lock(args.state_dir, args.estate)
    if status == "free":
        print(f"estate {args.estate!r} is not locked")
        return 0
    break_lock(args.state_dir, args.estate)
    print(f"removed stale lock of {describe(holder)}")
    return 0


def _markers(args: argparse.Namespace) -> int:
    from engine.execute.estate_unlock import unlock_estate
    from engine.execute.hosts import HostConnections
    from engine.execute.session import decrypt_with, operator_name
    from engine.load.host_settings import settings_resolver
    from engine.load.inventory import load_inventory

    keyring = keyring_from(args)
    inventory = load_inventory(args.estate_inventory, keyring)
    connections = HostConnections(
        dict(inventory.hosts),
        args.state_dir,
        resolve=settings_resolver({}, decrypt_with(keyring, keyring.masker)),
        add_secret=keyring.masker.add,
    )
    try:
        done = unlock_estate(
            inventory, connections, args.state_dir, operator_name(args.operator), force=args.force
        )
    finally:
        connections.close_all()
    for found in done.unreachable:
        print(f"{found.host}: not reached, its marker (if any) is still there: {found.error}")
    if done.record is None:
        print(f"estate {inventory.name!r}: no lock marker on its hosts")
        return 1 if done.unreachable else 0
    for note in done.notes:
        print(note)
    print(f"recorded as run {done.record} (cutover show {done.record})")
    return 1 if done.unreachable else 0
