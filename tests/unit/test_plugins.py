"""The one plug-in register: built-in groups and products found the same way, a third product as a
package of its own, and nothing of a product imported by a run that does not use it.

Each scenario runs `python -m engine` as its own process, so the entry-point scan, the imports and
the exit codes are those an operator gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.api.plugins import PLUGINS, Plugin, PluginRegister
from engine.api.registry import ModuleRegistry
from engine.core.errors import UserError
from tests.support.runs import REPO, write_yaml

THIRD = {
    "thirdcrm/__init__.py": '''
        """A third product, packaged on its own: its declaration only."""
        from engine.api.plugins import Plugin

        PLUGIN = Plugin(
            "thirdcrm",
            modules=(__name__,),
            section_description="Third CRM estate section.",
            section_schema={
                "type": "object",
                "additionalProperties": False,
                "required": ["database"],
                "properties": {"database": {"type": "string"}},
            },
            estate_rules=("thirdcrm.rules:never_live",),
            policies=("thirdcrm.rules:say_planned",),
            variables=("thirdcrm_db",),
            variables_from="thirdcrm.rules:variables",
        )
    ''',
    "thirdcrm/rules.py": '''
        from engine.core.errors import Problem


        def never_live(inventory):
            section = inventory.products["thirdcrm"]
            if section["database"] == "live":
                return [Problem("thirdcrm: never the live database", section.value_loc("database"))]
            return []


        def say_planned(plan, ctx):
            ctx.notes.append(f"thirdcrm: {len(plan.steps())} steps planned")
            return []


        def variables(inventory):
            return {"thirdcrm_db": inventory.products["thirdcrm"]["database"].upper()}
    ''',
    "thirdcrm/thirdcrm_ping.py": '''
        from engine.api.module import Module, Result


        class Ping(Module):
            platforms = frozenset({"controller"})
            schema = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}

            def run(self, ctx, args):
                return Result(msg=f"pong {args['word']}", output={"pong": args["word"]})
    ''',
    "thirdcrm-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: thirdcrm\nVersion: 0.1\n",
    "thirdcrm-0.1.dist-info/entry_points.txt": "[cutover.plugins]\nthirdcrm = thirdcrm:PLUGIN\n",
}

PLAYBOOK = """
- hosts: all
  tasks:
    - name: the section and the product's own variable
      debug: {msg: "{{ thirdcrm.database }} {{ thirdcrm_db }}"}
    - name: the product's module
      thirdcrm_ping: {word: hello}
"""


def engine(args: list[str], cwd: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    """`python -m engine ARGS` with the repository (and `paths`) importable."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in (REPO, *paths)), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=120)


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return folder


@pytest.fixture
def third(tmp_path: Path) -> Path:
    """A site folder holding the third product as an installed distribution."""
    return write(tmp_path / "site", THIRD)


def estate(tmp_path: Path, database: str = "test") -> Path:
    write_yaml(tmp_path / "inventory.yml", {
        "estate": "third", "hosts": {"app1": {"connection": "local"}}, "thirdcrm": {"database": database},
    })
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    return tmp_path


def test_a_third_product_adds_its_section_rules_policies_variables_and_modules(tmp_path, third):
    work = estate(tmp_path)
    checked = engine(["validate", "site.yml", "-i", "inventory.yml"], work, third)
    assert checked.returncode == 0, checked.stderr
    assert "note: thirdcrm: 2 steps planned" in checked.stdout

    ran = engine(["run", "site.yml", "-i", "inventory.yml", "--output", "jsonl", "--no-report"], work, third)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    ended = {e["task"]: e for e in map(json.loads, ran.stdout.splitlines()) if e["event"] == "node_ended"}
    assert ended["the section and the product's own variable"]["msg"] == "test TEST"
    assert ended["the product's module"]["msg"] == "pong hello"


def test_a_third_products_estate_rule_points_at_the_inventory(tmp_path, third):
    work = estate(tmp_path, database="live")
    result = engine(["validate", "site.yml", "-i", "inventory.yml"], work, third)
    assert result.returncode == 2
    assert "inventory.yml:6:13: thirdcrm: never the live database" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_third_products_section_is_in_the_published_inventory_schema(tmp_path, third):
    result = engine(["schema", "--name", "inventory"], tmp_path, third)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["properties"]["thirdcrm"] == {"type": "object", "description": "Third CRM estate section."}
    assert list(schema["properties"])[-3:] == ["sagecrm", "onecrm", "thirdcrm"]
    assert schema["description"].endswith("the product section (sagecrm or onecrm or thirdcrm).")


def test_the_engine_checks_a_third_products_section_before_its_rules(tmp_path, third):
    work = estate(tmp_path, database="live")
    doc = (work / "inventory.yml").read_text().replace("database: live", "databse: live")
    (work / "inventory.yml").write_text(doc)
    result = engine(["validate", "site.yml", "-i", "inventory.yml"], work, third)
    assert result.returncode == 2
    assert "inventory.yml:6:3: thirdcrm: unknown key 'databse'" in result.stderr
    assert "missing" in result.stderr and "database" in result.stderr
    assert "never the live database" not in result.stderr  # the rules wait for a section of the right shape


def test_without_the_product_its_section_is_an_unknown_key(tmp_path):
    work = estate(tmp_path)
    result = engine(["validate", "site.yml", "-i", "inventory.yml"], work)
    assert result.returncode == 2
    assert "unknown key 'thirdcrm'" in result.stderr


def test_a_plugin_that_does_not_load_is_a_clear_error(tmp_path):
    site = write(tmp_path / "site", {
        "brokencrm/__init__.py": "raise RuntimeError('half installed')\n",
        "brokencrm-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: brokencrm\nVersion: 0.1\n",
        "brokencrm-0.1.dist-info/entry_points.txt": "[cutover.plugins]\nbrokencrm = brokencrm:PLUGIN\n",
    })
    work = estate(tmp_path / "work")
    result = engine(["validate", "site.yml", "-i", "inventory.yml"], work, site)
    assert result.returncode == 2
    assert "cutover plug-in 'brokencrm' (brokencrm:PLUGIN) failed to load: RuntimeError: half installed" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


LOADED = """
import sys
from engine.pipeline import Sources, plan
plan(Sources(sys.argv[1], sys.argv[2]))
print(" ".join(sorted(m for m in sys.modules if m.startswith("modules."))))
"""


def test_a_run_imports_only_the_products_and_modules_it_uses(tmp_path):
    """A generic estate imports no product code; a Sage CRM estate imports Sage CRM's rules, not 1CRM's."""
    write_yaml(tmp_path / "plain.yml", {"estate": "plain", "hosts": {"h1": {"connection": "local"}}})
    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks:\n    - command: echo hi\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    plain = subprocess.run([sys.executable, "-c", LOADED, "site.yml", "plain.yml"], cwd=tmp_path, env=env,
                           text=True, capture_output=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    imported = set(plain.stdout.split())
    assert "modules.flow.command" in imported
    assert not {m for m in imported if m.startswith(("modules.sagecrm.", "modules.onecrm.", "modules.windows."))}

    crm = subprocess.run(
        [sys.executable, "-c", LOADED, str(REPO / "playbooks/sagecrm/upgrade.yml"),
         str(REPO / "examples/demo/inventory.yml")],
        cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120,
    )
    assert crm.returncode == 0, crm.stderr
    imported = set(crm.stdout.split())
    assert {"modules.sagecrm.product.rules", "modules.sagecrm.product.policies"} <= imported
    assert not {m for m in imported if m.startswith("modules.onecrm.")}


def test_the_built_in_groups_and_products_are_plugins_in_declaration_order():
    assert PLUGINS.names()[:7] == ["flow", "files", "windows", "db", "web", "sagecrm", "onecrm"]
    assert [p.name for p in PLUGINS.products()][:2] == ["sagecrm", "onecrm"]
    assert PLUGINS.get("windows").modules == ("modules.windows",) and not PLUGINS.get("windows").is_product


def test_two_plugins_may_not_define_the_same_module():
    register = PluginRegister(group="cutover.none")
    register.register(Plugin("one", modules=("modules.flow",)))
    register.register(Plugin("two", modules=("modules.flow",)))
    with pytest.raises(UserError, match="module 'assert' is defined twice: by plug-in 'one'"):
        ModuleRegistry(plugins=register).names()


def test_a_plugin_registered_in_code_is_used_and_can_be_removed():
    register = PluginRegister(group="cutover.none")
    assert register.names() == []
    register.register(Plugin("flow", modules=("modules.flow",)))
    assert "debug" in ModuleRegistry(plugins=register).names()
    register.deregister("flow")
    assert ModuleRegistry(plugins=register).names() == []


METADATA_PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['cutover', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('engine', run_name='__main__')\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    "print('METADATA=' + str('importlib.metadata' in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _probed(args: list[str], cwd: Path, *paths: Path) -> tuple[int, bool, str]:
    """(exit code, whether `importlib.metadata` was imported, stderr) of one real command."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in (REPO, *paths)), NO_COLOR="1")
    done = subprocess.run([sys.executable, "-c", METADATA_PROBE, *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=120)  # fmt: skip
    flag = [line for line in done.stderr.splitlines() if line.startswith("METADATA=")]
    assert flag, done.stderr
    return done.returncode, flag[-1] == "METADATA=True", done.stderr


def test_a_warm_run_takes_the_plugins_from_the_state_directory_without_importlib_metadata(tmp_path):
    """The entry-point scan is kept in the state directory (engine/api/plugins.py): the second run of
    an unchanged installation reads it back and never imports `importlib.metadata`."""
    write_yaml(tmp_path / "inventory.yml", {"estate": "plain", "hosts": {"h1": {"connection": "local"}}})
    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks:\n    - command: echo hi\n")
    run = ["run", "site.yml", "-i", "inventory.yml", "--no-report", "--output", "jsonl"]
    code, scanned, err = _probed(run, tmp_path)
    assert code == 0, err
    assert scanned  # the first run scans the metadata
    kept = json.loads((tmp_path / ".cutover" / "plugins.json").read_text())
    assert [name for name, _ in kept["groups"]["cutover.plugins"]] == PluginRegister().names()
    code, scanned, err = _probed(run, tmp_path)
    assert code == 0, err
    assert not scanned


def test_a_plugin_installed_after_the_scan_was_kept_is_found(tmp_path, third):
    """Installing a distribution (a new `*.dist-info` on the path) changes what the kept scan was
    read from: the next command scans again and knows the new product's section."""
    site = tmp_path / "later"
    site.mkdir()
    work = estate(tmp_path / "work")
    plain = work / "plain.yml"
    write_yaml(plain, {"estate": "plain", "hosts": {"h1": {"connection": "local"}}})
    run = ["run", "site.yml", "-i", "plain.yml", "--no-report", "--output", "jsonl"]
    (work / "site.yml").write_text("- hosts: all\n  tasks:\n    - command: echo hi\n")
    assert _probed(run, work, site)[0] == 0
    assert _probed(run, work, site)[1] is False  # kept: not scanned
    refused = _probed(["validate", "site.yml", "-i", "inventory.yml"], work, site)
    assert refused[0] == 2 and "unknown key 'thirdcrm'" in refused[2]
    write(site, THIRD)  # `pip install thirdcrm` into a folder already on the path
    (work / "site.yml").write_text(PLAYBOOK)
    code, scanned, err = _probed(["validate", "site.yml", "-i", "inventory.yml"], work, site)
    assert code == 0, err
    assert scanned
