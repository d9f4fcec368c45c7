"""Estate rules: checks a product section must pass when an inventory loads.

A product declares its rules in its plug-in (`Plugin.estate_rules`, engine/api/plugins.py): each
is a function `(Inventory) -> list[Problem]` that reads the product's section
(`inventory.products[name]`) and the hosts, and points at the file:line:col of each mistake.
`check_estate` runs the rules of every product whose section the inventory has (importing them
only then) and raises one UserError listing every broken rule.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.api.plugins import PLUGINS
from engine.core.errors import Problem, UserError
from engine.core.model import Inventory

Rule = Callable[[Inventory], list[Problem]]


def check_estate(inventory: Inventory) -> None:
    problems: list[Problem] = []
    for product in PLUGINS.products_of(inventory):
        for rule in product.rules():
            problems.extend(rule(inventory))
    if problems:
        raise UserError.many(problems)
