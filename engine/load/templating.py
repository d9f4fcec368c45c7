"""Templates: Jinja2's SandboxedEnvironment with StrictUndefined.

Variables are resolved lazily: a variable whose value is itself a template is rendered when it
is used (with a guard against self-reference), as operators expect from Ansible. A string that
is exactly one expression (`"{{ ports }}"`) renders to the native value (a list stays a list).
Vault values are decrypted only when a template reads them, and only in memory.
Compiled templates are cached by source text, so thousands of nodes pay for compiling once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any

from engine.core.errors import Location, UserError
from engine.load import template_limits
from engine.load.template_filters import FILTERS, TESTS
from engine.load.template_limits import COMPUTE_ERRORS, TemplateLimit, compute_reason, joined_within_limit

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def has_templates(value: Any) -> bool:
    """True when any string inside `value` is a template (decides whether rendering is needed)."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(has_templates(k) or has_templates(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_templates(v) for v in value)
    return False


@cache
def environment() -> Any:
    """The one sandboxed environment: no attribute access to internals, no imports, no file reads."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class LimitedEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = template_limits.INTERCEPTED

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return template_limits.guarded_binop(operator, left, right)

    env = LimitedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, cache_size=0
    )
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    env.loader = None  # `{% include %}` / `{% import %}` have nothing to read from
    return env


_compiled: dict[str, Any] = {}
_compiled_expr: dict[str, Any] = {}
_compile_lock = threading.Lock()


def _template(source: str) -> Any:
    tpl = _compiled.get(source)
    if tpl is None:
        with _compile_lock:
            tpl = _compiled.get(source) or environment().from_string(source)
            _compiled[source] = tpl
    return tpl


def _expression(source: str) -> Any:
    expr = _compiled_expr.get(source)
    if expr is None:
        with _compile_lock:
            expr = _compiled_expr.get(source) or environment().compile_expression(
                source, undefined_to_none=False
            )
            _compiled_expr[source] = expr
    return expr


class Scope(Mapping[str, Any]):
    """Variables looked up through layers (highest precedence first), rendered on first use."""

    def __init__(self, layers: list[Mapping[str, Any]], decrypt: Callable[[Any], str] | None = None):
        self.layers = layers
        self.decrypt = decrypt
        self._resolving: set[str] = set()
        self._done: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _raw(self, key: str) -> Any:
        for layer in self.layers:
            if key in layer:
                return layer[key]
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        if key in self._done:
            return self._done[key]
        raw = self._raw(key)
        value = self._resolve(key, raw)
        self._done[key] = value
        return value

    def _resolve(self, key: str, raw: Any) -> Any:
        from engine.load.vault.keyring import EncryptedValue

        if isinstance(raw, EncryptedValue):
            if self.decrypt is None:
                raise UserError(
                    f"variable {key!r} is vault-encrypted and no vault password was given",
                    raw.location,
                    hint="pass --vault-id or set CUTOVER_VAULT_PASSWORD_FILE",
                )
            return self.decrypt(raw)
        if not has_templates(raw) and not _contains_encrypted(raw):
            return raw
        with self._lock:
            if key in self._resolving:
                raise UserError(
                    f"variable {key!r} refers to itself", hint="a variable cannot be defined from itself"
                )
            self._resolving.add(key)
            try:
                return Templar(self).render(raw)
            finally:
                self._resolving.discard(key)

    def __contains__(self, key: object) -> bool:
        return any(key in layer for layer in self.layers)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for layer in self.layers:
            for key in layer:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def child(self, top: Mapping[str, Any]) -> Scope:
        """A scope with `top` above these layers (a loop item, task vars)."""
        return Scope([top, *self.layers], self.decrypt)


def _contains_encrypted(value: Any) -> bool:
    from engine.load.vault.keyring import EncryptedValue

    if isinstance(value, EncryptedValue):
        return True
    if isinstance(value, dict):
        return any(_contains_encrypted(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_encrypted(v) for v in value)
    return False


class _ScopeWithGlobals(Mapping[str, Any]):
    """Jinja's shared context reads only its parent mapping: add the environment's globals."""

    __slots__ = ("scope", "globals")

    def __init__(self, scope: Mapping[str, Any], env_globals: Mapping[str, Any]):
        self.scope = scope
        self.globals = env_globals

    def __getitem__(self, key: str) -> Any:
        try:
            return self.scope[key]
        except KeyError:
            return self.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.scope or key in self.globals

    def __iter__(self) -> Iterator[str]:
        yield from self.scope
        yield from self.globals

    def __len__(self) -> int:
        return len(self.scope) + len(self.globals)


class Templar:
    """Renders values and evaluates expressions against one scope of variables."""

    def __init__(self, scope: Mapping[str, Any], location: Location | None = None):
        self.scope = scope
        self.location = location

    def _context_vars(self) -> Mapping[str, Any]:
        return _ScopeWithGlobals(self.scope, environment().globals)

    def render(self, value: Any, location: Location | None = None) -> Any:
        """Render every template inside `value` (recursively); other values pass unchanged."""
        from engine.load.vault.keyring import EncryptedValue

        if isinstance(value, str):
            if not is_template(value):
                return value
            return self._render_string(value, location)
        if isinstance(value, EncryptedValue):
            decrypt = getattr(self.scope, "decrypt", None)
            if decrypt is None:
                raise UserError("a vault value needs a vault password", value.location)
            return decrypt(value)
        if isinstance(value, dict):
            return {self.render(k, location): self.render(v, location) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.render(v, location) for v in value]
        return value

    def _render_string(self, source: str, location: Location | None) -> Any:
        from jinja2 import TemplateError

        single = _SINGLE_EXPR.match(source)
        try:
            with template_limits.watch():
                if single:
                    return self._evaluate(single.group("expr"))
                tpl = _template(source)
                ctx = tpl.new_context(self._context_vars(), shared=True)
                return joined_within_limit(tpl.root_render_func(ctx))
        except UserError:
            raise
        except TemplateLimit as stop:
            raise UserError(
                f"template {shown(source)} refused: {stop.reason}", location or self.location
            ) from None
        except TemplateError as err:
            raise self._error(err, source, location) from None
        except COMPUTE_ERRORS as err:
            raise UserError(
                f"template {shown(source)} failed: {compute_reason(err)}", location or self.location
            ) from None

    def _evaluate(self, expression: str) -> Any:
        from jinja2 import Undefined

        expr = _expression(expression.strip())
        tpl = expr._template
        ctx = tpl.new_context(self._context_vars(), shared=True)
        for _ in tpl.root_render_func(ctx):
            pass
        value = ctx.vars["result"]
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        if isinstance(value, str):
            template_limits.check_output_size(len(value), "the value")
        return value

    def evaluate(self, expression: Any, location: Location | None = None) -> Any:
        """Evaluate a bare expression (`when:`, `until:`, `that:`); booleans pass through."""
        from jinja2 import TemplateError

        if isinstance(expression, bool) or expression is None:
            return expression
        if isinstance(expression, list):
            return all(self.evaluate(e, location) for e in expression)
        text = str(expression).strip()
        single = _SINGLE_EXPR.match(text)
        if single:  # `when: "{{ x }}"` is tolerated
            text = single.group("expr")
        try:
            with template_limits.watch():
                return self._evaluate(text)
        except UserError:
            raise
        except TemplateLimit as stop:
            raise UserError(
                f"expression {shown(text)} refused: {stop.reason}", location or self.location
            ) from None
        except TemplateError as err:
            raise self._error(err, text, location) from None
        except COMPUTE_ERRORS as err:
            raise UserError(
                f"expression {shown(text)} failed: {compute_reason(err)}", location or self.location
            ) from None

    def _error(self, err: Exception, source: str, location: Location | None) -> UserError:
        from jinja2 import TemplateSyntaxError, UndefinedError
        from jinja2.exceptions import SecurityError

        where = location or self.location
        if isinstance(err, UndefinedError):
            text = str(err)
            if "has no attribute" in text:  # the variable exists, the key or attribute does not
                return UserError(
                    f"{text} in {shown(source)}",
                    where,
                    hint="check the key's name, or guard it: `x.key | default(...)`, `x.key is defined`",
                )
            name = _undefined_name(text)
            return UserError(
                f"undefined variable {name!r} in {shown(source)}" if name else f"undefined: {err}",
                where,
                hint="define it in the inventory, the play's vars, or with -e; or use `| default(...)`",
            )
        if isinstance(err, TemplateSyntaxError):
            return UserError(f"template syntax error in {shown(source)}: {err.message}", where)
        if isinstance(err, SecurityError):
            return UserError(f"template refused by the sandbox: {err}", where)
        return UserError(f"template {shown(source)} failed: {err}", where)


#: a value longer than this is shown by its start and its length
SHOWN_CHARS = 80


def shown(value: Any) -> str:
    """A value for a message: quoted, and cut to its start and its length when it is long."""
    text = str(value).strip()
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[: SHOWN_CHARS - 20]!r}... ({len(text):,} characters)"



def _undefined_name(message: str) -> str | None:
    found = re.search(r"'([^']+)' is undefined", message)
    return found.group(1) if found else None


def syntax_error(value: Any) -> str | None:
    """The first Jinja2 syntax error in the templates inside `value`, or None (checked without rendering)."""
    if isinstance(value, str):
        return _syntax_message(value, value) if is_template(value) else None
    if isinstance(value, dict):
        items: list[Any] = [x for kv in value.items() for x in kv]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    for item in items:
        found = syntax_error(item)
        if found:
            return found
    return None


def expression_syntax_error(expression: Any) -> str | None:
    """Like `syntax_error` for a bare expression (`when:`, `until:`, `that:`)."""
    if isinstance(expression, list):
        return next((e for e in map(expression_syntax_error, expression) if e), None)
    if not isinstance(expression, str):
        return None
    text = expression.strip()
    return _syntax_message(text if is_template(text) else "{{ " + text + " }}", text)


def _syntax_message(source: str, display: str) -> str | None:
    from jinja2 import TemplateSyntaxError

    try:
        _parse(source)
    except TemplateSyntaxError as err:
        return f"template syntax error in {shown(display)}: {err.message}"
    return None


@cache
def _parse(source: str) -> Any:
    return environment().parse(source)


def referenced_names(value: Any) -> set[str]:
    """Variables a value's templates need, leaving out those guarded by `default` or `is defined`."""
    names: set[str] = set()
    if isinstance(value, str):
        if is_template(value):
            names |= _names_in(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            names |= referenced_names(k) | referenced_names(v)
    elif isinstance(value, list | tuple):
        for v in value:
            names |= referenced_names(v)
    return names


def expression_names(expression: Any) -> set[str]:
    if isinstance(expression, list):
        out: set[str] = set()
        for e in expression:
            out |= expression_names(e)
        return out
    if not isinstance(expression, str):
        return set()
    text = expression.strip()
    if not is_template(text):
        text = "{{ " + text + " }}"
    return _names_in(text)


@cache
def _names_in(source: str) -> frozenset[str]:
    """Names a template reads. A name guarded anywhere in it (`x is defined and x`,
    `x | default(1)`) counts as guarded everywhere in it: the operator has thought about it."""
    from jinja2 import TemplateSyntaxError, nodes

    try:
        tree = _parse(source)
    except TemplateSyntaxError:
        return frozenset()  # reported by `syntax_error`, and with its location when rendered
    guarded: set[str] = set()
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        if (isinstance(node, nodes.Filter) and node.name in ("default", "d", "mandatory")) or (
            isinstance(node, nodes.Test) and node.name in ("defined", "undefined", "none")
        ):
            target = node.node
            while isinstance(target, nodes.Getattr | nodes.Getitem):  # `x.y is defined` guards x too
                target = target.node
            if isinstance(target, nodes.Name):
                guarded.add(target.name)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    env_globals = environment().globals
    return frozenset(
        n.name
        for n in tree.find_all(nodes.Name)
        if n.ctx == "load" and n.name not in guarded and n.name not in assigned and n.name not in env_globals
    )
