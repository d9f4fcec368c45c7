"""Live progress on a real terminal (a pty, tests/support/terminal.py), as an operator watches it.

A step whose module reports progress (`ctx.progress`, as the installer, a backup or a copy do)
runs for a few seconds: the live table must show it running with its elapsed time, redrawn every
second (so the elapsed time moves), and its last progress line; every ended step prints its
line, `ok` and `skipped` ones included (as when the output is piped). Off a terminal the same
run prints one line per ended step and no live table.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path

from tests.support.runs import REPO, run_cli
from tests.support.terminal import ANSI, run_in_terminal

COPY_MODULE = '''
"""A copy that takes a few seconds and says how far it is (for the live display's test)."""

import time
from typing import Any, ClassVar

from engine.api.module import Module, Result


class SlowCopy(Module):
    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    schema: ClassVar[dict[str, Any]] = {"type": "object"}

    def run(self, ctx, args):
        for done in (25, 50, 75, 100):
            ctx.progress(f"copied {done}% of payload.zip")
            time.sleep(1)  # a copy's pace; the test asserts what was shown, not how long it took
        return Result(changed=True, msg="payload.zip copied")
'''


def _estate(root: Path) -> tuple[Path, Path]:
    (root / "library").mkdir()
    (root / "library" / "slow_copy.py").write_text(COPY_MODULE)
    inventory = root / "estate.yml"
    inventory.write_text("estate: live-test\nhosts:\n  web1: {connection: local}\n")
    playbook = root / "site.yml"
    playbook.write_text(textwrap.dedent("""\
        - name: copy
          hosts: all
          tasks:
            - name: say hello
              debug: {msg: hello}
            - name: not needed here
              debug: {msg: never}
              when: false
            - name: copy the payload
              slow_copy: {}
        """))
    return playbook, inventory


def test_a_terminal_shows_running_steps_with_elapsed_time_and_progress(tmp_path):
    playbook, inventory = _estate(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS="160", LINES="40")
    env.pop("NO_COLOR", None)

    code, screen = run_in_terminal(
        [sys.executable, "-m", "engine", "run", str(playbook), "-i", str(inventory), "--no-report"],
        [], env=env, cwd=str(tmp_path),
    )

    text = ANSI.sub("", screen)
    assert code == 0, text
    running = [line for line in text.splitlines() if "copy the payload" in line and re.search(r"\b\d+s\b", line)]
    assert running, text  # the live table showed the step while it ran
    elapsed = {int(m) for line in running for m in re.findall(r"\b(\d+)s\b", line)}
    assert len(elapsed) >= 2, running  # redrawn while it ran: the elapsed time moved
    assert any(re.search(r"copied \d+% of payload\.zip", line) for line in running), running
    # every ended step's line, ok and skipped too (the live table redraws around them)
    assert re.search(r"\bok  web1  say hello\b", text), text
    assert re.search(r"\bskipped  web1  not needed here  condition is false", text), text
    assert re.search(r"\bchanged  web1  copy the payload\b", text), text


def test_off_a_terminal_one_line_per_step_and_no_live_table(tmp_path):
    playbook, inventory = _estate(tmp_path)
    result = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report"], tmp_path)
    assert result.rc == 0, result.out + result.err
    lines = [line.strip() for line in result.out.splitlines()]
    assert [line.split("  ")[0] for line in lines if "web1" in line] == ["ok", "skipped", "changed"]
    assert "running step" not in result.out and "copied" not in result.out
