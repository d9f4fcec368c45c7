"""`cutover config --show`: the effective settings, each with the file:line:col (or variable) it came from."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show", action="store_true", help="print the effective settings (the default)")
    parser.add_argument("--files", action="store_true", help="print the cutover.toml files that apply, lowest first")


def execute(args: argparse.Namespace) -> int:
    from engine.load.config import SETTINGS, config_files, load_settings, shown

    if args.files:
        for path in config_files():
            print(path)
        return 0
    settings = getattr(args, "_settings", None)  # read before the command exported any of them
    if settings is None:
        settings = load_settings()
    width = max(len(s.key) for s in SETTINGS)
    for setting in SETTINGS:
        found = settings.get(setting.key)
        if found is None:
            print(f"{setting.key:<{width}}  (not set)  {setting.help}")
        else:
            print(f"{setting.key:<{width}}  {shown(found.value)}  from {found.origin}")
    return 0
