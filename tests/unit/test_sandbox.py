"""Templates cannot escape the sandbox: internals, imports, file reads, code execution."""

from __future__ import annotations

import pytest

from engine.core.errors import UserError
from engine.load.templating import Scope, Templar

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ x.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__['__builtins__'] }}",
    "{{ lipsum.__globals__['os'].system('touch /tmp/cutover-pwned') }}",
    "{{ range.__self__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}",
    "{{ request.application.__globals__ }}",
    "{% import 'os' as os %}{{ os.system('id') }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% from '/etc/hostname' import x %}",
    "{{ x.__dict__ }}",
    "{{ x.mro() }}",
    "{{ (x|attr('__class__')) }}",
    "{{ x|attr('__globals__') }}",
    "{{ [].append.__self__ }}",
    "{{ {}.update(a=1) }}",
    "{{ items.append(1) }}",
    "{{ ''.format.__globals__ }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ ''.join.__self__.__class__ }}",
    "{{ open('/etc/passwd').read() }}",
    "{{ __import__('os') }}",
    "{{ eval('1+1') }}",
    "{{ exec('import os') }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempt_is_refused(source: str) -> None:
    templar = Templar(Scope([{"x": object(), "items": [1, 2]}]))
    try:
        rendered = templar.render(source)
    except UserError as err:
        assert "Traceback" not in err.render()
        return
    # Whatever rendered must not have reached internals or run anything.
    text = str(rendered)
    for leaked in ("<class", "function", "module", "built-in", "globals", "root:", "uid="):
        assert leaked not in text, f"{source!r} leaked {text[:120]!r}"


def test_mutating_a_variable_is_refused() -> None:
    values = [1, 2]
    templar = Templar(Scope([{"items": values}]))
    with pytest.raises(UserError):
        templar.render("{{ items.append(3) }}")
    assert values == [1, 2]


def test_ordinary_templates_still_work() -> None:
    templar = Templar(Scope([{"name": "crm", "ports": [80, 443], "cfg": {"a": 1}}]))
    assert templar.render("{{ name | upper }}-{{ ports | join(',') }}") == "CRM-80,443"
    assert templar.render("{{ ports }}") == [80, 443]
    assert templar.render("{{ cfg.a + 1 }}") == 2
    assert templar.evaluate("'7.3' is version('7.2', '>')") is True
