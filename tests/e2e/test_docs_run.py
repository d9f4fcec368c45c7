"""The docs, run: every runnable shell block of README.md and docs/*.md, and every YAML snippet.

Runnable blocks (```` ```sh test ````, expectations in a `<!-- doc-test: ... -->` comment just
before the fence; the grammar is in tests/support/docblocks.py and docs/README.md) run as
written, page by page, in a fresh copy of the repository with `cutover` on PATH: against the
embedded Sage CRM demo (simulated hosts) and the 1CRM demo (a private MariaDB the demo starts in
a temporary folder, the local connection). Their exit status and key output are checked, so a
page whose commands drift from the engine fails here.

Every ```` ```yaml ```` block is an inventory (a mapping with `hosts:`, or Ansible's `all:`) or a
playbook (a list of plays) and is loaded with the engine's own loaders, the ones `cutover
validate` uses: the inventory with `cutover inventory -i` (schema, references, estate rules),
the playbook with the playbook loader (schema, module arguments; the pages' example modules of
docs/examples/library/ in its library) or, when its comment says `validate=...`, with `cutover
validate`; each `!vault` value must have the real vault format.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.registry import ModuleRegistry
from engine.connect.ssh import SSHSettings
from engine.connect.winrm_settings import WinRMSettings
from engine.core.errors import Location, UserError
from engine.journal.store import Journal
from engine.load.inventory import load_inventory
from engine.load.playbook import load_playbook
from engine.load.schema import load_schema
from engine.load.schema import validate as schema_problems
from engine.load.vault.keyring import EncryptedValue
from engine.load.yaml_marks import load_file
from tests.support.docblocks import (
    REPO,
    Block,
    block_environment,
    blocks_of,
    copy_repository,
    doc_pages,
    problems_of,
    run_block,
)
from tests.support.required import server_unavailable
from tests.support.runs import run_cli

ALL_BLOCKS = [block for page in doc_pages() for block in blocks_of(page)]
RUNNABLE = [b for b in ALL_BLOCKS if b.runnable and not b.option("skip")]
PAGES_THAT_RUN = sorted({b.page for b in RUNNABLE} - {"README.md"})
YAML_BLOCKS = [b for b in ALL_BLOCKS if b.language == "yaml" and not b.option("skip")]
CONNECTION_SETTINGS = {"winrm": WinRMSettings.from_host, "ssh": SSHSettings.from_host}
#: modules written as examples on the pages (docs/modules.md, "Writing your own module")
EXAMPLE_LIBRARY = REPO / "docs" / "examples" / "library"


@contextlib.contextmanager
def fresh_copy(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the repository and a reader's environment; demo servers left running are stopped."""
    repo = copy_repository(tmp_path / "repo")
    env = block_environment(tmp_path / "tmp", repo)
    try:
        yield repo, env
    finally:
        for folder in (tmp_path / "tmp").glob("cutover-1crm-*"):
            subprocess.run([str(repo / "examples/demo-onecrm/stop"), str(folder)], env=env, capture_output=True)


def need_what_the_blocks_use(blocks: list[Block]) -> None:
    """The 1CRM demo starts a real MariaDB: without its programs, skip on a workstation, fail in CI."""
    if not any("examples/demo-onecrm/start" in b.body for b in blocks):
        return
    missing = [p for p in ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump")
               if not (shutil.which(p) or shutil.which(p, path="/usr/sbin:/usr/libexec"))]
    if missing:
        server_unavailable("MariaDB (for the 1CRM demo)", f"missing {', '.join(missing)}")


def run_page(page: str, repo: Path, env: dict[str, str]) -> list[str]:
    problems = []
    blocks = [b for b in RUNNABLE if b.page == page]
    need_what_the_blocks_use(blocks)
    for block in blocks:
        ran = run_block(block, repo, env)
        found = problems_of(ran)
        if found:
            problems.extend(found + [f"--- output of {block.where} ---\n{ran.output[-4000:]}"])
            break  # later blocks of the page build on this one
    return problems


def journal_rows(repo: Path) -> tuple[list[dict[str, Any]], Journal]:
    journal = Journal(repo / ".cutover" / "runs.db")
    return list(reversed(journal.runs(50))), journal


# --- the shell blocks -------------------------------------------------------------------------------
def test_the_readme_demos_run_as_written(tmp_path: Path) -> None:
    readme = [b for b in RUNNABLE if b.page == "README.md"]
    assert any("playbooks/sagecrm/upgrade.yml" in b.body for b in readme), "the Sage CRM demo is not runnable"
    onecrm = [b for b in readme if "examples/demo-onecrm/start" in b.body]
    assert len(onecrm) == 1, "the README's 1CRM demo is one runnable block"
    with fresh_copy(tmp_path) as (repo, env):
        assert run_page("README.md", repo, env) == []
        runs, journal = journal_rows(repo)
        try:
            demo = [r for r in runs if r["estate"] == "onecrm-demo"]
            assert [(r["playbook"], r["status"]) for r in demo] == [
                ("playbooks/onecrm/upgrade.yml", "succeeded"),
                ("playbooks/onecrm/rollback.yml", "succeeded"),
            ]
            upgrade, rollback = demo
            assert rollback["parent_run"] == upgrade["id"]
            updated = {n["task"]: n for n in journal.nodes(upgrade["id"])}
            restored = {n["task"]: n for n in journal.nodes(rollback["id"])}
        finally:
            journal.close()
    verified = updated["Verify the live system"]["result"]
    assert (verified["files"], verified["database"], verified["status"]) == ("8.6.4", "8.6.4", 200)
    assert updated["Last night's database backup exists, is recent and sound"]["status"] == "ok"
    assert {updated[g]["status"] for g in ("All functions tested, custom PDFs included", "Keep the update")} == {
        "changed"
    }
    after = restored["Version of the live system after the rollback"]["result"]
    assert (after["files"], after["database"]) == ("8.6.3", "8.6.3")
    loss = restored["Data the rollback loses (rows changed since the database backup)"]["result"]
    assert loss["changed_tables"] == {"accounts": 2}  # the rows the update's database step touched
    assert not list((tmp_path / "tmp").glob("cutover-1crm-*")), "the README's stop left the demo folder"


@pytest.mark.parametrize("page", PAGES_THAT_RUN)
def test_the_runnable_blocks_of_each_page_run_as_written(page: str, tmp_path: Path) -> None:
    with fresh_copy(tmp_path) as (repo, env):
        assert run_page(page, repo, env) == []


def test_a_block_that_drifted_is_caught(tmp_path: Path) -> None:
    """The checker itself: a wrong exit status and a missing output are both reported."""
    page = tmp_path / "page.md"
    page.write_text('<!-- doc-test: exit=0 expect="^hello$" -->\n```sh test\necho goodbye; false\n```\n')
    (block,) = blocks_of(page, root=tmp_path)
    ran = run_block(block, tmp_path, block_environment(tmp_path / "tmp", REPO))
    assert problems_of(ran) == ["page.md:2: exit 1, the page expects 0", "page.md:2: no output matches '^hello$'"]


# --- the YAML snippets -------------------------------------------------------------------------------
def _kind(block: Block, data: Any) -> str:
    if isinstance(data, list):
        return "playbook"
    if isinstance(data, dict) and ("hosts" in data or "all" in data):
        return "inventory"
    if isinstance(data, dict) and data and set(data) <= set(load_schema("campaign")["properties"]):
        return "campaign"
    raise AssertionError(
        f"{block.where}: a ```yaml block must be an inventory (with hosts:), a playbook (a list of plays) or "
        "(part of) a campaign file; "
        "mark other YAML with another language or `<!-- doc-test: skip=... -->`"
    )


def _vault_values(node: Any) -> Iterator[EncryptedValue]:
    if isinstance(node, EncryptedValue):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _vault_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _vault_values(value)


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where for b in YAML_BLOCKS])
def test_every_yaml_snippet_loads_with_the_engines_loaders(block: Block, tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.yml"
    snippet.write_text(block.body, encoding="utf-8")
    if EXAMPLE_LIBRARY.is_dir():  # the modules the pages write as examples, next to the snippet
        shutil.copytree(EXAMPLE_LIBRARY, tmp_path / "library")
    data = load_file(snippet).value
    for value in _vault_values(data):
        try:
            value.validate()  # the real header and body, as `cutover vault encrypt-string` writes them
        except UserError as err:
            pytest.fail(f"{block.where}: {err}")
    kind = _kind(block, data)
    if kind == "campaign":  # its shape (the estates' files are the reader's own): a part needs no required key
        schema = dict(load_schema("campaign"))
        if "campaign" not in data:
            schema.pop("required", None)
        problems = schema_problems(data, schema, Location(str(snippet), 1, 1))
        assert not problems, f"{block.where}: {[p.render() for p in problems]}"
        return
    if kind == "inventory":
        result = run_cli(["inventory", "-i", str(snippet)], tmp_path)
        assert result.rc == 0, f"{block.where}: {result.err}"
        for host in load_inventory(snippet).hosts.values():  # what the connection checks when it is made
            try:
                CONNECTION_SETTINGS.get(host.connection, lambda h: None)(host)
            except UserError as err:
                pytest.fail(f"{block.where}: {err}")
        return
    validate = block.option("validate")
    if validate is not None:
        result = run_cli(["validate", str(snippet), *shlex.split(validate)], REPO)
        assert result.rc == 0, f"{block.where}: {result.err}"
        return
    try:
        load_playbook(snippet, ModuleRegistry([snippet.parent / "library"]))
    except UserError as err:
        pytest.fail(f"{block.where}: {err}")


def test_the_guides_mariadb_grants_are_the_ones_the_demo_proves() -> None:
    """docs/operator-guide.md lists the grants of cutover's 1CRM login; the demo runs with exactly those."""
    import importlib.util
    from importlib.machinery import SourceFileLoader

    path = str(REPO / "examples/demo-onecrm/start")
    spec = importlib.util.spec_from_loader("demo_onecrm_start", SourceFileLoader("demo_onecrm_start", path))
    start = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(start)
    guide = (REPO / "docs/operator-guide.md").read_text(encoding="utf-8")
    for grant in start.CUTOVER_GRANTS:
        assert grant.format(who="'cutover'@'localhost'") + ";" in guide
