"""The plan: (task x host) nodes and the edges that order them.

File order per host, play barriers, `needs:` barriers (also on blocks), serial batches, run_once
joins, handlers, tags and --limit, policies that add edges or refuse a plan, the destructive-step
rule, cycles, waves and the critical path, and the four output formats against golden files
(`UPDATE_GOLDEN=1 pytest tests/unit/test_planner.py` rewrites them after a deliberate change).
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import pytest

from engine.cli import main
from engine.core.errors import Problem, UserError
from engine.plan.builder import find_cycle
from engine.plan.graph import Plan
from engine.plan.policies import PolicyContext, plan_policy, registered_policies, remove_policy
from engine.plan.render import plan_to_dict, step_edges
from tests.support.plans import before, one_play, plan, step_ids

GOLDEN = Path(__file__).resolve().parent / "golden" / "plan"

TWO_TASKS = """
- hosts: all
  tasks:
    - name: first
      command: echo 1
    - name: second
      command: echo 2
"""


# --- order ----------------------------------------------------------------------------------------


def test_one_node_per_task_and_host_in_file_order_per_host(tmp_path):
    p = plan(tmp_path, TWO_TASKS)
    assert sorted(step_ids(p)) == sorted(f"p0/{t}@{h}" for t in (0, 1) for h in ("db1", "web1", "web2"))
    for host in ("db1", "web1", "web2"):
        assert before(p, f"p0/0@{host}", f"p0/1@{host}")
    # hosts do not wait for each other inside a play
    assert not before(p, "p0/0@web1", "p0/1@web2")
    assert [len(w) for w in p.waves()] == [3, 3]


def test_each_play_starts_when_the_previous_one_ended_on_all_its_hosts(tmp_path):
    p = plan(
        tmp_path,
        """
        - hosts: db
          tasks:
            - command: echo backup
        - hosts: web
          tasks:
            - command: echo stop
    """,
    )
    assert before(p, "p0/0@db1", "p1/0@web1") and before(p, "p0/0@db1", "p1/0@web2")
    assert [n.id for w in p.waves() for n in w] == ["p0/0@db1", "p1/0@web1", "p1/0@web2"]
    # one barrier node, not (tails x heads) edges
    assert p.nodes["p1/start"].kind == "barrier"


def test_needs_waits_for_the_needed_task_on_every_host_it_targets(tmp_path):
    tasks = """
        - {name: stop, id: stop, command: echo stop}
        - {name: check, command: echo check}
        - {name: start, needs: [stop], command: echo start}
    """
    p = plan(tmp_path, one_play(tasks))
    assert before(p, "p0/0@web2", "p0/2@web1")  # cross-host: the barrier of `needs`
    assert not before(p, "p0/1@web2", "p0/2@web1")  # only the needed task, not everything
    assert p.nodes["needs/stop"].kind == "barrier"


def test_needs_on_a_block_id_waits_for_every_task_of_the_block(tmp_path):
    tasks = """
        - name: backups
          id: backups
          block: [{command: echo one}, {command: echo two}]
        - {name: after backups, needs: [backups], command: echo go}
    """
    p = plan(tmp_path, one_play(tasks))
    assert before(p, "p0/0.b0@web2", "p0/1@web1")
    assert before(p, "p0/0.b1@db1", "p0/1@web2")


def test_block_keywords_reach_the_tasks_inside(tmp_path):
    p = plan(
        tmp_path,
        one_play(
            """
            - name: prepare
              id: prepare
              command: echo prepare
            - name: guarded
              when: level == "estate"
              needs: [prepare]
              ignore_errors: true
              block:
                - command: echo inner
                  when: inventory_hostname != "db1"
              rescue:
                - command: echo rescue
            """
        ),
    )
    inner = p.nodes["p0/1.b0@web1"].task
    assert inner.when == ['level == "estate"', 'inventory_hostname != "db1"']
    assert inner.needs == ("prepare",) and inner.ignore_errors is True
    assert p.nodes["p0/1.r0@web1"].task.when == 'level == "estate"'
    assert before(p, "p0/0@db1", "p0/1.b0@web2")


def test_include_keywords_apply_to_the_included_tasks(tmp_path):
    p = plan(
        tmp_path,
        one_play(
            """
            - include_tasks: tasks/stop.yml
              when: level is defined
              tags: [stop]
              vars: {service: iis}
            - command: echo other
            """,
            "web",
        ),
        extra_files={"tasks/stop.yml": "- command: echo {{ service }}\n"},
        tags=frozenset({"stop"}),
    )
    assert step_ids(p) == ["p0/0.b0@web1", "p0/0.b0@web2"]
    node = p.nodes["p0/0.b0@web1"]
    assert node.task.when == "level is defined" and node.tags == ("stop",)
    assert p.block_vars(0, "0") == {"service": "iis"}


# --- serial, run_once, handlers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "batches"),
    [
        ("1", [["db1"], ["web1"], ["web2"]]),
        ('"50%"', [["db1", "web1"], ["web2"]]),
        ('[1, "50%"]', [["db1"], ["web1", "web2"]]),
        ("[2, 1]", [["db1", "web1"], ["web2"]]),
        ("0", [["db1", "web1", "web2"]]),
        ('"10%"', [["db1"], ["web1"], ["web2"]]),
    ],
)
def test_serial_batches_run_one_after_the_other(tmp_path, serial, batches):
    p = plan(
        tmp_path,
        f"""
        - hosts: all
          serial: {serial}
          tasks:
            - command: echo 1
            - command: echo 2
    """,
    )
    assert [sorted(n.host for n in w) for w in p.waves()][::2] == batches
    for earlier, later in zip(batches, batches[1:], strict=False):
        assert all(before(p, f"p0/1@{a}", f"p0/0@{b}") for a in earlier for b in later)
    for batch in batches:  # inside a batch hosts are independent
        assert not any(before(p, f"p0/0@{a}", f"p0/1@{b}") for a in batch for b in batch if a != b)


def test_run_once_is_one_node_that_joins_every_host(tmp_path):
    p = plan(
        tmp_path,
        one_play(
            """
            - command: echo before
            - name: migrate
              command: echo migrate
              run_once: true
            - command: echo after
            """
        ),
    )
    assert [n for n in step_ids(p) if n.startswith("p0/1@")] == ["p0/1@db1"]
    assert p.nodes["p0/1@db1"].shared_with == ("db1", "web1", "web2")
    assert all(
        before(p, f"p0/0@{h}", "p0/1@db1") and before(p, "p0/1@db1", f"p0/2@{h}") for h in ("db1", "web2")
    )


def test_handlers_come_after_the_play_tasks_of_their_host_in_handler_order(tmp_path):
    p = plan(
        tmp_path,
        """
        - hosts: web
          tasks:
            - command: echo change
              notify: [second, first]
          handlers:
            - name: first
              command: echo first
            - name: second
              command: echo second
              listen: [restart]
    """,
    )
    handlers = [n for n in p.steps() if n.kind == "handler"]
    assert sorted(n.id for n in handlers) == ["p0/h0@web1", "p0/h0@web2", "p0/h1@web1", "p0/h1@web2"]
    assert before(p, "p0/0@web1", "p0/h0@web1") and before(p, "p0/h0@web1", "p0/h1@web1")
    assert not before(p, "p0/0@web2", "p0/h0@web1")


def test_notify_must_name_a_handler_or_a_listen_name(tmp_path):
    plan(
        tmp_path,
        """
        - hosts: web
          tasks:
            - command: echo
              notify: restart
          handlers:
            - name: restart iis
              command: iisreset
              listen: restart
    """,
    )
    with pytest.raises(UserError, match="no handler called 'restrat'"):
        plan(
            tmp_path,
            """
            - hosts: web
              tasks:
                - command: echo
                  notify: restrat
              handlers:
                - name: restart
                  command: iisreset
        """,
        )


# --- selection ------------------------------------------------------------------------------------

TAGGED = """
- hosts: all
  tasks:
    - name: backup
      command: echo backup
      tags: [backup]
    - name: always
      command: echo always
      tags: [always]
    - name: debug only
      command: echo dbg
      tags: [never, debug]
    - name: untagged
      command: echo plain
    - name: upgrade block
      tags: [upgrade]
      block:
        - name: install
          command: echo install
"""


@pytest.mark.parametrize(
    ("tags", "skip", "names"),
    [
        (set(), set(), {"backup", "always", "untagged", "install"}),
        ({"backup"}, set(), {"backup", "always"}),
        ({"upgrade"}, set(), {"always", "install"}),
        ({"debug"}, set(), {"always", "debug only"}),
        ({"all"}, set(), {"backup", "always", "untagged", "install"}),
        ({"tagged"}, set(), {"backup", "always", "install"}),
        ({"untagged"}, set(), {"always", "untagged"}),
        (set(), {"backup"}, {"always", "untagged", "install"}),
        (set(), {"always"}, {"backup", "untagged", "install"}),
        ({"upgrade"}, {"always"}, {"install"}),
    ],
)
def test_tags_and_skip_tags(tmp_path, tags, skip, names):
    p = plan(tmp_path, TAGGED, tags=frozenset(tags), skip_tags=frozenset(skip))
    assert {n.label for n in p.steps()} == names


def test_limit_narrows_every_play_and_a_filtered_need_is_noted(tmp_path):
    p = plan(
        tmp_path,
        """
        - hosts: db
          tasks:
            - id: backup
              command: echo backup
        - hosts: all
          tasks:
            - needs: [backup]
              command: echo go
    """,
        limit="web",
    )
    assert step_ids(p) == ["p1/0@web1", "p1/0@web2"]
    assert any("'backup' is not in this plan" in note for note in p.notes)
    assert "play 1 (db): no host left after --limit" in p.notes


# --- policies -------------------------------------------------------------------------------------


@pytest.fixture
def policy():
    """Register a policy for one test and remove it afterwards, whatever happens."""
    names: list[str] = []

    def register(name: str, function):
        names.append(name)
        return plan_policy(name)(function)

    yield register
    for name in names:
        remove_policy(name)
    assert not [n for n, _ in registered_policies() if n in names]


def test_a_policy_can_add_edges(tmp_path, policy):
    def db_first(p: Plan, ctx: PolicyContext) -> list[Problem]:
        db_nodes = [n.id for n in p.steps() if n.host == "db1"]
        for node in p.steps():
            if node.host != "db1":
                p.graph.add_edge(db_nodes[-1], node.id)
        ctx.notes.append("db first")
        return []

    policy("test-db-first", db_first)
    p = plan(tmp_path, TWO_TASKS)
    assert before(p, "p0/1@db1", "p0/0@web1")
    assert "db first" in p.notes
    assert [sorted(n.host for n in w) for w in p.waves()] == [
        ["db1"],
        ["db1"],
        ["web1", "web2"],
        ["web1", "web2"],
    ]


def test_a_policy_can_refuse_a_plan(tmp_path, policy):
    def no_friday(p: Plan, ctx: PolicyContext) -> list[Problem]:
        return [
            Problem(f"no step may run on {n.host}", n.task.location) for n in p.steps() if n.host == "web2"
        ]

    policy("test-refuse", no_friday)
    with pytest.raises(UserError) as err:
        plan(tmp_path, TWO_TASKS)
    assert [p.message for p in err.value.problems] == ["no step may run on web2"] * 2
    assert str(err.value.problems[0].location).endswith("site.yml:3:7")


def test_a_policy_that_closes_a_cycle_is_refused_with_the_cycle(tmp_path, policy):
    policy("test-cycle", lambda p, ctx: [p.graph.add_edge("p0/1@web1", "p0/0@web1")] and [])
    with pytest.raises(UserError, match=r"dependency cycle: 'first' \(.*site.yml:3:7\) -> 'second'"):
        plan(tmp_path, TWO_TASKS)


def test_policies_see_a_fresh_order_after_adding_edges(tmp_path, policy):
    def reads_then_adds(p: Plan, ctx: PolicyContext) -> list[Problem]:
        p.order()  # cached before the edge below
        p.graph.add_edge("p0/1@web1", "p0/0@web2")
        return []

    policy("test-order", reads_then_adds)
    p = plan(tmp_path, TWO_TASKS)
    order = p.order()
    assert order.index("p0/1@web1") < order.index("p0/0@web2")


# --- the destructive-step rule ---------------------------------------------------------------------

LIBRARY = {
    "library/wipe.py": '''
        """Destroys a folder: the planner wants a verified backup of it upstream."""
        from engine.api.module import Module


        class Wipe(Module):
            schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
            destructive = True

            def destroys(self, args, host):
                return [f"files:{host.name}:{args['path']}"]
    ''',
    "library/keep.py": '''
        """Backs a folder up and verifies it."""
        from engine.api.module import Module


        class Keep(Module):
            schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}

            def protects(self, args, host):
                return [f"files:{host.name}:{args['path']}"]
    ''',
}


def _destructive(tmp_path, tasks: str, **options):
    return plan(
        tmp_path, "- hosts: web1\n  vars: {crm: /opt/crm}\n  tasks:\n" + tasks, extra_files=LIBRARY, **options
    )


def test_a_destructive_step_with_a_backup_upstream_is_planned(tmp_path):
    p = _destructive(
        tmp_path,
        """
    - keep: {path: /opt/crm}
    - command: echo between
    - block:
        - wipe: {path: "{{ folder }}/crm"}
      vars: {folder: /opt}
    """,
    )
    assert len(p.steps()) == 3


def test_a_destructive_step_without_a_backup_is_refused(tmp_path):
    with pytest.raises(UserError) as err:
        _destructive(tmp_path, "    - wipe: {path: '{{ crm }}'}\n")
    assert "overwrites files:web1:/opt/crm with no verified backup" in err.value.render()
    assert str(err.value.problems[0].location).endswith("site.yml:4:7")


def test_a_backup_after_the_destructive_step_does_not_count(tmp_path):
    with pytest.raises(UserError, match="no verified backup"):
        _destructive(tmp_path, "    - wipe: {path: /opt/crm}\n    - keep: {path: /opt/crm}\n")


def test_a_backup_of_another_resource_does_not_count(tmp_path):
    with pytest.raises(UserError, match="no verified backup"):
        _destructive(tmp_path, "    - keep: {path: /opt/other}\n    - wipe: {path: /opt/crm}\n")


def test_the_operator_can_override_or_bring_a_backup_from_an_earlier_run(tmp_path):
    p = _destructive(tmp_path, "    - wipe: {path: /opt/crm}\n", allow_unprotected=True)
    assert any(note.startswith("UNPROTECTED") for note in p.notes)
    p = _destructive(
        tmp_path, "    - wipe: {path: /opt/crm}\n", prior_resources=frozenset({"files:web1:/opt/crm"})
    )
    assert not p.notes


def test_a_destructive_step_whose_target_is_known_only_at_run_time_is_refused(tmp_path):
    with pytest.raises(UserError, match="depends on values known only at run time"):
        _destructive(
            tmp_path, "    - command: echo x\n      register: r\n    - wipe: {path: '{{ r.stdout }}'}\n"
        )


# --- cycles, waves, critical path, scale ------------------------------------------------------------


def test_a_needs_cycle_names_its_tasks_with_their_lines(tmp_path):
    with pytest.raises(UserError) as err:
        plan(
            tmp_path,
            """
            - hosts: all
              tasks:
                - name: a
                  id: a
                  needs: [b]
                  command: echo a
                - name: b
                  id: b
                  command: echo b
        """,
        )
    text = err.value.render()
    assert "dependency cycle: 'a' (" in text and "site.yml:3:7) -> 'b' (" in text and "site.yml:7:7)" in text


def test_find_cycle_finds_self_loops_and_returns_none_for_dags():
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    assert find_cycle(graph) is None
    graph.add_edge("c", "c")
    assert find_cycle(graph) == ["c"]
    graph.add_edge("c", "a")
    assert set(find_cycle(nx.DiGraph([("a", "b"), ("b", "a"), ("x", "a")]))) == {"a", "b"}


def test_critical_path_follows_the_estimates(tmp_path):
    p = plan(
        tmp_path,
        one_play(
            """
            - command: echo short
              estimate: "{{ 5 }}"
            - command: echo long
              estimate: 60
            - name: join
              run_once: true
              command: echo join
            """
        ),
    )
    path, total = p.critical_path()
    assert total == 62.0  # 1 (a templated estimate counts 1) + 60 + 1
    assert [n.id.split("@")[0] for n in path] == ["p0/0", "p0/1", "p0/2"]


def test_large_plans_stay_linear_in_edges(tmp_path):
    """Barriers keep a plan's edges proportional to its nodes (no host x host edges per play)."""
    hosts = "\n".join(f"  h{i}: {{roles: [{'db' if i == 0 else 'web'}]}}" for i in range(120))
    tasks = "\n".join(
        f"    - id: t{j}\n      command: echo {j}" + ("\n      needs: [t0]" if j % 3 else "")
        for j in range(15)
    )
    p = plan(
        tmp_path,
        f"- hosts: all\n  tasks:\n{tasks}\n- hosts: web\n  tasks:\n{tasks.replace('id: t', 'id: u')}\n",
        inventory=f"defaults: {{connection: local}}\nhosts:\n{hosts}\n",
    )
    steps = len(p.steps())
    assert steps == 120 * 15 + 119 * 15
    assert p.graph.number_of_edges() < 3 * p.graph.number_of_nodes()
    assert len(p.waves()) == 30


def test_planning_is_deterministic(tmp_path):
    first = plan(tmp_path / "a", TWO_TASKS)
    second = plan(tmp_path / "b", TWO_TASKS)
    assert step_ids(first) == step_ids(second)
    assert step_edges(first) == step_edges(second)
    assert plan_to_dict(first)["critical_path"] == plan_to_dict(second)["critical_path"]


# --- golden outputs ---------------------------------------------------------------------------------

FORMATS = {"text": "plan.txt", "json": "plan.json", "dot": "plan.dot", "mermaid": "plan.mmd"}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_plan_output_matches_its_golden_file(fmt, monkeypatch, capsys):
    """`cutover plan --format FMT` of golden/plan/site.yml; UPDATE_GOLDEN=1 rewrites the files."""
    monkeypatch.chdir(GOLDEN)
    code = main(["plan", "site.yml", "-i", "inventory.yml", "--format", fmt, "-e", "target_version=7.3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    golden = GOLDEN / FORMATS[fmt]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(out, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert out == golden.read_text(encoding="utf-8"), f"{golden.name} differs: if intended, UPDATE_GOLDEN=1"


def test_plan_writes_to_a_file_with_output(tmp_path, monkeypatch):
    monkeypatch.chdir(GOLDEN)
    target = tmp_path / "plan.json"
    assert (
        main(
            [
                "plan",
                "site.yml",
                "-i",
                "inventory.yml",
                "--format",
                "json",
                "-e",
                "target_version=7.3",
                "-o",
                str(target),
            ]
        )
        == 0
    )
    assert target.read_text(encoding="utf-8") == (GOLDEN / "plan.json").read_text(encoding="utf-8")
