"""Options and loading shared by the commands that read a playbook and an inventory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.vault_flags import add_vault_flags
from engine.core.errors import Location, UserError


def add_inventory_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i", "--inventory", required=True, metavar="FILE", help="the estate's inventory file"
    )
    parser.add_argument(
        "--vault-id",
        action="append",
        default=[],
        metavar="ID@SOURCE",
        help="vault password source: ID@prompt, ID@FILE, ID@env:VAR, ID@exec:SCRIPT (repeatable)",
    )
    add_vault_flags(parser)


def add_plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook file")
    add_inventory_args(parser)
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="key=value, JSON/YAML mapping, or @file (highest precedence; repeatable)",
    )
    parser.add_argument("-l", "--limit", metavar="PATTERN", help="only hosts matching this pattern")
    parser.add_argument(
        "-t", "--tags", action="append", default=[], metavar="TAGS", help="only tasks with these tags"
    )
    parser.add_argument(
        "--skip-tags", action="append", default=[], metavar="TAGS", help="leave out tasks with these tags"
    )
    parser.add_argument(
        "--allow-unprotected",
        action="store_true",
        help="let destructive steps run without a verified backup upstream (recorded in journal and report)",
    )


def _split_tags(values: list[str]) -> frozenset[str]:
    return frozenset(t.strip() for v in values for t in v.split(",") if t.strip())


def parse_extra_vars(values: list[str], keyring: Any = None) -> dict[str, Any]:
    """-e key=value ... | -e '{"k": 1}' or -e 'k: 1' (JSON/YAML) | -e @vars.yml; later ones win.

    The argument's own text is the "file" of a mistake in it: `-e:1:COL` points at the column of
    the bad pair (or of the JSON/YAML error); a mistake in an @file is located in that file.
    """
    from engine.load.schema import kind_of
    from engine.load.yaml_marks import load_file, parse_text

    out: dict[str, Any] = {}
    for raw in values:
        where = Location("-e", 1, 1)
        if raw.startswith("@"):
            name = raw[1:].strip()
            if not name or not Path(name).is_file():
                raise UserError(
                    f"-e {raw}: no such file" if name else "-e @ needs a file name",
                    where,
                    hint="e.g. -e @vars.yml (relative to the current directory)",
                )
            value = load_file(name, keyring).value
            where = Location(name, 1, 1)
        elif _looks_like_pairs(raw):
            value = _pairs(raw)
        else:
            value = parse_text(raw, "-e", keyring)
        if value is None:  # an empty file or argument sets nothing
            continue
        if not isinstance(value, dict):
            raise UserError(
                f"extra vars must be a mapping, not {kind_of(value)}",
                getattr(value, "loc", None) or where,
                hint='e.g. -e target_version=7.3, -e \'{"target_version": "7.3"}\' or -e @vars.yml',
            )
        out.update(value)
    return out


def _looks_like_pairs(raw: str) -> bool:
    first = raw.strip().split(None, 1)[0] if raw.strip() else ""
    return "=" in first and not first.startswith(("{", "["))


def _pairs(raw: str) -> dict[str, str]:
    """`a=1 b='two words'`: shell-like quoting, values stay text (as in Ansible)."""
    import shlex

    try:
        tokens = shlex.split(raw)
    except ValueError as err:
        raise UserError(f"-e {raw!r}: {err}", Location("-e", 1, 1), hint="close the quote") from None
    out: dict[str, str] = {}
    for token in tokens:
        key, sep, val = token.partition("=")
        if not sep or not key.isidentifier():
            col = raw.find(token.split("=", 1)[0]) + 1 if token else 1
            raise UserError(
                f"-e: {token!r} is not key=value",
                Location("-e", 1, max(col, 1)),
                hint="keys are variable names: -e target_version=7.3 install_dir=/opt/crm",
            )
        out[key] = val
    return out


def keyring_from(args: argparse.Namespace, masker: Any = None) -> Any:
    """The vault keyring for `--vault-id` sources; decrypted values are registered with `masker`."""
    from engine.load.vault.keyring import VaultKeyring

    cached = getattr(args, "_keyring", None)
    if cached is not None:
        return cached
    keyring = VaultKeyring.from_sources(
        list(getattr(args, "vault_id", []) or []), interactive=_interactive(), masker=masker
    )
    args._keyring = keyring
    return keyring


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


def plan_options(args: argparse.Namespace, **extra: Any) -> Any:
    from engine.plan.builder import PlanOptions

    return PlanOptions(
        limit=args.limit,
        tags=_split_tags(args.tags),
        skip_tags=_split_tags(args.skip_tags),
        extra_vars=parse_extra_vars(args.extra_vars, keyring_from(args)),
        allow_unprotected=bool(getattr(args, "allow_unprotected", False)),
        **extra,
    )


def load_all(args: argparse.Namespace, **plan_extra: Any) -> tuple[Any, Any, Any]:
    """(playbook, inventory, plan) for a command's arguments; every problem raised as one UserError."""
    from engine.api.registry import ModuleRegistry
    from engine.cli.plan_flags import start_at_task
    from engine.core.errors import Problem
    from engine.load.inventory import load_inventory
    from engine.load.playbook import load_playbook
    from engine.plan.builder import build_plan

    keyring = keyring_from(args)
    registry = ModuleRegistry([Path(args.playbook).parent / "library"])
    problems: list[Problem] = []
    inventory = playbook = None
    if not Path(args.playbook).is_file():
        raise UserError(f"playbook not found: {args.playbook}")
    try:
        inventory = load_inventory(args.inventory, keyring, playbook_dir=Path(args.playbook).parent)
    except UserError as err:
        problems.extend(err.problems)
    try:
        playbook = start_at_task(load_playbook(args.playbook, registry, keyring=keyring), args)
    except UserError as err:
        problems.extend(err.problems)
    if problems:
        raise UserError.many(problems)
    plan = build_plan(playbook, inventory, plan_options(args, **plan_extra), registry)
    return playbook, inventory, plan
