"""`cutover validate`'s static checks: variables defined per host, templates that parse, hosts that
exist, modules on the right platform; each problem once, at the value that holds it."""

from __future__ import annotations

import pytest

from engine.api.registry import ModuleRegistry
from engine.core.errors import UserError
from engine.validate.static_checks import check_plan, plan_problems
from tests.support.plans import one_play, plan

LIBRARY = {
    "library/crm_facts.py": '''
        """Gathers the `crm` fact (declared, so validate knows later tasks may use it)."""
        from engine.api.module import Module, Result


        class CrmFacts(Module):
            provides_facts = frozenset({"crm"})

            def run(self, ctx, args):
                return Result(facts={"crm": {"path": "/opt/crm"}})
    ''',
    "library/win_only.py": '''
        """Runs on Windows hosts only."""
        from engine.api.module import Module


        class WinOnly(Module):
            platforms = frozenset({"windows"})
    ''',
}


def problems(tmp_path, tasks: str, hosts: str = "all", **options) -> list[str]:
    p = plan(tmp_path, one_play(tasks, hosts), extra_files=LIBRARY, **options)
    return [
        f"{pr.location.line}:{pr.location.col} {pr.message}"
        for pr in plan_problems(p, ModuleRegistry([tmp_path / "library"]))
    ]


def test_names_defined_by_the_run_itself_are_not_reported(tmp_path):
    assert (
        problems(
            tmp_path,
            """
        - command: echo
          register: out
        - set_fact: {answer: 42}
        - crm_facts: {}
        - debug: {msg: "{{ out.stdout }} {{ answer }} {{ crm.path }} {{ item }} {{ inventory_hostname }}"}
          loop: [1]
        - debug: {msg: "{{ pkg }} {{ local }}"}
          loop: "{{ groups['webs'] }}"
          loop_control: {loop_var: pkg}
          vars: {local: 1}
        - debug: {msg: "{{ maybe | default('x') }}"}
          when: also is defined and also
    """,
        )
        == []
    )


def test_a_variable_missing_on_some_hosts_is_reported_once_naming_one_of_them(tmp_path):
    inventory = (
        "hosts:\n  a: {connection: local, vars: {v: 1}}\n  b: {connection: local}\n  c: {connection: local}\n"
    )
    p = plan(tmp_path, one_play("- debug: {msg: '{{ v }}'}\n- debug: {msg: '{{ v }}'}"), inventory)
    found = plan_problems(p)
    assert [(pr.location.line, pr.message) for pr in found] == [
        (3, "undefined variable 'v' (host b)"),
        (4, "undefined variable 'v' (host b)"),
    ]


def test_each_use_is_located_at_its_own_value(tmp_path):
    assert problems(
        tmp_path,
        """
        - name: several
          command:
            cmd: "echo {{ first }}"
            chdir: "{{ second }}"
          when: third
          delay: "{{ fourth }}"
          until: fifth | bool
          retries: 2
    """,
    ) == [
        "5:14 undefined variable 'first' (host db1)",
        "6:16 undefined variable 'second' (host db1)",
        "7:13 undefined variable 'third' (host db1)",
        "8:14 undefined variable 'fourth' (host db1)",
        "9:14 undefined variable 'fifth' (host db1)",
    ]


def test_block_variables_and_block_conditions(tmp_path):
    assert problems(
        tmp_path,
        """
        - vars: {port: 80}
          when: enabled
          block:
            - debug: {msg: "{{ port }}"}
            - debug: {msg: "{{ port }}"}
    """,
    ) == ["4:13 undefined variable 'enabled' (host db1)"]


def test_a_template_that_does_not_parse_is_reported_once(tmp_path):
    assert problems(tmp_path, "- debug: {msg: '{{ port + }}'}\n- debug: {msg: hi}\n  when: a ==\n") == [
        "3:20 template syntax error in '{{ port + }}': unexpected 'end of print statement'",
        "5:13 template syntax error in 'a ==': unexpected 'end of print statement'",
    ]


def test_tasks_left_out_by_tags_are_not_checked(tmp_path):
    assert problems(tmp_path, "- debug: {msg: '{{ nope }}'}\n  tags: [x]\n", skip_tags=frozenset({"x"})) == []


def test_delegate_to_must_name_a_host_or_localhost(tmp_path):
    assert (
        problems(
            tmp_path,
            "- command: echo\n  delegate_to: localhost\n- command: echo\n  delegate_to: '{{ h }}'\n"
            "  vars: {h: web1}\n",
        )
        == []
    )
    assert problems(tmp_path, "- command: echo\n  delegate_to: web9\n") == [
        "4:20 delegate_to: no host 'web9' in the inventory"
    ]


def test_a_module_runs_only_on_its_platforms(tmp_path):
    assert problems(tmp_path, "- win_only: {}\n", hosts="web") == [
        "3:7 module 'win_only' does not run on posix hosts (web1 connects over local)"
    ]
    windows = "hosts:\n  app1: {connection: winrm}\n  web1: {connection: local}\n"
    p = plan(
        tmp_path, one_play("- win_only: {}\n  delegate_to: app1\n", "web1"), windows, extra_files=LIBRARY
    )
    check_plan(p, ModuleRegistry([tmp_path / "library"]))


def test_check_plan_raises_every_problem(tmp_path):
    p = plan(tmp_path, one_play("- debug: {msg: '{{ a }}'}\n- debug: {msg: '{{ b }}'}\n"))
    with pytest.raises(UserError) as err:
        check_plan(p)
    assert len(err.value.problems) == 2
