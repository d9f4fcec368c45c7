"""Options shared by the commands that read a playbook and an inventory, and what they become."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.vault_flags import add_vault_flags


def add_inventory_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "-i", "--inventory", required=required, metavar="FILE", help="the estate's inventory file"
    )
    parser.add_argument(
        "--vault-id",
        action="append",
        default=[],
        metavar="ID@SOURCE",
        help="vault password source: ID@prompt, ID@FILE, ID@env:VAR, ID@exec:SCRIPT (repeatable)",
    )
    add_vault_flags(parser)


def add_plan_args(parser: argparse.ArgumentParser, inventory_required: bool = True) -> None:
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook file")
    add_inventory_args(parser, inventory_required)
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


def keyring_from(args: argparse.Namespace) -> Any:
    """The vault keyring for `--vault-id` sources (one per command); its `masker` knows every
    password it holds and every value it decrypts, and is the run's masker."""
    from engine.load.vault.keyring import VaultKeyring

    cached = getattr(args, "_keyring", None)
    if cached is not None:
        return cached
    keyring = VaultKeyring.from_sources(
        list(getattr(args, "vault_id", []) or []), interactive=_interactive()
    )
    args._keyring = keyring
    return keyring


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


def sources_from(args: argparse.Namespace) -> Any:
    """The pipeline's Sources for a command's playbook, inventory and planning flags."""
    from engine.load.command_values import parse_extra_vars, split_tags
    from engine.pipeline import Sources
    from engine.plan.builder import PlanOptions
    from engine.plan.start_at import BEFORE_START

    keyring = keyring_from(args)
    start_at = getattr(args, "start_at_task", None)
    plan_options = PlanOptions(
        limit=args.limit,
        tags=split_tags(args.tags),
        skip_tags=split_tags(args.skip_tags) | ({BEFORE_START} if start_at else set()),
        extra_vars=parse_extra_vars(args.extra_vars, keyring),
        allow_unprotected=bool(getattr(args, "allow_unprotected", False)),
    )
    return Sources(args.playbook, args.inventory, keyring, plan_options, start_at_task=start_at)


def add_from_run_args(parser: argparse.ArgumentParser) -> None:
    """`--from-run RUN` and the state folder it is looked up in, for `plan` and `validate`."""
    import os

    parser.add_argument("--from-run", metavar="RUN",
                        help="plan a rollback from the backups this run recorded (an id, a prefix, or `last`)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"),
                        help="journal, locks and reports (default .cutover)")


def preview_sources(args: argparse.Namespace) -> tuple[Any, str | None]:
    """Sources for `plan`/`validate`, with `--from-run`'s backups; and the run it names."""
    from engine.pipeline import RunSettings
    from engine.pipeline.flows import with_from_run

    sources, settings = with_from_run(sources_from(args), RunSettings(state_dir=args.state_dir, from_run=args.from_run))
    return sources, settings.from_run
