"""`cutover run --step`: the operator confirms each step before it starts, as `ansible-playbook --step` asks.

The answers are `y` (run this step), `c` (run it and every later one without asking) and `q`
(start nothing more: the run ends as interrupted and `cutover resume RUN` continues it). There is
no "skip this step": a later step may depend on it (a backup before the restore that needs it),
so cutover refuses to leave one out and says so. Steps run one at a time while asking.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from engine.core.errors import UserError
from engine.execute.scheduler import Reporter

PROMPT = "Perform step {label!r} on {host}? (y)es / (c)ontinue without asking / (q)uit: "
NO_SKIP = ("cutover does not skip a single step (a later step may depend on it); answer q to stop here "
           "and `cutover resume` later, or leave the task out with --tags/--skip-tags before the run")


class StepReporter(Reporter):
    """Wraps the console reporter; asks before each step starts."""

    def __init__(self, inner: Reporter, ask: Callable[[str], str] = input, say: Callable[[str], None] | None = None):
        self.inner = inner
        self.ask = ask
        self.say = say or (lambda text: print(text, file=sys.stderr))
        self.asking = True
        if hasattr(inner, "live_enabled"):
            inner.live_enabled = False  # a live display and a prompt cannot share the terminal

    def may_start(self, node: Any) -> bool:
        if not self.asking:
            return True
        while True:
            answer = self.ask(PROMPT.format(label=node.label, host=node.host or "-")).strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("c", "continue"):
                self.asking = False
                return True
            if answer in ("q", "quit"):
                return False
            if answer in ("n", "no", "s", "skip"):
                self.say(NO_SKIP)
            else:
                self.say("answer y, c or q")

    def run_started(self, plan: Any, run_id: str) -> None:
        self.inner.run_started(plan, run_id)

    def node_started(self, node: Any) -> None:
        self.inner.node_started(node)

    def node_ended(self, node: Any, outcome: Any) -> None:
        self.inner.node_ended(node, outcome)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def run_ended(self, summary: Any) -> None:
        self.inner.run_ended(summary)

    def epilogue(self, lines: list[str]) -> None:
        if hasattr(self.inner, "epilogue"):
            self.inner.epilogue(lines)
        else:
            for line in lines:
                self.inner.message(line)


def step_reporter(args: argparse.Namespace, reporter: Reporter) -> Reporter:
    """With `--step`, the reporter that asks (and one step at a time); else `reporter` as it is."""
    if not getattr(args, "step", False):
        return reporter
    if not sys.stdin.isatty():
        raise UserError("--step asks before each step, but there is no terminal to ask on",
                        hint="run it from a terminal, or without --step")
    args.forks = 1
    return StepReporter(reporter)
