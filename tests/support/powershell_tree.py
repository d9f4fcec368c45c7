"""Reading PowerShell with tree-sitter-powershell: parse, walk, and the commands a script calls.

Test support, not product. No PowerShell runs here, so the tests that hold the helper to
Windows PowerShell 5.1 read its syntax tree (packages `tree-sitter`, `tree-sitter-powershell`).
The grammar knows PowerShell up to about 7.0: `&&`/`||` parse as pipeline chains, while `??`,
`?.`, the ternary operator and `clean` blocks come out as ERROR nodes (see
tests/unit/test_powershell_compat.py, which recognises them there).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_powershell.language()))


def parse(source: str) -> Node:
    """The root node of `source`."""
    return _parser().parse(source.encode("utf-8")).root_node


def walk(node: Node) -> Iterator[Node]:
    """`node` and every node below it, in source order."""
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node) -> str:
    return node.text.decode("utf-8")


def line(node: Node) -> int:
    """1-based line where `node` starts."""
    return node.start_point[0] + 1


def parse_errors(root: Node) -> list[Node]:
    """ERROR and MISSING nodes: what the grammar could not read."""
    return [node for node in walk(root) if node.type == "ERROR" or node.is_missing]


def code_outside_strings(node: Node) -> bool:
    """Whether `node` is code, not inside a string literal or a comment."""
    parent: Node | None = node
    while parent is not None:
        if parent.type in ("string_literal", "comment"):
            return False
        parent = parent.parent
    return True


@dataclass
class Command:
    """One command invocation: its name, named parameters (splatted keys included) and arguments."""

    node: Node
    name: str
    #: Parameter names as written, without the dash, lower case ('-Depth:3' -> 'depth').
    parameters: list[str] = field(default_factory=list)
    #: Argument nodes not bound to a named parameter, in order (splats excluded).
    positional: list[Node] = field(default_factory=list)


def commands(root: Node, switches: frozenset[str] = frozenset()) -> Iterator[Command]:
    """Every command below `root`; a named parameter not in `switches` takes the next argument.

    Keys of a hashtable splatted into the command (`Invoke-WebRequest @params`) count as named
    parameters when the hashtable is built in the same function: `$params = @{ Key = ... }`,
    `$params['Key'] = ...` or `$params.Key = ...`.
    """
    for node in walk(root):
        if node.type != "command":
            continue
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        if name_node is None:
            continue
        command = Command(node, text(name_node))
        elements = next((c for c in node.children if c.type == "command_elements"), None)
        pending: str | None = None  # a named parameter waiting for its value
        separated = True  # False right after an element: `$rel.Replace('/')` is ONE argument
        for element in elements.children if elements is not None else []:
            if element.type == "command_argument_sep":
                attached = text(element).strip() == ":"  # -Name:value
                separated = not attached
                if attached:
                    pending = None
                continue
            if not separated:
                continue
            separated = False
            if element.type == "command_parameter":
                name = text(element).lstrip("-").split(":", 1)[0].lower()
                command.parameters.append(name)
                pending = None if name in switches else name
                continue
            splat = _splatted_variable(element)
            if splat is not None:
                command.parameters.extend(_splat_keys(node, splat))
                continue
            if pending is not None:
                pending = None
                continue
            command.positional.append(element)
        yield command


def _single(node: Node) -> Node:
    """The innermost node of a chain of one-child wrappers (the grammar's expression levels)."""
    while node.child_count == 1 and node.type != "variable":
        node = node.children[0]
    return node


def _unquoted(node: Node) -> str:
    return text(node).strip().strip("'\"").lower()


def _splatted_variable(element: Node) -> str | None:
    variable = _single(element)
    if variable.type == "variable" and text(variable).startswith("@"):
        return "$" + text(variable)[1:].lower()
    return None


def _splat_keys(command: Node, variable: str) -> list[str]:
    """Keys given to `variable` in the function (or script) around `command`."""
    scope = command
    while scope.parent is not None and scope.type != "function_statement":
        scope = scope.parent
    keys: list[str] = []
    for node in walk(scope):
        if node.type != "assignment_expression":
            continue
        target = _single(node.children[0])
        if target.type == "variable" and text(target).lower() == variable:
            literal = _single(node.children[-1])
            body = next((c for c in literal.children if c.type == "hash_literal_body"), None)
            for entry in body.children if body is not None else []:
                key = next((c for c in entry.children if c.type == "key_expression"), None)
                if key is not None:
                    keys.append(_unquoted(key))
        elif (
            target.type in ("element_access", "member_access")
            and text(target.children[0]).lower() == variable
        ):
            if target.type == "element_access":
                keys.append(_unquoted(target.children[2]))
            else:
                member = next((c for c in target.children if c.type == "member_name"), None)
                keys.append(_unquoted(member) if member is not None else "")
    return keys


@dataclass
class MethodCall:
    """`[Type]::Method(...)` (static, `type_name` set) or `$x.Method(...)` (instance)."""

    node: Node
    method: str
    type_name: str | None
    arguments: list[Node]


def method_calls(root: Node) -> Iterator[MethodCall]:
    for node in walk(root):
        if node.type != "invokation_expression":
            continue
        member = next((c for c in node.children if c.type == "member_name"), None)
        arguments = next((c for c in node.children if c.type == "argument_list"), None)
        if member is None or arguments is None:
            continue
        static = any(c.type == "::" for c in node.children)
        type_name = None
        if static and node.children[0].type == "type_literal":
            spec = next((c for c in node.children[0].children if c.type == "type_spec"), None)
            type_name = text(spec) if spec is not None else None
        listed = next((c for c in arguments.children if c.type == "argument_expression_list"), None)
        values = [c for c in listed.children if c.type == "argument_expression"] if listed is not None else []
        yield MethodCall(node, text(member), type_name, values)


def cast_type(node: Node) -> str | None:
    """The type of `[type]value` when `node` is (or wraps only) that cast, else None."""
    current = _single(node)
    if current.type != "cast_expression":
        return None
    literal = current.children[0]
    spec = next((c for c in literal.children if c.type == "type_spec"), None)
    return text(spec).lower() if spec is not None else None


@lru_cache(maxsize=1)
def script_functions() -> dict[str, Node]:
    """Every function of the assembled primitives script by name, parsed once per test process
    (the tests that hold one function to Windows semantics look it up here)."""
    from engine.connect.remote import powershell

    found: dict[str, Node] = {}
    for node in walk(parse(powershell.script())):
        if node.type == "function_statement":
            name = next(c for c in node.children if c.type == "function_name")
            found[text(name)] = node
    return found
