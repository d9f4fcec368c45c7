"""Templates: sandboxed Jinja2 with StrictUndefined, native values, lazy variables, and the static
analysis `cutover validate` uses (which names a template needs, whether it parses)."""

from __future__ import annotations

import pytest

from engine.core.errors import Location, UserError
from engine.load.templating import (
    Scope,
    Templar,
    expression_names,
    expression_syntax_error,
    has_templates,
    referenced_names,
    syntax_error,
)

WHERE = Location("site.yml", 7, 14)


def render(value, **variables):
    return Templar(Scope([variables]), WHERE).render(value)


def test_a_single_expression_keeps_its_native_type():
    assert render("{{ ports }}", ports=[80, 443]) == [80, 443]
    assert render(" {{ n + 1 }} ", n=1) == 2
    assert render("{{ none }}") is None
    assert render("port {{ ports[0] }}", ports=[80]) == "port 80"
    assert render({"list": ["{{ a }}", "b"], "{{ k }}": 1}, a=1, k="key") == {"list": [1, "b"], "key": 1}


def test_variables_are_rendered_lazily_through_other_variables():
    scope = Scope(
        [{"url": "http://{{ host }}:{{ port }}/"}, {"host": "web1", "port": "{{ base + 80 }}", "base": 8000}]
    )
    assert Templar(scope).render("{{ url }}") == "http://web1:8080/"


def test_a_variable_defined_from_itself_is_an_error_not_a_hang():
    with pytest.raises(UserError, match="variable 'a' refers to itself"):
        render("{{ a }}", a="{{ b }}", b="{{ a }}")


def test_an_undefined_variable_is_named_with_the_location():
    with pytest.raises(UserError) as err:
        render("upgrading to {{ target_version }}", crm="x")
    problem = err.value.problems[0]
    assert problem.message == "undefined variable 'target_version' in 'upgrading to {{ target_version }}'"
    assert problem.location == WHERE and "default" in problem.hint


def test_a_missing_key_of_a_defined_variable_says_so():
    with pytest.raises(UserError) as err:
        render("{{ crm.versoin }}", crm={"version": "7.3"})
    assert "'dict object' has no attribute 'versoin'" in err.value.problems[0].message
    assert "undefined variable" not in err.value.problems[0].message


def test_the_sandbox_refuses_python_internals():
    for source in (
        "{{ ''.__class__.__mro__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
    ):
        with pytest.raises(UserError, match="sandbox"):
            render(source)
    with pytest.raises(UserError):
        render("{% include '/etc/passwd' %}")


def test_template_errors_are_user_errors_with_the_location():
    with pytest.raises(UserError) as err:
        render("{{ 1 / 0 }}")
    assert err.value.problems[0].location == WHERE
    with pytest.raises(UserError, match="template syntax error"):
        render("{{ a b }}", a=1)


def test_filters_and_tests_operators_expect():
    assert render("{{ 'C:\\\\crm\\\\eware.dll' | win_basename }}") == "eware.dll"
    assert render("{{ v is version('7.2', '>=') }}", v="7.10") is True
    assert render("{{ 'yes' | bool }}") is True
    assert render("{{ {'a': 1} | combine({'b': 2}) }}") == {"a": 1, "b": 2}
    assert render("{{ x | default('fallback') }}") == "fallback"
    assert render("{{ 'abc' | regex_replace('b', 'B') }}") == "aBc"


def test_expressions_evaluate_to_booleans_and_lists_mean_all():
    templar = Templar(Scope([{"v": "7.3", "n": 3}]))
    assert templar.evaluate("v == '7.3'") is True
    assert templar.evaluate(["n > 1", "v is defined"]) is True
    assert templar.evaluate(["n > 1", "n > 5"]) is False
    assert templar.evaluate("{{ n > 1 }}") is True
    assert templar.evaluate(True) is True


def test_has_templates_looks_inside_containers():
    assert has_templates({"a": ["x", {"b": "{{ y }}"}]})
    assert has_templates("{% if x %}1{% endif %}")
    assert not has_templates({"a": ["x", 1, None]})


# --- static analysis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("{{ a }} and {{ b.c }} and {{ d['e'] }}", {"a", "b", "d"}),
        ("{{ x | default(y) }}", {"y"}),  # the fallback itself is needed
        ("{{ z is defined and z > 1 }}", set()),  # guarded once, guarded everywhere in the template
        ("{{ q.r is defined }}", set()),
        ("{% for i in items %}{{ i }}{% endfor %}", {"items"}),
        ("{% set n = 1 %}{{ n + m }}", {"m"}),
        ("{{ range(3) | list }} {{ lipsum }}", set()),  # Jinja's own globals
        ({"k": ["{{ a }}", "{{ b | mandatory }}"]}, {"a"}),
        ("no template", set()),
        ("{{ broken", set()),  # a syntax error is reported by syntax_error, not here
    ],
)
def test_referenced_names(value, names):
    assert referenced_names(value) == names


def test_expression_names_of_bare_expressions():
    assert expression_names("maintenance | bool and version is version('7.2', '>')") == {
        "maintenance",
        "version",
    }
    assert expression_names(["a", "b is defined", True]) == {"a"}
    assert expression_names("{{ c }}") == {"c"}


def test_syntax_errors_are_found_without_rendering():
    assert syntax_error({"a": ["ok {{ x }}", "{{ x + }}"]}) == (
        "template syntax error in '{{ x + }}': unexpected 'end of print statement'"
    )
    assert syntax_error("{% if x %}no end") is not None
    assert syntax_error(["{{ a }}", 5, None]) is None
    assert expression_syntax_error("a ==").startswith("template syntax error in 'a =='")
    assert expression_syntax_error(["a", "b > 1"]) is None
