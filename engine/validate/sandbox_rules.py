"""What the template sandbox will refuse at run time, found from the template's text alone.

Jinja2's `ImmutableSandboxedEnvironment` (engine/load/templating.py) refuses, when the template
renders, any attribute or key starting with `_` (`x.__class__`, `x['__dict__']`,
`x|attr('__globals__')`: `is_safe_attribute`) and any call of a method that changes a list, dict
or set (`items.append(1)`: `modifies_known_mutable`). Those are mistakes or attacks that `cutover
validate` can name before any host is touched, at the value's own file:line:col.
"""

from __future__ import annotations

from functools import cache

from engine.load.templating import environment, is_template, shown

#: the methods ImmutableSandboxedEnvironment refuses (jinja2.sandbox._mutable_spec), as called on a value
MUTATING = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "reverse", "sort",
    "update", "setdefault", "popitem", "add", "discard", "difference_update",
    "intersection_update", "symmetric_difference_update",
})  # fmt: skip


@cache
def sandbox_refusal(source: str) -> str | None:
    """Why the sandbox will refuse this template when it renders, or None (also for a syntax error)."""
    from jinja2 import TemplateSyntaxError, nodes

    if not is_template(source):
        return None
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError:
        return None  # the syntax check reports it
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Call)):
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) and isinstance(first.value, str) else None
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr in MUTATING
        ):
            return (
                f"the template sandbox will refuse {shown(source)}: `.{node.node.attr}()` would change a "
                "value, and values are read-only in templates (build a new one: `x + [y]`, `x | combine(y)`)"
            )
        if name is not None and name.startswith("_"):
            return (
                f"the template sandbox will refuse {shown(source)}: {name!r} starts with '_' (Python "
                "internals are out of reach of templates)"
            )
    return None
