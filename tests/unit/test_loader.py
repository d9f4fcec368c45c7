"""Loading YAML with locations, and loading playbooks with their includes.

The loader keeps the file:line:col of every key, value and list item, refuses duplicate keys,
resolves aliases and merge keys, and fails with a located message on everything YAML can throw
at it. The playbook loader resolves includes relative to the including file, reports include
cycles, checks each task on its own and passes block and include keywords down.
"""

from __future__ import annotations

import pytest
import yaml

from engine.core.errors import Location, UserError
from engine.load import yaml_marks as loader
from engine.load.playbook import load_playbook
from engine.load.vault.keyring import EncryptedValue
from engine.load.yaml_marks import LDict, LList, load_file, location_of, parse_text
from tests.support.plans import write

DOC = """\
name: upgrade
hosts:
  - web1
  - web2
vars:
  port: 8080
  path: "C:\\\\CRM"
"""


def test_every_key_value_and_item_has_its_location():
    doc = parse_text(DOC, "site.yml")
    assert isinstance(doc, LDict) and isinstance(doc["hosts"], LList)
    assert doc.key_loc("hosts") == Location("site.yml", 2, 1)
    assert doc["hosts"].item_loc(1) == Location("site.yml", 4, 5)
    assert doc["vars"].value_loc("port") == Location("site.yml", 6, 9)
    assert doc["vars"].value_loc("path") == Location("site.yml", 7, 9)
    assert location_of(doc["vars"], "port") == Location("site.yml", 6, 9)
    assert location_of(doc["hosts"]) == Location("site.yml", 3, 3)
    assert doc == {"name": "upgrade", "hosts": ["web1", "web2"], "vars": {"port": 8080, "path": "C:\\CRM"}}


def test_the_c_loader_is_used_when_pyyaml_has_it():
    assert loader._Loader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_duplicate_keys_are_errors_even_when_several():
    with pytest.raises(UserError) as err:
        parse_text("a: 1\nb:\n  x: 1\n  x: 2\na: 3\n", "f.yml")
    assert [(str(p.location), p.message) for p in err.value.problems] == [
        ("f.yml:4:3", "duplicate key 'x' (first defined at line 3)"),
        ("f.yml:5:1", "duplicate key 'a' (first defined at line 1)"),
    ]


def test_yaml_booleans_that_collide_are_duplicates():
    with pytest.raises(UserError, match="duplicate key True"):
        parse_text("yes: 1\ntrue: 2\n", "f.yml")


def test_merge_keys_fill_in_and_explicit_keys_win():
    doc = parse_text("base: &b {port: 80, user: web}\nsite:\n  <<: *b\n  port: 8080\n", "f.yml")
    assert doc["site"] == {"port": 8080, "user": "web"}
    assert doc["site"].value_loc("port") == Location("f.yml", 4, 9)
    with pytest.raises(UserError, match="`<<` merges only mappings"):
        parse_text("x:\n  <<: [1]\n", "f.yml")


def test_aliases_share_the_value_and_bombs_are_refused_quickly():
    doc = parse_text("a: &x [1, 2]\nb: *x\n", "f.yml")
    assert doc["a"] == doc["b"] == [1, 2]
    bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    with pytest.raises(UserError, match="expands to more than"):
        parse_text(bomb, "bomb.yml")
    with pytest.raises(UserError, match="nested too deeply"):
        parse_text("a: &a [*a]\n", "f.yml")


@pytest.mark.parametrize(
    ("text", "where", "message", "hint"),
    [
        ("a:\n\tb: 1\n", "f.yml:2:1", "YAML syntax error", "spaces, not tabs"),
        ("a: [1, 2\n", "f.yml:2:1", "YAML syntax error", None),
        ('{"a": 1', "f.yml:1:8", "YAML syntax error", None),  # no final newline: stays on line 1
        ("a: b: c\n", "f.yml:1:5", "mapping values are not allowed", "quote a value"),
        ("msg: {{ x }}\n", "f.yml:1:7", "a mapping key must be a plain value", '"{{ var }}"'),
        ("a: !!int many\n", "f.yml:1:4", "bad int value 'many'", None),
        ("a: !secret x\n", "f.yml:1:4", "unknown tag !secret", "!vault"),
        ("a: 1\n---\nb: 2\n", "f.yml:2:1", "expected a single document", None),
        ("a: 1\nb: \x07\n", "f.yml:2:4", "is not allowed in YAML text", None),
        ("? [a]\n: 1\n", "f.yml:1:3", "a mapping key must be a plain value", None),
    ],
)
def test_yaml_mistakes_are_located(text, where, message, hint):
    with pytest.raises(UserError) as err:
        parse_text(text, "f.yml")
    problem = err.value.problems[0]
    assert str(problem.location) == where and message in problem.message
    if hint:
        assert hint in problem.hint


def test_vault_values_stay_encrypted_after_loading():
    doc = parse_text("password: !vault |\n  $CUTOVER_VAULT;1.0;AES256;default\n  0011\n", "f.yml")
    assert isinstance(doc["password"], EncryptedValue)
    assert doc["password"].location == Location("f.yml", 1, 11)


def test_files_are_read_once_with_their_hash_and_encoding_problems_located(tmp_path):
    (tmp_path / "ok.yml").write_bytes("\ufeffa: café\n".encode())
    source = load_file(tmp_path / "ok.yml")
    assert source.value == {"a": "café"} and len(source.sha256) == 64
    (tmp_path / "latin1.yml").write_bytes(b"a: 1\nname: caf\xe9\n")
    with pytest.raises(UserError) as err:
        load_file(tmp_path / "latin1.yml")
    assert err.value.problems[0].location == Location(str(tmp_path / "latin1.yml"), 2, 10)
    with pytest.raises(UserError, match="file not found"):
        load_file(tmp_path / "nope.yml")


def test_the_scalar_constructor_keeps_nothing_between_files():
    """Regression: a shared PyYAML constructor kept every node of every file it had read."""
    for _ in range(3):
        parse_text("a: 1\nb: [2.5, true, null, 2026-01-01]\n", "f.yml")
    assert not hasattr(loader, "_SCALARS")


# --- playbooks and includes -------------------------------------------------------------------------


def test_includes_are_relative_to_the_including_file(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  tasks:\n    - include_tasks: tasks/web.yml\n",
            "tasks/web.yml": "- include_tasks: common.yml\n- command: echo web\n",
            "tasks/common.yml": "- command: echo common\n",
            "common.yml": "- command: echo WRONG\n",
        },
    )
    pb = load_playbook(tmp_path / "site.yml")
    assert [t.args["cmd"] for t in pb.plays[0].tasks] == ["echo common", "echo web"]
    assert [t.path for t in pb.plays[0].tasks] == ["0.0.0", "0.1"]
    assert pb.plays[0].tasks[0].location == Location(str(tmp_path / "tasks/common.yml"), 1, 3)
    assert set(pb.files) == {
        str(tmp_path / "site.yml"),
        str(tmp_path / "tasks/web.yml"),
        str(tmp_path / "tasks/common.yml"),
    }


def test_import_playbook_and_vars_files_are_relative_too(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": "- import_playbook: plays/web.yml\n- hosts: db\n  tasks: []\n",
            "plays/web.yml": "- hosts: web\n  vars_files: [../vars/web.yml]\n  tasks: []\n",
            "vars/web.yml": "site_name: crm\n",
        },
    )
    pb = load_playbook(tmp_path / "site.yml")
    assert [(p.index, p.hosts) for p in pb.plays] == [(0, "web"), (1, "db")]
    assert pb.plays[0].vars == {"site_name": "crm"}


def test_include_cycles_name_the_files(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  tasks:\n    - include_tasks: a.yml\n",
            "a.yml": "- include_tasks: b.yml\n",
            "b.yml": "- import_tasks: a.yml\n",
        },
    )
    with pytest.raises(UserError) as err:
        load_playbook(tmp_path / "site.yml")
    assert err.value.problems[0].message == "include cycle: a.yml -> b.yml -> a.yml"
    assert err.value.problems[0].location == Location(str(tmp_path / "b.yml"), 1, 17)


def test_the_same_file_may_be_included_twice_without_a_cycle(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  tasks:\n    - include_tasks: t.yml\n    - include_tasks: t.yml\n",
            "t.yml": "- command: echo\n",
        },
    )
    assert len(load_playbook(tmp_path / "site.yml").plays[0].tasks) == 2


def test_every_broken_task_is_reported_not_only_the_first(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": """
        - hosts: all
          tasks:
            - debugg: {msg: one}
            - command: echo
              retries: lots
            - debug: {msg: three}
              notify: nobody
        - hosts: all
          tasks:
            - stat: /etc
    """
        },
    )
    with pytest.raises(UserError) as err:
        load_playbook(tmp_path / "site.yml")
    lines = [(p.location.line, p.message.split(":")[0]) for p in err.value.problems]
    assert lines == [
        (3, "unknown module 'debugg'"),
        (5, "retries"),
        (7, "notify"),
        (10, "module 'stat' takes a mapping of arguments, not a single value"),
    ]


def test_task_keywords_are_typed_numbers_and_kept_templates(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": """
        - hosts: all
          check_mode: true
          tasks:
            - command: echo
              retries: "3"
              delay: "{{ wait }}"
              timeout: 30
              check_mode: false
            - command: echo
    """
        },
    )
    first, second = load_playbook(tmp_path / "site.yml").plays[0].tasks
    assert (first.retries, first.delay, first.timeout, first.check_mode) == (3, "{{ wait }}", 30.0, False)
    assert second.check_mode is True  # the play's check_mode reaches its tasks


def test_an_include_without_keywords_inserts_its_tasks(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  tasks:\n    - import_tasks: t.yml\n      name: common\n",
            "t.yml": "- command: echo\n",
        },
    )
    (task,) = load_playbook(tmp_path / "site.yml").plays[0].tasks
    assert task.module == "command" and not task.is_block


def test_an_include_with_keywords_becomes_a_block(tmp_path):
    write(
        tmp_path,
        {
            "site.yml": """
        - hosts: all
          tasks:
            - include_tasks: t.yml
              when: flag
              delegate_to: db1
              tags: [x]
    """,
            "t.yml": "- command: echo\n  when: other\n",
        },
    )
    (block,) = load_playbook(tmp_path / "site.yml").plays[0].tasks
    assert block.is_block and block.name == "t.yml" and block.tags == ("x",)
    (inner,) = block.block
    assert inner.when == ["flag", "other"] and inner.delegate_to == "db1"
