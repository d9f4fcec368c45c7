"""ansible-vault's password flags on every command that reads vaulted files.

`--vault-password-file FILE` and `--ask-vault-pass` (`-J`, `--ask-vault-password`) are what an
Ansible hand types; each is recorded as the `--vault-id` source it stands for (`default@FILE`,
`default@prompt`), so one keyring serves both spellings. As in Ansible, several password files
may be given: all are tried on an ansible-vault value, and the first is cutover's `default`.
An executable password file is run and its output is the password (ansible-vault's rule).
"""

from __future__ import annotations

import argparse
from typing import Any


class _AsVaultId(argparse.Action):
    """Append `<id>@<source>` to `vault_id`, numbering further `default` ids (`default.2`, ...)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sources = list(getattr(namespace, "vault_id", None) or [])
        source = "prompt" if self.nargs == 0 else str(values)
        taken = {s.partition("@")[0] for s in sources if "@" in s}
        vault_id, n = "default", 1
        while vault_id in taken:
            n += 1
            vault_id = f"default.{n}"
        sources.append(f"{vault_id}@{source}")
        namespace.vault_id = sources


def add_vault_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--vault-password-file` and `--ask-vault-pass` beside a parser's `--vault-id`."""
    parser.add_argument("--vault-password-file", "--vault-pass-file", action=_AsVaultId, metavar="FILE",
                        help="the default vault id's password from FILE (run when executable); repeatable")
    parser.add_argument("-J", "--ask-vault-pass", "--ask-vault-password", action=_AsVaultId, nargs=0,
                        help="ask for the default vault id's password on the terminal")
