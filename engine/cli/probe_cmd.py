"""`cutover probe -i INV [--format text|json]`: a read-only look at every host of an estate.

What it reports and why it cannot write: engine/pipeline/probe.py. Exit 0 when every host was
reached, 1 when one was not (its line says why), 2 for a bad inventory or flag.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from engine.cli.common import add_inventory_args, keyring_from


def configure(parser: argparse.ArgumentParser) -> None:
    add_inventory_args(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for a person, json to attach to a bug report or give to `validate --probe`",
    )
    parser.add_argument("--output", metavar="FILE", help="write the probe to FILE instead of standard output")
    parser.add_argument("--forks", type=int, default=8, metavar="N", help="hosts probed at once (default 8)")
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"),
        help="where simulated hosts keep their state (default .cutover)",
    )


def execute(args: argparse.Namespace) -> int:
    from engine.api.plugins import PLUGINS
    from engine.core.errors import UserError
    from engine.execute.hosts import HostConnections
    from engine.execute.session import databases_of, decrypt_with
    from engine.load.host_settings import settings_resolver
    from engine.load.inventory import load_inventory
    from engine.pipeline.probe import probe_estate, render_text

    if args.forks < 1:
        raise UserError(f"--forks must be at least 1, not {args.forks}")
    keyring = keyring_from(args)
    inventory = load_inventory(args.inventory, keyring)
    decrypt = decrypt_with(keyring, keyring.masker)
    connections = HostConnections(
        dict(inventory.hosts),
        args.state_dir,
        resolve=settings_resolver({}, decrypt),
        add_secret=keyring.masker.add,
    )
    try:
        report = probe_estate(
            inventory, connections, databases_of(inventory, {}, decrypt), PLUGINS, args.forks
        )
    finally:
        connections.close_all()
    report = keyring.masker.mask(report)
    text = (
        json.dumps(report, indent=2, ensure_ascii=False, default=str)
        if args.format == "json"
        else render_text(report)
    )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        print(f"probe of {inventory.name} written to {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0 if all(entry["reachable"] for entry in report["hosts"].values()) else 1
