"""`cutover vault`: create, encrypt, decrypt, edit, view and rekey vault files; encrypt single values;
convert between cutover's format and ansible-vault's (`--format ansible` writes ansible-vault's).

Passwords come from `--vault-id ID@SOURCE` (prompt, file, env:VAR, exec:SCRIPT), from
CUTOVER_VAULT_PASSWORD(_FILE) for the `default` id, or, when none is given, from a prompt.
Secret values for `encrypt-string` come from stdin or a hidden prompt, never from argv (argv is
visible to every user through `ps`). Every file is replaced atomically, keeping its mode.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.cli.vault_flags import add_vault_flags
from engine.core.errors import Location, UserError
from engine.load.vault.convert import FORMATS, convert_text, seal
from engine.load.vault.files import edit_text, read_text, write_atomic
from engine.load.vault.inline import rekey_inline, vault_ids_in
from engine.load.vault.keyring import DEFAULT_VAULT_ID, VaultKeyring, is_vault_text, vault_id_of
from engine.load.vault.sources import ask_hidden, check_vault_id, parse_source, read_password

ACTIONS = {
    "create": "create a new encrypted file in $EDITOR",
    "encrypt": "encrypt plain files in place",
    "decrypt": "decrypt vault files in place",
    "edit": "edit a vault file in $EDITOR (decrypted only in a private temp dir)",
    "view": "print the plaintext of vault files",
    "rekey": "re-encrypt vault files (or the !vault values of a YAML file) under a new id/password",
    "encrypt-string": "print a `!vault |` YAML value for a secret read from stdin or a prompt",
    "convert": "rewrite vault files (or the !vault values of a YAML file) in cutover's or ansible-vault's format",
}
PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
#: Plain words YAML (1.1 or 1.2) reads as booleans or null: such keys are written quoted.
YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null"})


def configure(parser: argparse.ArgumentParser) -> None:
    """Register the actions; each takes --vault-id after its name (`cutover vault view --vault-id ...`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--vault-id",
        action="append",
        default=[],
        metavar="ID@SOURCE",
        help="a password: ID@prompt, ID@FILE, ID@env:VAR, ID@exec:SCRIPT, or a bare source for 'default'",
    )
    add_vault_flags(common)
    encrypting = argparse.ArgumentParser(add_help=False)
    encrypting.add_argument("--encrypt-vault-id", metavar="ID", help="the id to encrypt with, among several")
    encrypting.add_argument("--format", choices=FORMATS, default="cutover",
                            help="cutover (default) or ansible (ansible-vault's $ANSIBLE_VAULT format)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    for name, help_text in ACTIONS.items():
        parents = [common, encrypting] if name in ("create", "encrypt", "encrypt-string") else [common]
        sub = actions.add_parser(name, help=help_text, description=help_text, parents=parents)
        if name == "encrypt-string":
            sub.add_argument(
                "--name", action="append", default=[], help="YAML key(s); values come one per stdin line"
            )
        elif name in ("create", "edit"):
            sub.add_argument("file", type=Path, metavar="FILE")
        else:
            sub.add_argument("files", type=Path, nargs="+", metavar="FILE")
        if name in ("encrypt", "decrypt"):
            sub.add_argument(
                "--output", metavar="OUT", help="write here ('-' for stdout) instead of in place"
            )
        if name == "convert":
            sub.add_argument("--to", choices=FORMATS, required=True, help="the format to write")
        if name == "rekey":
            sub.add_argument(
                "--new-vault-id", required=True, metavar="ID@SOURCE", help="the new id and password"
            )


def execute(args: argparse.Namespace) -> int:
    return {
        "create": _create,
        "encrypt": _encrypt,
        "decrypt": _decrypt,
        "edit": _edit,
        "view": _view,
        "rekey": _rekey,
        "encrypt-string": _encrypt_string,
        "convert": _convert,
    }[args.action](args)


# --- passwords --------------------------------------------------------------------------------


def _encryption_keyring(args: argparse.Namespace) -> tuple[VaultKeyring, str]:
    """The keyring and the one id to encrypt with; with no source at all, ask (twice)."""
    keyring = VaultKeyring.from_sources(args.vault_id, interactive=True, confirm=True)
    wanted = check_vault_id(args.encrypt_vault_id) if args.encrypt_vault_id else None
    if not len(keyring):
        vault_id = wanted or DEFAULT_VAULT_ID
        keyring.add(vault_id, read_password(vault_id, "prompt", interactive=True, confirm=True))
    if wanted:
        keyring.password(wanted)  # a clear error when that id has no password
        return keyring, wanted
    if len(keyring) > 1:
        raise UserError(
            f"several vault ids given ({', '.join(keyring.ids())}): which one encrypts?",
            hint="choose one with --encrypt-vault-id ID",
        )
    return keyring, keyring.ids()[0]


def _decryption_keyring(args: argparse.Namespace, texts: dict[Path, str]) -> VaultKeyring:
    """The keyring from the sources; with none given, ask for each id the files need."""
    keyring = VaultKeyring.from_sources(args.vault_id, interactive=True)
    if not len(keyring):
        for vault_id in sorted(set().union(*map(vault_ids_in, texts.values()))):
            keyring.add(vault_id, read_password(vault_id, "prompt", interactive=True))
    return keyring


# --- inputs and outputs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Input:
    path: Path
    text: str


def _read_all(paths: list[Path], *, encrypted: bool) -> list[_Input]:
    """Read and check every file before writing any, so one bad file changes nothing."""
    inputs = [_Input(path, read_text(path)) for path in paths]
    for item in inputs:
        if is_vault_text(item.text) != encrypted:
            state = "not encrypted" if encrypted else "already encrypted"
            raise UserError(f"{item.path}: {state}; nothing changed")
    return inputs


def _output_target(args: argparse.Namespace) -> str | None:
    if args.output and len(args.files) != 1:
        raise UserError("--output takes exactly one input FILE")
    return args.output


def _emit(text: str, output: str | None, fallback: Path) -> None:
    if output == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(output) if output else fallback, text)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


# --- actions ----------------------------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    if args.file.exists():
        raise UserError(f"{args.file}: already exists", hint=f"use `cutover vault edit {args.file}`")
    if not args.file.parent.is_dir():
        raise UserError(f"{args.file}: directory {args.file.parent} does not exist")
    keyring, vault_id = _encryption_keyring(args)
    text = edit_text("", args.file.suffix)
    if not text:
        _note(f"{args.file}: empty, not created")
        return 1
    write_atomic(args.file, seal(keyring, text, vault_id, args.format))
    _note(f"created {args.file} (vault id {vault_id})")
    return 0


def _encrypt(args: argparse.Namespace) -> int:
    output = _output_target(args)
    inputs = _read_all(args.files, encrypted=False)
    keyring, vault_id = _encryption_keyring(args)
    for item in inputs:
        _emit(seal(keyring, item.text, vault_id, args.format), output, item.path)
        _note(f"encrypted {item.path} (vault id {vault_id})")
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    output = _output_target(args)
    inputs = _read_all(args.files, encrypted=True)
    keyring = _decryption_keyring(args, {item.path: item.text for item in inputs})
    plain = [(item, keyring.decrypt(item.text, _where(item.path))) for item in inputs]
    for item, text in plain:
        _emit(text, output, item.path)
        _note(f"decrypted {item.path}")
    return 0


def _view(args: argparse.Namespace) -> int:
    inputs = _read_all(args.files, encrypted=True)
    keyring = _decryption_keyring(args, {item.path: item.text for item in inputs})
    for item in inputs:
        sys.stdout.write(keyring.decrypt(item.text, _where(item.path)))
    sys.stdout.flush()
    return 0


def _edit(args: argparse.Namespace) -> int:
    (item,) = _read_all([args.file], encrypted=True)
    keyring = _decryption_keyring(args, {item.path: item.text})
    vault_id = vault_id_of(item.text, _where(item.path))
    before = keyring.decrypt(item.text, _where(item.path))
    after = edit_text(before, item.path.suffix)
    if after == before:
        _note(f"{item.path}: unchanged")
        return 0
    write_atomic(item.path, keyring.encrypt(after, vault_id))
    _note(f"saved {item.path} (vault id {vault_id})")
    return 0


def _rekey(args: argparse.Namespace) -> int:
    new_id, new_source = parse_source(args.new_vault_id)
    check_vault_id(new_id)
    inputs = [_Input(path, read_text(path)) for path in args.files]
    keyring = _decryption_keyring(args, {item.path: item.text for item in inputs})
    new = VaultKeyring(masker=keyring.masker)
    new.add(new_id, read_password(new_id, new_source, interactive=True, confirm=True))
    results: list[tuple[_Input, str, str]] = []
    for item in inputs:
        if is_vault_text(item.text):
            plain = keyring.decrypt(item.text, _where(item.path))
            results.append((item, new.encrypt(plain, new_id), "file"))
        else:
            text, count = rekey_inline(item.text, keyring, new, new_id, str(item.path))
            results.append((item, text, f"{count} inline value{'s' if count != 1 else ''}"))
    for item, text, what in results:
        write_atomic(item.path, text)
        _note(f"rekeyed {item.path} ({what}) to vault id {new_id}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    inputs = [_Input(path, read_text(path)) for path in args.files]
    keyring = _decryption_keyring(args, {item.path: item.text for item in inputs})
    results = [(item, *convert_text(item.text, keyring, args.to, str(item.path))) for item in inputs]
    for item, text, count in results:
        if text != item.text:
            write_atomic(item.path, text)
        _note(f"converted {item.path} to the {args.to} format ({count} value{'s' if count != 1 else ''})")
    return 0


def _encrypt_string(args: argparse.Namespace) -> int:
    names = [_yaml_key(name) for name in args.name]
    keyring, vault_id = _encryption_keyring(args)
    values = _read_values(len(names) or 1, args.name or ["value"])
    blocks = []
    for index, value in enumerate(values):
        sealed = seal(keyring, value, vault_id, args.format)
        body = "".join(f"  {line}\n" for line in sealed.splitlines())
        prefix = f"{names[index]}: " if names else ""
        blocks.append(f"{prefix}!vault |\n{body}")
    sys.stdout.write("".join(blocks))
    return 0


def _yaml_key(name: str) -> str:
    """A YAML key as written: bare when plain, else JSON-quoted (valid YAML double-quoted)."""
    if not name:
        raise UserError("--name is empty")
    plain = PLAIN_KEY.fullmatch(name) and name.lower() not in YAML_WORDS
    return name if plain else json.dumps(name)


def _read_values(count: int, labels: list[str]) -> list[str]:
    """Values from stdin (the whole input for one value, one line each for several) or a prompt."""
    if sys.stdin is not None and not sys.stdin.isatty():
        try:
            data = sys.stdin.read()
        except UnicodeDecodeError:
            raise UserError("stdin is not UTF-8 text; nothing encrypted") from None
        if count == 1:
            values = [data[:-2] if data.endswith("\r\n") else data.removesuffix("\n")]
        else:
            values = data.splitlines()
            if len(values) != count:
                raise UserError(
                    f"{count} --name given but stdin holds {len(values)} line(s); give one per name"
                )
    else:
        values = [ask_hidden(f"Value for {label}", confirm=True) for label in labels]
    for label, value in zip(labels, values, strict=True):
        if not value:
            raise UserError(f"the value for {label!r} is empty; nothing encrypted")
    return values


def _where(path: Path) -> Location:
    return Location(str(path))
