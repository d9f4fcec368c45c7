"""Where an inventory comes from: a file (cutover YAML, Ansible YAML or INI) or a directory of
them, with the `group_vars/` and `host_vars/` folders Ansible reads beside it and beside the playbook.

A directory is read as Ansible reads one: its entries in name order, sub-directories too, hidden
files, `group_vars`, `host_vars`, `vars_plugins` and Ansible's ignored extensions (`.md`,
`.txt`, `.bak`, `.retry`, `.cfg`, ...) left out; every file adds to the same tree. A vars folder
entry is a file `<name>`, `<name>.yml`, `<name>.yaml` or `<name>.json`, or a folder `<name>/`
whose files are all read in name order. Whole files encrypted with either vault are decrypted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import Location, Problem, UserError
from engine.load.inventory_ansible import AnsibleTree, is_ansible_yaml, read_yaml, to_cutover
from engine.load.inventory_ini import looks_like_ini, read_ini
from engine.load.yaml_marks import LDict, SourceFile, parse_text

#: what Ansible leaves out of an inventory directory (INVENTORY_IGNORE_EXTS and its fixed names)
IGNORED = re.compile(
    r"^\.|^(host_vars|group_vars|vars_plugins)$|"
    r"(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$"
)
YAML_EXTENSIONS = (".yml", ".yaml", ".json")


class AnsibleDoc(LDict):
    """An inventory document translated from Ansible sources; `tree` is what Ansible would see."""

    tree: AnsibleTree


@dataclass
class InventorySource:
    """What `load_inventory` reads: the document in cutover's form and the sha256 of every file read."""

    value: Any
    sha256: str
    files: list[str] = field(default_factory=list)


@dataclass
class VarsFolder:
    """The `group_vars/` and `host_vars/` of one directory, each file read once when first needed."""

    base: Path
    keyring: Any = None
    #: whose folder this is: `inventory` or `playbook` (shown by `cutover inventory --vars-origin`)
    beside: str = "inventory"
    read: list[SourceFile] = field(default_factory=list)
    _cache: dict[tuple[str, str], list[tuple[str, LDict]]] = field(default_factory=dict)

    def group_layers(self, names: list[str]) -> list[tuple[str, LDict]]:
        return [layer for name in names for layer in self._layers("group_vars", name)]

    def host_layers(self, host: str) -> list[tuple[str, LDict]]:
        return self._layers("host_vars", host)

    def _layers(self, kind: str, name: str) -> list[tuple[str, LDict]]:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = [
                (f"{kind}/{name} beside the {self.beside}", self._load(path))
                for path in vars_files(self.base / kind, name)
            ]
        return self._cache[key]

    def _load(self, path: Path) -> LDict:
        source = SourceFile(path, self.keyring)
        self.read.append(source)
        value = source.value
        if value is None:
            return LDict(Location(str(path), 1, 1))
        if not isinstance(value, LDict):
            raise UserError(
                "a vars file must be a mapping of variable names to values",
                getattr(value, "loc", None) or Location(str(path), 1, 1),
                hint="e.g. `http_port: 8080` on its own line",
            )
        return value


def vars_files(folder: Path, name: str) -> list[Path]:
    """Ansible's lookup of `name` in a vars folder: the first of name, name.yml, name.yaml,
    name.json that exists; when that is a folder, every file under it in name order."""
    for candidate in (folder / name, *(folder / f"{name}{ext}" for ext in YAML_EXTENSIONS)):
        if candidate.is_dir():
            return list(_folder_files(candidate))
        if candidate.is_file():
            return [candidate]
    return []


def _folder_files(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            yield from _folder_files(entry)
        elif entry.is_file() and (not entry.suffix or entry.suffix in YAML_EXTENSIONS):
            yield entry


def read_inventory_source(
    path: str | Path, keyring: Any = None, playbook_dir: str | Path | None = None
) -> InventorySource:
    """The inventory at `path` in cutover's form: a cutover YAML file as written, Ansible sources
    (YAML, INI, a directory) through the tree with their vars folders applied."""
    path = Path(path)
    if path.is_dir():
        files = [f for f in _inventory_files(path)]
        if not files:
            raise UserError(f"inventory directory {path} holds no inventory file",
                            hint="an INI or YAML Ansible inventory, e.g. hosts.ini or hosts.yml")
        tree = AnsibleTree(path.resolve().name)
        sources = [_read_into(tree, f, keyring, in_directory=True) for f in files]
        return _translate(tree, path, sources, keyring, playbook_dir)
    source = SourceFile(path, keyring, parse=False)
    text = _plain_text(source, keyring)
    if _is_ini(path, text):
        tree = AnsibleTree(path.stem)
        read_ini(text, str(path), tree)
        return _translate(tree, path.parent, [source], keyring, playbook_dir)
    source.value = parse_text(text, str(path), keyring)
    if not is_ansible_yaml(source.value):
        return InventorySource(source.value, source.sha256, [str(path)])
    tree = AnsibleTree(path.stem)
    read_yaml(source.value, tree)
    return _translate(tree, path.parent, [source], keyring, playbook_dir)


def _inventory_files(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if IGNORED.search(entry.name):
            continue
        if entry.is_dir():
            yield from _inventory_files(entry)
        elif entry.is_file():
            yield entry


def _plain_text(source: SourceFile, keyring: Any) -> str:
    from engine.load.vault.keyring import decrypt_text, is_vault_text

    if is_vault_text(source.text):
        return decrypt_text(source.text, keyring, Location(str(source.path), 1, 1))
    return source.text


def _is_ini(path: Path, text: str) -> bool:
    if path.suffix == ".ini":
        return True
    if path.suffix in YAML_EXTENSIONS:
        return False
    return looks_like_ini(text)


def _read_into(tree: AnsibleTree, path: Path, keyring: Any, *, in_directory: bool) -> SourceFile:
    source = SourceFile(path, keyring, parse=False)
    text = _plain_text(source, keyring)
    if _is_ini(path, text):
        read_ini(text, str(path), tree)
        return source
    value = parse_text(text, str(path), keyring)
    if value is None:
        return source
    if not is_ansible_yaml(value):
        raise UserError(
            "a file of an inventory directory must be an Ansible inventory (INI, or YAML starting with `all:`)",
            getattr(value, "loc", None) or Location(str(path), 1, 1),
            hint="keep cutover-form inventories as single files: -i FILE",
        )
    read_yaml(value, tree)
    return source


def _translate(
    tree: AnsibleTree, base: Path, sources: list[SourceFile], keyring: Any, playbook_dir: str | Path | None
) -> InventorySource:
    """Translate with the vars folders of the inventory's directory, then the playbook's."""
    folders = [VarsFolder(base, keyring)]
    if playbook_dir is not None and Path(playbook_dir).resolve() != base.resolve():
        folders.append(VarsFolder(Path(playbook_dir), keyring, "playbook"))
    tree.vars_files = folders
    if tree.problems:  # reading errors first: resolving variables of a broken tree says little
        raise UserError.many(_unique(tree.problems))
    doc = AnsibleDoc(Location(str(sources[0].path), 1, 1))
    to_cutover(tree, doc.loc, into=doc)
    doc.tree = tree
    read = [*sources, *(s for folder in folders for s in folder.read)]
    digest = hashlib.sha256()
    for source in read:
        digest.update(f"{source.path}\0{source.sha256}\n".encode())
    return InventorySource(doc, digest.hexdigest(), [str(s.path) for s in read])


def _unique(problems: list[Problem]) -> list[Problem]:
    return list({(p.message, str(p.location)): p for p in problems}.values())
