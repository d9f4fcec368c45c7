"""Console output of a run: live progress (rich), plain lines, or a JSON-lines event stream.

Everything printed goes through the run's Masker. `NO_COLOR` is respected. On a terminal every
ended step prints its line (ok and skipped ones too, as when piped), and below them a live table
shows each running step with its elapsed time, redrawn every second, and the last progress line
its module reported (`ctx.progress`: the installer, a backup's percentage, a file copy). A
console that is not a terminal gets one plain line per ended step instead of a live display.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, TextIO

from engine.cli.diff_view import diff_lines
from engine.execute.outcome import NodeOutcome
from engine.execute.scheduler import Reporter, RunSummary
from engine.plan.graph import Node, Plan

STATUS_STYLE = {
    "ok": "green", "changed": "yellow", "would-change": "cyan", "skipped": "dim", "failed": "bold red",
    "blocked": "red", "running": "blue", "rescued": "magenta",
}
#: the run summary's columns; `rescued` counts failed steps a block's `rescue:` handled
SUMMARY_COLUMNS = ("ok", "changed", "would-change", "skipped", "rescued", "failed", "blocked")


class LineBuffer:
    """Lines written out in bursts during a run: one write and one flush per wake-up of the
    scheduler, not per line (a write and a flush per event were a third of the scheduler thread's
    time at fleet scale). The scheduler calls `flush` before it waits for a step to end, so
    nothing stays held while the run is quiet; a line is also written out at once when the last
    write is older than `HOLD` seconds. Outside a run (`batching` off) every line is written at once."""

    HOLD = 0.2
    #: lines held at most before a write (memory stays flat on a burst of thousands of ends)
    LIMIT = 512

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._lines: list[str] = []
        self._lock = threading.Lock()  # the scheduler thread writes; progress may come from workers
        self._written = time.monotonic()
        self.batching = False

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            due = (
                not self.batching
                or len(self._lines) >= self.LIMIT
                or time.monotonic() - self._written > self.HOLD
            )
        if due:
            self.flush()

    def batch(self, on: bool) -> None:
        """Hold lines for the next `flush` (a run has started) or write each at once (it ended)."""
        if not on:
            self.flush()
        self.batching = on

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            self._written = time.monotonic()
            if lines:
                self.stream.write("".join(lines))
            self.stream.flush()


#: one encoder for every event (`json.dumps` with `default=` builds a new one per call: a seventh of
#: the controller's CPU at fleet scale, two events per step)
_EVENT_JSON = json.JSONEncoder(default=str)


def _masked(masker: Any, value: Any) -> Any:
    """`value` masked, without walking it when no secret is known (most runs have no vault value)."""
    try:
        if not len(masker):
            return value
    except TypeError:  # a masker that cannot say how much it knows: mask everything
        pass
    return masker.mask(value)


class JsonlReporter(Reporter):
    """One JSON object per line for machines (`--output jsonl`)."""

    def __init__(self, masker: Any, stream: TextIO | None = None):
        self.masker = masker
        self.stream = stream if stream is not None else sys.stdout
        self.out = LineBuffer(self.stream)

    def _emit(self, event: dict[str, Any]) -> None:
        event["t"] = round(time.time(), 3)
        self.out.add(_EVENT_JSON.encode(_masked(self.masker, event)) + "\n")

    def flush(self) -> None:
        self.out.flush()

    def run_started(self, plan: Plan, run_id: str) -> None:
        self.out.batch(True)
        self._emit({"event": "run_started", "run_id": run_id, "playbook": plan.playbook.path,
                    "estate": plan.inventory.name, "steps": len(plan.steps())})

    def node_started(self, node: Node) -> None:
        self._emit({"event": "node_started", "node": node.id, "host": node.host, "task": node.label})

    def node_ended(self, node: Node, outcome: NodeOutcome) -> None:
        event = {"event": "node_ended", "node": node.id, "host": node.host, "task": node.label,
                 "status": outcome.status, "duration": outcome.duration, "error": outcome.error}
        if node.task is None or not node.task.no_log:
            event["msg"] = outcome.msg
        self._emit(event)

    def node_progress(self, node_id: str, message: str) -> None:
        """A running step's progress line (an installer's log line, a backup's percentage), as it came."""
        self._emit({"event": "node_progress", "node": node_id, "line": str(message)})

    def message(self, text: str) -> None:
        self._emit({"event": "message", "text": text})
        self.out.flush()

    def epilogue(self, lines: list[str]) -> None:
        """Nothing: `run_ended` stays the stream's last event; machines read the findings and the
        estate's state from `cutover show RUN --json` or the JSON report."""

    def run_ended(self, summary: RunSummary) -> None:
        self._emit({"event": "run_ended", "run_id": summary.run_id, "status": summary.status,
                    "counts": summary.counts, "not_run": summary.not_run, "reason": summary.reason})
        self.out.batch(False)


class ConsoleReporter(Reporter):
    """Human output: a live table per host on a terminal, plain lines elsewhere."""

    def __init__(self, masker: Any, verbosity: int = 0, stream: TextIO | None = None, live: bool | None = None,
                 show_diff: bool = False):
        self.masker = masker
        self.verbosity = verbosity
        self.show_diff = show_diff
        self.stream = stream if stream is not None else sys.stdout
        self.out = LineBuffer(self.stream)  # plain lines, written in bursts
        self._console: Any = None
        #: styled output through rich (imported only then: ~25 ms of a run's start-up), else plain lines
        self.styled = is_terminal(self.stream)
        self.live_enabled = self.styled if live is None else live
        #: running steps by node id: host, label, when it started (monotonic), its last progress line
        self.running: dict[str, list[Any]] = {}
        self.lock = threading.Lock()  # progress lines come from the steps' worker threads
        self.counts: dict[str, int] = {}
        self.total = 0
        self.started = time.monotonic()
        self.live: Any = None
        self.simulated = False

    @property
    def console(self) -> Any:
        """rich's Console on this stream, made on first use (a terminal, or a live display asked for)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, no_color=bool(os.environ.get("NO_COLOR")), highlight=False,
                                    soft_wrap=True)
        return self._console

    @console.setter
    def console(self, console: Any) -> None:
        """A Console of the caller's (tests, embedders): styled exactly when it is a terminal."""
        self._console = console
        self.styled = console.is_terminal
        self.stream = console.file
        self.out = LineBuffer(self.stream)

    def _print(self, text: str, style: str = "") -> None:
        """A line of text, masked: in `style` on a terminal, written as is elsewhere."""
        if not self.styled:
            self.out.add(self.masker.mask_text(text) + "\n")
            self.out.flush()
        elif style:
            self.console.print(f"[{style}]{self._t(text)}[/]")
        else:
            self.console.print(self._t(text))

    def _t(self, text: Any) -> str:
        from rich.markup import escape

        return escape(self.masker.mask_text(str(text)))

    def run_started(self, plan: Plan, run_id: str) -> None:
        self.total = len(plan.steps())
        self.simulated = plan.simulated
        sim = " (SIMULATION: sim hosts are models, not machines)" if self.simulated else ""
        m = self.masker.mask_text
        plain = f"cutover run {run_id}: {m(str(plan.playbook.path))} on {m(str(plan.inventory.name))} ({self.total} steps)"
        if self.styled:
            sim = f" [magenta]{sim.strip()}[/]" if sim else ""
            self.console.print(f"[bold]cutover[/] run {run_id}: {self._t(plan.playbook.path)} on "
                               f"{self._t(plan.inventory.name)} ({self.total} steps){sim}")
        else:
            self.out.add(plain + sim + "\n")
            self.out.batch(True)
        if self.live_enabled:
            from rich.live import Live

            # redrawn by rich's own thread every second: the elapsed times move while a step runs
            self.live = Live(get_renderable=self._render, console=self.console, refresh_per_second=1,
                             transient=True)
            self.live.start()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("host")
        table.add_column("running step")
        table.add_column("elapsed", justify="right")
        table.add_column("progress", style="dim")
        now = time.monotonic()
        with self.lock:
            running = sorted(self.running.values(), key=lambda entry: (str(entry[0]), entry[2]))
        for host, label, since, progress in running:
            table.add_row(self._t(host), self._t(label), f"{int(now - since)}s", self._t(progress or ""))
        done = sum(self.counts.values())
        counts = "  ".join(f"[{STATUS_STYLE.get(k, '')}]{k} {v}[/]" for k, v in sorted(self.counts.items()))
        table.caption = f"{done}/{self.total} steps  {counts}  {now - self.started:.0f}s"
        return table

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.refresh()

    def node_started(self, node: Node) -> None:
        with self.lock:
            self.running[node.id] = [node.host or "-", node.label, time.monotonic(), ""]
        self._refresh()

    def node_progress(self, node_id: str, message: str) -> None:
        """The last progress line of a running step (any thread); shown at the next redraw."""
        line = str(message).strip().splitlines()[-1:] or [""]
        with self.lock:
            if node_id in self.running:
                self.running[node_id][3] = line[0]

    def node_ended(self, node: Node, outcome: NodeOutcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        with self.lock:
            self.running.pop(node.id, None)
        self._write(self._step_line(node, outcome))
        self._refresh()

    def _step_line(self, node: Node, outcome: NodeOutcome) -> list[tuple[str, str]]:
        """One ended step as (text, style) pieces, secrets masked."""
        m = self.masker.mask_text
        hidden = bool(node.task and node.task.no_log)
        pieces = [(f"{outcome.status:>12}", STATUS_STYLE.get(outcome.status, "")),
                  (f"  {m(str(node.host))}  {m(node.label)}", "")]
        if outcome.duration >= 1:
            pieces.append((f"  {outcome.duration:.1f}s", "dim"))
        if outcome.error:
            pieces.append((f"\n              {m(outcome.error)}", "red"))
        elif outcome.msg and (self.verbosity or outcome.status in ("skipped", "blocked")) and not hidden:
            pieces.append((f"  {m(outcome.msg)}", "dim"))
        if self.verbosity and outcome.registered and not hidden:
            pieces.append(("\n" + m(json.dumps(outcome.registered, default=str, indent=2)[:4000]), ""))
        if (self.verbosity or self.show_diff) and outcome.diff and not hidden:
            for line, style in diff_lines(outcome.diff, node.host, node.label, m):
                pieces.append(("\n" + line, style))
        return pieces

    def _write(self, pieces: list[tuple[str, str]]) -> None:
        """Styled on a terminal; a plain write elsewhere (rich's rendering is most of a step's cost
        on the controller, and a log file or a pipe has no use for it)."""
        if self.styled:
            from rich.text import Text

            self.console.print(Text.assemble(*pieces))
        else:
            self.out.add("".join(text for text, _style in pieces) + "\n")

    def message(self, text: str) -> None:
        self._print(str(text), "bold yellow")

    def run_ended(self, summary: RunSummary) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        title = f"run {summary.run_id}: {summary.status}"
        shown = [s for s in SUMMARY_COLUMNS if summary.counts.get(s)]
        if self.styled:
            from rich.table import Table

            table = Table(title=title, box=None)
            for status in shown:
                table.add_column(status, style=STATUS_STYLE.get(status, ""), justify="right")
            table.add_row(*[str(summary.counts[s]) for s in shown])
            self.console.print(table)
        else:
            self.out.add("\n".join(plain_table(title, shown, [str(summary.counts[s]) for s in shown])) + "\n")
        if summary.not_run:
            self._print(f"{summary.not_run} step(s) not run")
        if summary.reason:
            self._print(f"reason: {summary.reason}")
        self.out.batch(False)

    def epilogue(self, lines: list[str]) -> None:
        """The end-of-run findings and, after a failure, the estate's state and the commands to
        resume or roll back (engine/pipeline/run_end.py): plain text an operator can copy."""
        for line in lines:
            self.out.add(self.masker.mask_text(line) + "\n")
        self.out.flush()

    def flush(self) -> None:
        self.out.flush()


def is_terminal(stream: TextIO) -> bool:
    """Whether rich would style this stream, decided as rich's `Console.is_terminal` does (its
    environment variables first, then `isatty`) without importing rich."""
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:
        return False


def plain_table(title: str, headers: list[str], row: list[str]) -> list[str]:
    """The run summary as rich draws it off a terminal with `soft_wrap` (`box=None`, right-justified
    columns padded by one space each side, the title as is; a table without columns is one empty
    line), without rich."""
    if not headers:
        return [""]
    widths = [max(len(h), len(v)) for h, v in zip(headers, row, strict=True)]
    return [
        title,
        "".join(f" {h.rjust(w)} " for h, w in zip(headers, widths, strict=True)),
        "".join(f" {v.rjust(w)} " for v, w in zip(row, widths, strict=True)),
    ]

