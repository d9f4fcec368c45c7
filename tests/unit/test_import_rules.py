"""The import rules of pyproject.toml hold on the tree, and the same contracts catch a break.

Why: the directions (issue 14: engine stages import only the stages below them, modules reach the
engine only through its API, the engine knows no product and no simulation) are what lets one
stage, one product or the simulation be read and changed on its own. `lint-imports` checks them;
the first test runs it on the tree and fails with its report. The others build a small package
tree in a temporary directory, shaped like ours, give it the very contracts of pyproject.toml
and plant one forbidden import: each must be caught, so a contract that silently checks nothing
(a renamed package, a wrong option) fails here too.

Import-linter only sees `import` statements. A module path written as a string for importlib
escapes it, so one more test reads the engine's string constants for product and simulation
module paths.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
#: the toy tree's root packages, one per root of ours
TOY_ROOTS = {"engine": "toy_engine", "modules": "toy_modules", "simulation": "toy_simulation"}
#: the file holding each planted import, inside the importing package
PLANTED = "breaks_the_rule"


def project_config() -> dict[str, Any]:
    """The `[tool.importlinter]` table of pyproject.toml."""
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]


def lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports --config CONFIG --no-cache` with `cwd` as the only import root."""
    env = dict(os.environ, PYTHONPATH=str(cwd), COLUMNS="250", NO_COLOR="1", TERM="dumb")
    command = (
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    )
    return subprocess.run(
        [sys.executable, "-c", command, "--config", str(config), "--no-cache"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def summary(contracts: int, broken: int) -> str:
    return f"Contracts: {contracts - broken} kept, {broken} broken."


def test_the_tree_keeps_every_import_contract() -> None:
    contracts = project_config()["contracts"]
    result = lint_imports(REPO / "pyproject.toml", REPO)
    assert result.returncode == 0, (
        f"import rules broken (pyproject.toml [tool.importlinter]):\n{result.stdout}{result.stderr}"
    )
    assert summary(len(contracts), 0) in result.stdout
    for contract in contracts:
        assert re.search(rf"^{re.escape(contract['name'])} KEPT", result.stdout, flags=re.M), contract["name"]


# --- the same contracts on a toy tree ---------------------------------------------------------------


def toy(name: str) -> str:
    """A module name of ours as it is called in the toy tree."""
    root, _, rest = name.partition(".")
    return TOY_ROOTS.get(root, root) + ("." + rest if rest else "")


def toy_contracts() -> list[dict[str, Any]]:
    """The project's contracts with every module renamed into the toy tree, and no exceptions.

    `ignore_imports` go: they name today's offenders, which the toy tree does not have (and an
    entry that matches nothing is an error of its own).
    """
    contracts = copy.deepcopy(project_config()["contracts"])
    for contract in contracts:
        contract.pop("ignore_imports", None)
        for key in ("containers", "source_modules", "forbidden_modules", "modules"):
            if key in contract:
                contract[key] = [toy(m) for m in contract[key]]
    return contracts


def layer_names(layer: str) -> list[str]:
    """The module tails of one layer entry (`a`, `a | b`, `a : b`, `(optional)`)."""
    return [part.strip(" ()") for part in re.split(r"[|:]", layer)]


def toy_packages(contracts: list[dict[str, Any]]) -> set[str]:
    """Every package the contracts name, as a toy package, with its parents."""
    names: set[str] = set(TOY_ROOTS.values())
    for contract in contracts:
        for container in contract.get("containers", []):
            names |= {f"{container}.{tail}" for layer in contract["layers"] for tail in layer_names(layer)}
            names |= {f"{container}.{tail}" for tail in contract.get("exhaustive_ignores", [])}
        for key in ("source_modules", "forbidden_modules", "modules"):
            names |= set(contract.get(key, []))
    return {".".join(name.split(".")[: i + 1]) for name in names for i in range(name.count(".") + 1)}


def write_toml_value(value: Any) -> str:
    """A TOML value for a string, a boolean or a list of strings (JSON spells them the same way)."""
    return json.dumps(value)


def write_toy_tree(root: Path, planted: tuple[str, str] | None, extra_packages: tuple[str, ...] = ()) -> Path:
    """The toy packages under `root`, one planted `import`, and the config; returns the config."""
    contracts = toy_contracts()
    for package in sorted(toy_packages(contracts) | set(extra_packages)):
        directory = root.joinpath(*package.split("."))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "__init__.py").write_text('"""A package of the toy tree."""\n')
    if planted is not None:
        importer, imported = planted
        (root.joinpath(*importer.split(".")) / f"{PLANTED}.py").write_text(f"import {imported}\n")
    lines = ["[tool.importlinter]", f"root_packages = {write_toml_value(sorted(TOY_ROOTS.values()))}"]
    for contract in contracts:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {write_toml_value(value)}" for key, value in contract.items()]
    config = root / "pyproject.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def contract_named(contract_id: str) -> dict[str, Any]:
    return next(c for c in project_config()["contracts"] if c["id"] == contract_id)


def test_the_toy_tree_without_a_planted_import_keeps_every_contract(tmp_path: Path) -> None:
    """The control: whatever the next tests see broken, the planted import broke it."""
    result = lint_imports(write_toy_tree(tmp_path, planted=None), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(len(project_config()["contracts"]), 0) in result.stdout


@pytest.mark.parametrize(
    ("contract_id", "importer", "imported"),
    [
        ("engine-layers", "engine.core", "engine.cli"),
        ("engine-layers", "engine.connect", "engine.api"),
        ("engine-layers", "engine.report", "engine.execute"),
        ("engine-layers", "engine.load", "engine.validate"),
        ("engine-knows-no-product", "engine.plan", "modules.sagecrm"),
        ("engine-knows-no-product", "engine.connect", "simulation"),
        ("modules-use-the-module-api", "modules.files", "engine.execute"),
        ("modules-use-the-module-api", "modules.db", "engine.connect"),
        ("modules-use-the-module-api", "modules.windows", "simulation"),
        ("products-independent", "modules.onecrm", "modules.sagecrm"),
        ("generic-modules-know-no-product", "modules.web", "modules.onecrm"),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, contract_id: str, importer: str, imported: str
) -> None:
    config = write_toy_tree(tmp_path, planted=(toy(importer), toy(imported)))
    result = lint_imports(config, tmp_path)
    name = contract_named(contract_id)["name"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"^{re.escape(name)} BROKEN", result.stdout, flags=re.M), result.stdout
    assert summary(len(project_config()["contracts"]), 1) in result.stdout, "one import breaks one contract"
    assert f"{toy(importer)}.{PLANTED} -> {toy(imported)}" in result.stdout


def test_a_stage_left_out_of_the_order_breaks_the_layers(tmp_path: Path) -> None:
    """`exhaustive`: a new folder under engine/ must be given its place among the stages."""
    config = write_toy_tree(tmp_path, planted=None, extra_packages=(toy("engine.newstage"),))
    result = lint_imports(config, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(
        rf"^{re.escape(contract_named('engine-layers')['name'])} BROKEN", result.stdout, flags=re.M
    )
    assert toy("engine.newstage") in result.stdout


# --- what import-linter cannot see ----------------------------------------------------------------

#: Product module paths the engine spells out for importlib: none since products register
#: themselves (engine/api/plugins.py); a new one breaks the test below.
KNOWN_PRODUCT_STRINGS: set[tuple[str, str]] = set()
PRODUCT_OR_SIMULATION = re.compile(r"^(modules\.(sagecrm|onecrm)|simulation)(\.\w+)*$")


def test_the_engine_spells_no_product_or_simulation_module_path() -> None:
    found = set()
    for path in sorted((REPO / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and PRODUCT_OR_SIMULATION.match(node.value)
            ):
                found.add((path.relative_to(REPO).as_posix(), node.value))
    new, gone = found - KNOWN_PRODUCT_STRINGS, KNOWN_PRODUCT_STRINGS - found
    assert not new, f"the engine names a product or the simulation for importlib: {sorted(new)}"
    assert not gone, f"gone from the engine, delete from KNOWN_PRODUCT_STRINGS: {sorted(gone)}"
