"""The product sections of a loaded inventory: each checked against its product's schema, then by its rules.

A product declares both in its plug-in (engine/api/plugins.py): `section_schema`, the JSON Schema
of its section, and `estate_rules`, functions `(Inventory) -> list[Problem]` that read the section
(`inventory.products[name]`) and the hosts and point at the file:line:col of each mistake (a
cluster with two database servers, a test estate on a live server). A section that does not
have the schema's shape is reported (each mistake prefixed with the section's name) and its
rules do not run: they may rely on the shape. Every problem of every section comes in one UserError.
"""

from __future__ import annotations

from engine.api.plugins import PLUGINS, Plugin
from engine.core.errors import Problem, UserError
from engine.core.model import Inventory
from engine.load.schema import validate


def check_products(inventory: Inventory) -> None:
    problems: list[Problem] = []
    for product in PLUGINS.products_of(inventory):
        shape = section_problems(product, inventory)
        if shape:
            problems.extend(shape)
            continue
        for rule in product.rules():
            problems.extend(rule(inventory))
    if problems:
        raise UserError.many(problems)


def section_problems(product: Plugin, inventory: Inventory) -> list[Problem]:
    """The section's mistakes against the product's schema, as `<product>: <mistake>` at its place."""
    section = inventory.products[product.name]
    where = getattr(section, "loc", None) or inventory.location
    return [
        Problem(f"{product.name}: {p.message}", p.location, p.hint)
        for p in validate(section, product.section_shape(), where)
    ]
