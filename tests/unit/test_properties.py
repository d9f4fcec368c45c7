"""Property-based tests (hypothesis) on the loader, templating, planner and scheduler."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.errors import Location, UserError
from engine.execute.hoststate import HostState
from engine.execute.outcome import NodeOutcome
from engine.execute.scheduler import Scheduler
from engine.journal.store import Journal
from engine.load.inventory import load_inventory
from engine.load.playbook import load_playbook
from engine.load.templating import Scope, Templar
from engine.load.yaml_marks import LDict, LList, parse_text
from engine.plan.builder import build_plan

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.text(alphabet="abcdefghij_", min_size=1, max_size=6), children, max_size=4)),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_loader_round_trips_and_locates_every_key(doc: object) -> None:
    text = yaml.safe_dump({"root": doc}, allow_unicode=True)
    loaded = parse_text(text, "doc.yml")
    assert loaded == {"root": doc}

    def check(node: object) -> None:
        if isinstance(node, LDict):
            for key in node:
                loc = node.key_loc(key)
                assert loc is not None and loc.file == "doc.yml" and loc.line >= 1 and loc.col >= 1
                check(node[key])
        elif isinstance(node, LList):
            assert len(node.item_locs) == len(node)
            for item in node:
                check(item)

    check(loaded)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40).filter(lambda s: "{{" not in s and "{%" not in s and "{#" not in s))
def test_text_without_template_markers_renders_unchanged(text: str) -> None:
    assert Templar(Scope([{}])).render(text) == text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_any_expression_renders_or_is_refused_at_its_place(text: str) -> None:
    """Whatever is typed between the braces, the answer is a value or a `file:line:col` refusal."""
    templar = Templar(Scope([{"a": 1}]), Location("pb.yml", 3, 5))
    try:
        first = templar.render("{{ " + text + " }}")
    except UserError as err:
        message = err.render()
        assert message.startswith("pb.yml:3:5: ") and message.splitlines()[0] != "pb.yml:3:5: "
        assert "Traceback" not in message
        return
    second = templar.render("{{ " + text + " }}")
    assert type(first) is type(second), "the same expression renders to the same kind of value"


class _RecordingRunner:
    """Stands in for the node runner: records the order nodes start and end (the scheduler is under test)."""

    def __init__(self, hosts: list[str]):
        self.states = {h: HostState() for h in hosts}
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

        class _Run:
            artifacts: dict = {}

        self.run_ctx = _Run()

    def run(self, node: object) -> NodeOutcome:
        with self.lock:
            self.events.append(("start", node.id))
        with self.lock:
            self.events.append(("end", node.id))
        return NodeOutcome("ok")


@st.composite
def playbooks(draw: st.DrawFn) -> tuple[int, list]:
    n_hosts = draw(st.integers(1, 4))
    plays = []
    task_ids: list[str] = []
    for p in range(draw(st.integers(1, 3))):
        tasks = []
        # `needs` inside a rolling (serial) play would wait for hosts of later batches: a cycle the
        # planner rightly refuses, so serial plays only need tasks of earlier plays here.
        serial = draw(st.booleans())
        earlier = list(task_ids)
        for t in range(draw(st.integers(1, 5))):
            task: dict = {"name": f"p{p}t{t}", "debug": {"msg": "x"}, "id": f"p{p}t{t}"}
            choices = earlier if serial else task_ids
            if choices and draw(st.booleans()):
                task["needs"] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2, unique=True))
            tasks.append(task)
            task_ids.append(task["id"])
        hosts = draw(st.sampled_from(["all", "h0", "h0:h1", "all:!h0"] if n_hosts > 1 else ["all"]))
        plays.append({"hosts": hosts, "tasks": tasks, **({"serial": 1} if serial else {})})
    return n_hosts, plays


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(playbooks())
def test_scheduler_respects_every_edge(tmp_path_factory: object, drawn: tuple[int, list]) -> None:
    n_hosts, plays = drawn
    tmp = Path(tmp_path_factory.mktemp("prop"))
    hosts = [f"h{i}" for i in range(n_hosts)]
    (tmp / "inv.yml").write_text(yaml.safe_dump({"hosts": {h: {"connection": "local"} for h in hosts}}))
    (tmp / "pb.yml").write_text(yaml.safe_dump(plays))
    try:
        plan = build_plan(load_playbook(tmp / "pb.yml"), load_inventory(tmp / "inv.yml"))
    except UserError as err:  # a `hosts:` pattern may select nobody in a tiny estate
        assert "matches no host" in err.render()
        return
    runner = _RecordingRunner(hosts)
    journal = Journal(tmp / "runs.db")
    summary = Scheduler(plan, runner, journal, "prop", forks=3).run()
    journal.close()
    assert summary.status == "succeeded"
    steps = [n for n in plan.nodes.values() if n.is_step]
    started = sorted(node for event, node in runner.events if event == "start")
    assert started == sorted(n.id for n in steps), "every step runs exactly once, and nothing else runs"
    assert summary.counts == {"ok": len(steps)} and summary.not_run == 0
    position = {event: i for i, event in enumerate(runner.events)}
    for a, b in plan.graph.edges:
        for pa in _step_ancestors_or_self(plan, a):
            for sb in _step_descendants_or_self(plan, b):
                assert position[("end", pa)] < position[("start", sb)], (pa, sb)


def _step_ancestors_or_self(plan: object, node_id: str) -> list[str]:
    if plan.nodes[node_id].is_step:
        return [node_id]
    return [p for pred in plan.graph.predecessors(node_id) for p in _step_ancestors_or_self(plan, pred)]


def _step_descendants_or_self(plan: object, node_id: str) -> list[str]:
    if plan.nodes[node_id].is_step:
        return [node_id]
    return [s for succ in plan.graph.successors(node_id) for s in _step_descendants_or_self(plan, succ)]
