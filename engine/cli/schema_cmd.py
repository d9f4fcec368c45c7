"""`cutover schema [-o DIR]`: write the JSON Schemas so editors validate while operators type."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=".cutover/schemas",
        help="directory to write into (default .cutover/schemas)",
    )
    parser.add_argument("--name", choices=["inventory", "playbook", "editor-playbook", "editor-tasks", "vars",
                                           "ansible-inventory", "events"], help="print one schema to the console")


def execute(args: argparse.Namespace) -> int:
    from engine.load.schema import SCHEMA_DIR, load_schema

    if args.name:
        print(json.dumps(load_schema(args.name), indent=2))
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):  # the inventory's with the products' sections
        schema = load_schema(path.name.removesuffix(".schema.json"))
        (out / path.name).write_text(json.dumps(schema, indent=2) + "\n")
        print(out / path.name)
    print("# add to the top of a file for yaml-language-server (VS Code settings: docs/from-ansible.md#editors):")
    for kind, name in (("playbook", "editor-playbook"), ("task file", "editor-tasks"), ("inventory", "inventory"),
                       ("Ansible YAML inventory", "ansible-inventory"), ("vars file", "vars")):
        print(f"#   {kind}: # yaml-language-server: $schema={(out / f'{name}.schema.json').resolve()}")
    return 0
