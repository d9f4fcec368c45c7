"""Estate rules: checks a product section must pass when an inventory loads.

Products register a checker with `@estate_rule("sagecrm")`; `check_estate` runs the checkers of
the sections present and raises one UserError listing every broken rule at its file:line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from engine.core.errors import Problem, UserError
from engine.core.model import Inventory

Rule = Callable[[Inventory], list[Problem]]

#: section name -> module that registers its rules (imported only when the section is present)
RULE_MODULES = {"sagecrm": "modules.sagecrm.product.rules", "onecrm": "modules.onecrm.product.rules"}
_RULES: dict[str, list[Rule]] = {}


def estate_rule(section: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        _RULES.setdefault(section, []).append(rule)
        return rule

    return register


def check_estate(inventory: Inventory) -> None:
    problems: list[Problem] = []
    for section, module_name in RULE_MODULES.items():
        if getattr(inventory, section, None) is None:
            continue
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        for rule in _RULES.get(section, []):
            problems.extend(rule(inventory))
    if problems:
        raise UserError.many(problems)
