"""The `cutover` command line.

Each sub-command lives in its own module (`engine/cli/<name>_cmd.py`) with two functions,
`configure(parser)` and `execute(args) -> int`, imported only when that sub-command runs, so
`cutover --version` stays fast. Exit codes: 0 success, 1 a task failed, 2 bad input,
3 lock held or refusal, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine import __version__
from engine.cli.command_setup import after_parse, prepare

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("engine.cli.run_cmd", "run a playbook against an inventory"),
    "plan": ("engine.cli.plan_cmd", "show the ordered plan (waves, critical path) without touching a host"),
    "validate": ("engine.cli.validate_cmd", "check a playbook and inventory without touching a host"),
    "inventory": ("engine.cli.inventory_cmd", "list an inventory's hosts, roles and variables"),
    "schema": ("engine.cli.schema_cmd", "write the JSON Schemas for editors"),
    "runs": ("engine.cli.runs_cmd", "list recorded runs"),
    "show": ("engine.cli.show_cmd", "show one recorded run"),
    "resume": ("engine.cli.resume_cmd", "continue an interrupted or failed run"),
    "unlock": ("engine.cli.unlock_cmd", "break a stale estate lock"),
    "report": ("engine.cli.report_cmd", "write a run's report (html, json, junit)"),
    "vault": ("engine.cli.vault_cmd", "encrypt and decrypt secrets"),
    "config": ("engine.cli.config_cmd", "show the effective cutover.toml settings and where each came from"),
    "campaign": ("engine.cli.campaign_cmd", "many estates in their maintenance windows (plan, validate, run, serve)"),
    "worker": ("engine.cli.worker_cmd", "run campaign estates for a Celery fleet"),
    "approve": ("engine.cli.approve_cmd", "answer a gate a run waits at, from any terminal"),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with 2 and a one-line message (no usage dump) on bad flags.

    No abbreviated long options: `--allow` must not silently mean `--allow-unprotected`, and an
    option added later must not change what an operator's existing command line means.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(argv: list[str]) -> tuple[ArgumentParser, str | None]:
    parser = ArgumentParser(prog="cutover", description="Upgrade and roll back CRM estates, by plan.")
    parser.add_argument("--version", action="version", version=f"cutover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            importlib.import_module(module_name).configure(command_parser)
            prepare(command_parser)  # -v everywhere, cutover.toml defaults (engine.cli.command_setup)
    return parser, wanted


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, wanted = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    from engine.core.errors import CutoverError, UserError

    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        after_parse(args)
        return int(module.execute(args) or 0)
    except UserError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except CutoverError as err:
        print(f"cutover: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("cutover: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def entry() -> None:
    sys.exit(main())
