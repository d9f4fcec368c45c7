"""What every sub-command gets: `-v`..`-vvvv`, and its defaults from `cutover.toml`.

Verbosity, on every command (each level adds to the one before):

- `-v`: run/resume print each step's message and registered output (ok and skipped steps too);
  plan/validate print their notes; every command says which `cutover.toml` files it read.
- `-vv`: the effective settings and where each came from, and the inventory files read.
- `-vvv`: the connection log: how each host is reached, shells opened and re-opened.
- `-vvvv`: everything the engine logs, transport libraries included (secrets masked).

Defaults from `cutover.toml` (see engine/load/config.py) are set on the command's parser, so a
flag typed on the command line always wins, and `-i` is optional once a file names the inventory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from engine.core.errors import UserError
from engine.core.secrets import Masker, MaskingFilter

#: setting -> the parser destination it is the default of
DESTINATIONS = {"inventory": "inventory", "state_dir": "state_dir", "forks": "forks"}
#: settings handed to the rest of the engine through the environment (read where they are used)
EXPORTED = ("timezone", "report.dir", "report.mode", "campaign.broker", "campaign.journal")


def prepare(parser: argparse.ArgumentParser) -> None:
    """Add `-v` where the command has none, and the `cutover.toml` defaults (a bad file is kept for
    `after_parse` to report, so no argument error hides it)."""
    if not any(action.dest == "verbose" for action in parser._actions):
        parser.add_argument("-v", "--verbose", action="count", default=0,
                            help="more detail (-v .. -vvvv; see docs/from-ansible.md)")
    from engine.load.config import load_settings

    try:
        settings = load_settings()
    except UserError as err:  # reported by `after_parse`, like any other bad input: exit 2, nothing run
        parser.set_defaults(_settings={}, _config_error=err)
        for action in parser._actions:
            action.required = False
        return
    parser.set_defaults(_settings=settings)
    actions = {action.dest: action for action in parser._actions}
    for key, dest in DESTINATIONS.items():
        if key in settings and dest in actions:
            actions[dest].default = settings[key].value
            actions[dest].required = False
    password_file = settings.get("vault_password_file")
    if password_file and "vault_id" in actions and not password_file.origin.startswith("$"):
        actions["vault_id"].default = [f"default@{password_file.value}"]
    colour = settings.get("colour")
    if colour and colour.value == "never":
        os.environ.setdefault("NO_COLOR", "1")
    elif colour and colour.value == "always":
        os.environ.setdefault("FORCE_COLOR", "1")
    for key in EXPORTED:
        if key in settings:
            from engine.load.config import BY_KEY

            os.environ.setdefault(str(BY_KEY[key].env), str(settings[key].value))


def after_parse(args: argparse.Namespace) -> None:
    """Check what the defaults could not, and set up logging for the verbosity asked."""
    error = getattr(args, "_config_error", None)
    if error is not None:
        raise error
    if "inventory" in vars(args) and not args.inventory and not _names_a_plan_file(args):
        raise UserError("no inventory: pass -i INVENTORY", hint="or set `inventory = \"...\"` in cutover.toml")
    if getattr(args, "state_dir", None):  # valid documents are not validated again (engine/load/schema.py)
        from engine.api.plugins import remember_plugins_in
        from engine.load.schema import remember_valid_in

        remember_valid_in(args.state_dir)
        remember_plugins_in(args.state_dir)  # nor the plug-ins' entry points scanned again
    level = int(getattr(args, "verbose", 0) or 0)
    settings = getattr(args, "_settings", {}) or {}
    if level >= 1 and settings:
        files = sorted({v.origin.rsplit(":", 3)[0] for v in settings.values() if not v.origin.startswith("$")})
        print(f"cutover: settings from {', '.join(files) or 'the environment'}", file=sys.stderr)
    if level >= 2:
        from engine.load.config import shown

        for key, value in sorted(settings.items()):
            print(f"cutover: {key} = {shown(value.value)}  ({value.origin})", file=sys.stderr)
    if level >= 3:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_RunMaskingFilter(args))
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        root = logging.getLogger() if level >= 4 else logging.getLogger("engine")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if level >= 4 else logging.INFO)


def _names_a_plan_file(args: argparse.Namespace) -> bool:
    """`cutover run FILE` of a plan file: the file names its inventory."""
    from engine.pipeline.plan_file import is_plan_file

    return bool(getattr(args, "playbook", None)) and is_plan_file(args.playbook)


class _RunMaskingFilter(MaskingFilter):
    """Masks with the command's keyring masker once there is one (it learns every secret decrypted)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(Masker())
        self._args = args

    def filter(self, record: logging.LogRecord) -> bool:
        keyring: Any = getattr(self._args, "_keyring", None)
        if keyring is not None:
            self.masker = keyring.masker
        return super().filter(record)
