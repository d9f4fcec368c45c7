"""Options and loading shared by the commands that read a playbook and an inventory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.errors import Location, UserError


def add_inventory_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", required=True, metavar="FILE", help="the estate's inventory file")
    parser.add_argument("--vault-id", action="append", default=[], metavar="ID@SOURCE",
                        help="vault password source: ID@prompt, ID@FILE, ID@env:VAR, ID@exec:SCRIPT (repeatable)")


def add_plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook file")
    add_inventory_args(parser)
    parser.add_argument("-e", "--extra-vars", action="append", default=[], metavar="VARS",
                        help="key=value, JSON/YAML mapping, or @file (highest precedence; repeatable)")
    parser.add_argument("-l", "--limit", metavar="PATTERN", help="only hosts matching this pattern")
    parser.add_argument("-t", "--tags", action="append", default=[], metavar="TAGS", help="only tasks with these tags")
    parser.add_argument("--skip-tags", action="append", default=[], metavar="TAGS", help="leave out tasks with these tags")
    parser.add_argument("--allow-unprotected", action="store_true",
                        help="let destructive steps run without a verified backup upstream (recorded in journal and report)")


def _split_tags(values: list[str]) -> frozenset[str]:
    return frozenset(t.strip() for v in values for t in v.split(",") if t.strip())


def parse_extra_vars(values: list[str]) -> dict[str, Any]:
    """-e key=value | -e '{"k": 1}' | -e @vars.yml, later ones win."""
    from engine.loader import load_file, parse_text

    out: dict[str, Any] = {}
    for raw in values:
        if raw.startswith("@"):
            value = load_file(raw[1:]).value
            where = f"-e {raw}"
        elif raw.lstrip().startswith(("{", "[")):
            value = parse_text(raw, "-e")
            where = "-e"
        else:
            value = {}
            for pair in raw.split():
                key, sep, val = pair.partition("=")
                if not sep or not key.isidentifier():
                    raise UserError(f"-e {raw!r}: expected key=value, a JSON/YAML mapping, or @file",
                                    hint="e.g. -e target_version=7.3")
                value[key] = val
            where = "-e"
        if not isinstance(value, dict):
            raise UserError(f"{where}: extra vars must be a mapping", Location(where))
        out.update(value)
    return out


def keyring_from(args: argparse.Namespace, masker: Any = None) -> Any:
    """The vault keyring for `--vault-id` sources; decrypted values are registered with `masker`."""
    from engine.vault import VaultKeyring

    cached = getattr(args, "_keyring", None)
    if cached is not None:
        return cached
    keyring = VaultKeyring.from_sources(list(getattr(args, "vault_id", []) or []), interactive=_interactive(),
                                        masker=masker)
    args._keyring = keyring
    return keyring


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


def plan_options(args: argparse.Namespace, **extra: Any) -> Any:
    from engine.planner.builder import PlanOptions

    return PlanOptions(
        limit=args.limit,
        tags=_split_tags(args.tags),
        skip_tags=_split_tags(args.skip_tags),
        extra_vars=parse_extra_vars(args.extra_vars),
        allow_unprotected=bool(getattr(args, "allow_unprotected", False)),
        **extra,
    )


def load_all(args: argparse.Namespace, **plan_extra: Any) -> tuple[Any, Any, Any]:
    """(playbook, inventory, plan) for a command's arguments; every problem raised as one UserError."""
    from engine.errors import Problem
    from engine.inventory import load_inventory
    from engine.planner.builder import build_plan
    from engine.playbook import load_playbook

    keyring = keyring_from(args)
    problems: list[Problem] = []
    inventory = playbook = None
    if not Path(args.playbook).is_file():
        raise UserError(f"playbook not found: {args.playbook}")
    try:
        inventory = load_inventory(args.inventory, keyring)
    except UserError as err:
        problems.extend(err.problems)
    try:
        playbook = load_playbook(args.playbook, keyring=keyring)
    except UserError as err:
        problems.extend(err.problems)
    if problems:
        raise UserError.many(problems)
    plan = build_plan(playbook, inventory, plan_options(args, **plan_extra))
    return playbook, inventory, plan
