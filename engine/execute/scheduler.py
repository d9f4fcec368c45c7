"""The scheduler: walks the plan graph and releases a node when all its predecessors ended.

Its hot path does no I/O but the journal commit, and no graph recomputation: in-degree counters
are decremented as nodes end. Nodes that ended together are journaled in one transaction, and
only then are their dependents released, so a crash never loses a recorded end. Failures follow
the play's policy: `stop` (start nothing new), `continue` (independent branches go on),
`max_fail_percentage`, `any_errors_fatal`; blocks with `rescue`/`always` are honoured per host.

A failure inside a block that has a `rescue:` section is counted as rescued, as in Ansible: the
step stays `failed` in the journal, the host runs the rescue and goes on, and the run succeeds
unless something else failed (a failing rescue task is an ordinary failure of its own).
"""

from __future__ import annotations

import datetime as dt
import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.api.module import utcnow
from engine.core.clock import now
from engine.execute.hoststate import HostState
from engine.execute.outcome import NodeOutcome
from engine.execute.runner import NodeRunner
from engine.execute.timewindow import late_text, window_problem
from engine.execute.workers import WorkerPool
from engine.journal.store import Journal
from engine.plan.graph import Node, Plan

BAD = frozenset({"failed", "blocked"})
#: why a rescue step is skipped when its block did not fail (also how resume tells it from a rescue that ran)
NO_FAILURE_TO_RESCUE = "no failure to rescue"
#: why a step of a block is skipped after an earlier one failed (resume runs it again with its cause)
AFTER_A_FAILURE = "an earlier task of the block failed"


class Reporter:
    """What the console (or any listener) hears; all calls come from the scheduler thread."""

    def run_started(self, plan: Plan, run_id: str) -> None: ...
    def node_started(self, node: Node) -> None: ...
    def node_ended(self, node: Node, outcome: NodeOutcome) -> None: ...
    def message(self, text: str) -> None: ...
    def run_ended(self, summary: RunSummary) -> None: ...

    def flush(self) -> None:
        """Write out what was batched: called before the scheduler waits for a step to end."""

    def may_start(self, node: Node) -> bool:
        """False stops the run before `node` starts, as an interrupt does (`--step` asks here)."""
        return True


@dataclass
class RunSummary:
    run_id: str
    status: str = "succeeded"  # succeeded | failed | interrupted | stopped
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (node id, error)
    #: failures a block's `rescue:` handled (node id, error): they do not fail the run
    rescued: list[tuple[str, str]] = field(default_factory=list)
    not_run: int = 0
    reason: str | None = None

    @property
    def exit_code(self) -> int:
        return {"succeeded": 0, "failed": 1, "interrupted": 130, "stopped": 1}.get(self.status, 1)


class Scheduler:
    def __init__(
        self,
        plan: Plan,
        runner: NodeRunner,
        journal: Journal,
        run_id: str,
        forks: int = 20,
        reporter: Reporter | None = None,
        timezone: dt.tzinfo | None = None,
        no_log: Callable[[Node], bool] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        day: dt.date | None = None,
        opening: str | None = None,
    ):
        self.plan = plan
        self.runner = runner
        self.journal = journal
        self.run_id = run_id
        self.forks = max(1, forks)
        self.reporter = reporter or Reporter()
        self.tz = timezone or dt.UTC
        self.clock = clock or now
        #: the run's day (recorded when it started): HH:MM windows are on it (timewindow.py)
        self.day = day
        #: said right after the run started (the run's day and where its zone came from)
        self.opening = opening
        self.states: dict[str, HostState] = runner.states
        self.status: dict[str, str] = {}
        self.outcomes: dict[str, NodeOutcome] = {}
        self.stopping: str | None = None
        self.summary = RunSummary(run_id)
        self.rescuing: dict[str, set[str]] = {h: set() for h in self.states}
        self.block_has_rescue = self._blocks_with_rescue()
        self.failed_hosts: dict[int, set[str]] = {}
        #: reporter calls held until the journal has committed the ends they tell of (`_say`)
        self._deferring = False
        self._told: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    def _blocks_with_rescue(self) -> set[tuple[int, str]]:
        out: set[tuple[int, str]] = set()

        def walk(play: int, tasks: tuple) -> None:
            for t in tasks:
                if t.is_block:
                    if t.rescue:
                        out.add((play, t.path))
                    walk(play, t.block + t.rescue + t.always)

        for play in self.plan.plays:
            walk(play.index, play.tasks)
        return out

    # --- resume ------------------------------------------------------------------------------
    def restore(self, done: dict[str, dict[str, Any]]) -> None:
        """Mark nodes recorded done in the journal, replaying their facts and notifications.

        Two kinds of recorded outcome are not final. A step skipped because an earlier step of
        its block failed runs again, since the failed step does. And a rescue that had started
        goes on where it stopped: on resume its recorded steps release the next ones at once,
        before the block's failed step could fail again, so without this the rest of the rescue
        would be skipped for want of a failure and a half-done rescue would pass for a success.
        A block whose rescue already ran on a host therefore keeps its failure there: its failed
        step is not run again, and the remaining rescue steps run.
        """
        started = self._started_rescues(done)
        for node_id in self.plan.order():
            row = done.get(node_id)
            node = self.plan.nodes[node_id]
            if row is None or not node.is_step:
                continue
            if (
                row["status"] == "skipped"
                and row.get("msg") == AFTER_A_FAILURE
                and not _in_rescued(node, started)
            ):
                continue
            self.status[node_id] = row["status"]
            facts = row.get("facts") or {}
            for host in node.shared_with or (node.host,):
                self.states[host].facts.update(facts)
                if row["status"] == "changed" and node.task is not None:
                    self.states[host].notified.update(node.task.notify)
        for host, block in started:
            self.rescuing[host].add(block)
        for node_id, node in self.plan.nodes.items():
            if node.is_step and node_id not in self.status and _in_rescued(node, started):
                self.status[node_id] = "failed"
                self.outcomes[node_id] = NodeOutcome("failed", error="failed in an earlier attempt (rescued)")

    def _started_rescues(self, done: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
        """(host, block) whose `rescue:` section ran in an earlier attempt."""
        started: set[tuple[str, str]] = set()
        for node_id, row in done.items():
            node = self.plan.nodes.get(node_id)
            if node is None or (row["status"] == "skipped" and row.get("msg") == NO_FAILURE_TO_RESCUE):
                continue
            for block, section in node.scope:
                if section == "rescue":
                    started.update((host, block) for host in node.shared_with or (node.host,))
        return started

    # --- main loop ---------------------------------------------------------------------------
    def run(self) -> RunSummary:
        graph, nodes = self.plan.graph, self.plan.nodes
        pending = {n: 0 for n in graph}
        for n in graph:
            pending[n] = sum(1 for _ in graph.predecessors(n))
        ready: deque[str] = deque()
        for node_id in self.plan.order():  # nodes done in an earlier attempt release their successors
            if node_id in self.status:
                for succ in graph.successors(node_id):
                    pending[succ] -= 1
        for node_id in self.plan.order():
            if node_id not in self.status and pending[node_id] == 0:
                ready.append(node_id)
        completions: queue.Queue[tuple[str, NodeOutcome]] = queue.Queue()
        running: set[str] = set()
        held: list[str] = []  # ready but not started because the run is stopping
        #: ended and applied in memory, not yet in the journal: committed with the next starts
        ended: list[tuple[Node, NodeOutcome]] = []
        self.reporter.run_started(self.plan, self.run_id)
        if self.opening:
            self.reporter.message(self.opening)
        to_run = sum(1 for n in nodes.values() if n.is_step and n.id not in self.status)

        with WorkerPool(min(self.forks, max(1, to_run)), self.runner.run, completions) as pool:
            while ready or running or ended:
                to_start: list[Node] = []
                resolved: list[tuple[Node, NodeOutcome]] = []
                while ready:
                    node = nodes[ready.popleft()]
                    verdict, why = self._decide(node)
                    if verdict == "run":
                        if len(running) + len(to_start) >= self.forks * 4:
                            ready.appendleft(node.id)
                            break
                        to_start.append(node)
                    elif verdict == "hold":
                        held.append(node.id)
                    else:
                        resolved.append(
                            (
                                node,
                                NodeOutcome(
                                    verdict, msg=why or "", error=why if verdict == "blocked" else None
                                ),
                            )
                        )
                if ended or to_start:
                    # One transaction: the ends of the last wake-up, then the starts they released.
                    # A dependent starts only once its predecessors' ends are committed.
                    self._record(ended, to_start)
                    self._say_deferred()
                    ended = []
                    for node in to_start:
                        running.add(node.id)
                        self.reporter.node_started(node)
                        pool.submit(node.id, node)
                finished = resolved
                if not finished and running:
                    try:
                        node_id, outcome = completions.get_nowait()
                    except queue.Empty:
                        self._flush_reporter()  # the operator sees everything before the wait
                        node_id, outcome = completions.get()
                    finished = [(nodes[node_id], outcome)]
                    running.discard(node_id)
                    while True:  # take every end that is already there: one commit for all
                        try:
                            node_id, outcome = completions.get_nowait()
                        except queue.Empty:
                            break
                        finished.append((nodes[node_id], outcome))
                        running.discard(node_id)
                if not finished:
                    continue
                self._deferring = True
                for node, outcome in finished:
                    self._apply(node, outcome)
                    for succ in graph.successors(node.id):
                        pending[succ] -= 1
                        if pending[succ] == 0 and succ not in self.status:  # done in an earlier attempt
                            ready.append(succ)
                ended = finished
        self._deferring = False
        self._say_deferred()
        self._flush_reporter()
        self.summary.not_run = sum(1 for n in nodes.values() if n.is_step and n.id not in self.status)
        return self._finish()

    # --- decisions ---------------------------------------------------------------------------
    def _decide(self, node: Node) -> tuple[str, str | None]:
        """run | hold (stopping) | ok (barrier) | skipped | blocked, with the reason."""
        preds = list(self.plan.graph.predecessors(node.id))
        if not node.is_step:
            bad = [p for p in preds if self._bad(p)]
            return ("blocked", "an earlier step failed") if bad else ("ok", None)
        hosts = node.shared_with or (node.host,)
        for p in preds:
            pred = self.plan.nodes[p]
            if pred.host in hosts or (pred.shared_with and node.host in pred.shared_with):
                continue
            if self._bad(p):
                return "blocked", f"{self._label(p)} did not succeed"
        for host in hosts:
            verdict = self._block_decision(node, host)
            if verdict[0] != "run":
                return verdict
        if self.stopping and not self._runs_while_stopping(node):
            return "hold", None
        task = node.task
        if task is not None and (task.not_before or task.not_after or task.deadline):
            problem = window_problem(
                task.not_before, task.not_after, task.deadline, self.tz, self.clock(), task.location,
                self.day, late_text(task),
            )
            if problem:
                self.stopping = self.stopping or f"{node.label} on {node.host}: {problem}"
                self.summary.reason = self.stopping
                self._say(self.reporter.message, f"stopping: {self.stopping}")
                return "hold", None
        if not self.reporter.may_start(node):
            self.interrupt()
            return "hold", None
        return "run", None

    def _runs_while_stopping(self, node: Node) -> bool:
        """Handlers (force_handlers) and `always` sections of a host's pending failure still run."""
        if self.summary.status == "interrupted":
            return False
        play = self.plan.plays[node.play]
        if node.kind == "handler" and play.force_handlers:
            return True
        failure = self.states[node.host].failure
        return failure is not None and any(sec == "always" for _b, sec in node.scope)

    def _bad(self, node_id: str) -> bool:
        status = self.status.get(node_id)
        if status not in BAD:
            return False
        outcome = self.outcomes.get(node_id)
        return not (outcome is not None and outcome.ignored)

    def _label(self, node_id: str) -> str:
        node = self.plan.nodes[node_id]
        return f"{node.label!r} on {node.host}" if node.is_step else node.label

    def _block_decision(self, node: Node, host: str) -> tuple[str, str | None]:
        state = self.states[host]
        scope = node.scope
        failure = state.failure
        if failure is None:
            for block, section in scope:
                if section == "rescue" and block not in self.rescuing[host]:
                    return "skipped", NO_FAILURE_TO_RESCUE
            return "run", None
        if node.kind == "handler" and self.plan.plays[node.play].force_handlers:
            return "run", None
        for depth, (block, section) in enumerate(scope):
            if depth >= len(failure) or failure[depth][0] != block:
                return (
                    ("skipped", AFTER_A_FAILURE)
                    if depth > 0
                    else ("blocked", "an earlier step on this host failed")
                )
            failed_section = failure[depth][1]
            if section == failed_section:
                continue
            if failed_section == "block" and section == "rescue":
                state.failure = None
                self.rescuing[host].add(block)
                return "run", None
            if section == "always":
                return "run", None
            return "blocked", "an earlier step on this host failed"
        return ("skipped", AFTER_A_FAILURE) if scope else ("blocked", "an earlier step on this host failed")

    # --- after a node ends -------------------------------------------------------------------
    def _record(
        self, finished: list[tuple[Node, NodeOutcome]], started: tuple[Node, ...] | list[Node] = ()
    ) -> None:
        """The ends of `finished` and the starts of `started`, in one transaction."""
        rows: list[tuple[Node, NodeOutcome]] = []
        for node, outcome in finished:
            if not node.is_step:
                continue
            if node.task is not None and node.task.no_log and outcome.registered is not None:
                shown = NodeOutcome(**{f: getattr(outcome, f) for f in outcome.__slots__})
                shown.registered = {"censored": "output hidden by no_log"}
                shown.diff = None
                rows.append((node, shown))
            else:
                rows.append((node, outcome))
        with self.journal.transaction() as db:
            if rows:
                self.journal.nodes_ended(db, self.run_id, rows)
            if started:
                self.journal.nodes_started(db, self.run_id, list(started), utcnow())

    def _say(self, call: Callable[..., None], *args: Any) -> None:
        """Tell the reporter now, or once the journal holds what it is told (ends not yet committed)."""
        if self._deferring:
            self._told.append((call, args))
        else:
            call(*args)

    def _say_deferred(self) -> None:
        self._deferring = False
        told, self._told = self._told, []
        for call, args in told:
            call(*args)

    def _flush_reporter(self) -> None:
        """A reporter that batches its writes (engine/cli/console.py) writes them out now."""
        flush = getattr(self.reporter, "flush", None)
        if flush is not None:
            flush()

    def _apply(self, node: Node, outcome: NodeOutcome) -> None:
        self.status[node.id] = outcome.status
        self.outcomes[node.id] = outcome
        if not node.is_step:
            return
        failed = outcome.status == "failed" and not outcome.ignored
        rescued = failed and self._rescued(node)
        counted = "rescued" if rescued else outcome.status
        self.summary.counts[counted] = self.summary.counts.get(counted, 0) + 1
        hosts = node.shared_with or (node.host,)
        for host in hosts:
            state = self.states[host]
            state.facts.update(outcome.facts)
            if outcome.changed and node.task is not None:
                state.notified.update(node.task.notify)
        for art in outcome.artifacts:
            self.runner.run_ctx.artifacts.setdefault(art.resource, []).append(art)
        self._say(self.reporter.node_ended, node, outcome)
        if failed:
            for host in hosts:
                self.states[host].failure = node.scope
            if rescued:
                self.summary.rescued.append((node.id, outcome.error or "failed"))
            else:
                self.summary.failed.append((node.id, outcome.error or "failed"))
                self._host_failed(node, hosts)

    def _rescued(self, node: Node) -> bool:
        """Whether an enclosing block (at any depth) has a `rescue:` that handles this node's failure."""
        return any(
            section == "block" and (node.play, block) in self.block_has_rescue
            for block, section in node.scope
        )

    def _host_failed(self, node: Node, hosts: tuple[str, ...]) -> None:
        play = self.plan.plays[node.play]
        failed = self.failed_hosts.setdefault(node.play, set())
        failed.update(hosts)
        for host in hosts:
            self.states[host].failed = True
        reason = None
        if play.any_errors_fatal is True or play.on_failure == "stop":
            reason = f"{node.label!r} failed on {node.host}"
        elif play.max_fail_percentage is not None:
            total = max(1, len(self.plan.play_hosts.get(node.play, [])))
            if 100.0 * len(failed) / total > float(play.max_fail_percentage):
                reason = (
                    f"{len(failed)} of {total} hosts failed (max_fail_percentage {play.max_fail_percentage})"
                )
        if reason and not self.stopping:
            self.stopping = reason
            self._say(self.reporter.message, f"stopping: {reason}; running steps finish, no new step starts")

    def interrupt(self) -> None:
        self.stopping = "interrupted by the operator"
        self.summary.status = "interrupted"

    def _finish(self) -> RunSummary:
        s = self.summary
        if s.status != "interrupted":
            if s.failed or s.counts.get("blocked"):
                s.status = "failed"
            elif s.not_run:
                s.status = "stopped"
        s.reason = s.reason or self.stopping
        return s


def _in_rescued(node: Node, started: set[tuple[str, str]]) -> bool:
    """Whether `node` is in the `block:` section of a block whose rescue has started on its host."""
    hosts = node.shared_with or (node.host,)
    return any(
        (host, block) in started for host in hosts for block, section in node.scope if section == "block"
    )
