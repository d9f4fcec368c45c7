"""`cutover validate` names, without a host, what would only fail at run time.

- a template the sandbox will refuse (`x.__class__`, `items.append(1)`): the run would fail at
  that step, after the steps before it changed the estate;
- an undefined variable in a task's name (rendered for every step shown);
- each at the value's own file:line:col, with a long value cut to its start and its length.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.runs import local_inventory, run_cli


def validate(tmp_path: Path, tasks: str):
    inventory = local_inventory(tmp_path / "inventory.yml", ["here"], vars={"items": [1, 2]})
    playbook = tmp_path / "site.yml"
    playbook.write_text("- hosts: all\n  tasks:\n" + tasks, encoding="utf-8")
    return run_cli(["validate", str(playbook), "-i", str(inventory)], tmp_path)


def test_a_template_the_sandbox_refuses_is_named_at_its_value(tmp_path: Path) -> None:
    result = validate(tmp_path, (
        "    - name: fine\n      debug:\n        msg: \"{{ items | length }}\"\n"
        "    - name: internals\n      debug:\n        msg: \"{{ items.__class__ }}\"\n"
    ))  # fmt: skip
    assert result.rc == 2, result.out + result.err
    assert "site.yml:8:14:" in result.err
    assert "the template sandbox will refuse '{{ items.__class__ }}': '__class__' starts with '_'" in result.err
    assert "Traceback" not in result.err


def test_a_mutating_call_in_a_condition_is_named(tmp_path: Path) -> None:
    result = validate(tmp_path, "    - name: grow\n      debug:\n        msg: hi\n      when: items.append(3)\n")
    assert result.rc == 2, result.out + result.err
    assert "site.yml:6:" in result.err and "`.append()` would change a value" in result.err


def test_an_undefined_variable_in_a_task_name_is_named_at_the_name(tmp_path: Path) -> None:
    result = validate(tmp_path, "    - name: \"upgrade {{ versoin }}\"\n      debug:\n        msg: hi\n")
    assert result.rc == 2, result.out + result.err
    assert "site.yml:3:" in result.err and "versoin" in result.err


def test_a_long_value_is_cut_to_its_start_and_its_length(tmp_path: Path) -> None:
    long = "x" * 5000
    result = validate(tmp_path, f"    - name: long\n      debug:\n        msg: \"{long}{{{{ items.__len__ }}}}\"\n")
    assert result.rc == 2, result.out + result.err
    assert "(5,019 characters)" in result.err and long not in result.err
