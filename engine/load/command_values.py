"""Values as the command line gives them: `-e` variables and `--tags` lists.

`-e` is key=value pairs, a JSON/YAML mapping, or an @file of variables (highest precedence).
Read here rather than in the CLI because a resumed run reads its recorded values again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.core.errors import Location, UserError


def split_tags(values: list[str]) -> frozenset[str]:
    """`-t a,b -t c` -> {a, b, c}."""
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
