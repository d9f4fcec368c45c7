"""A program's log tail in the live table of a real terminal (a pty, tests/support/terminal.py).

A step runs a program through `process.run` with `progress_log` (as the Sage CRM installer does
with `sagecrm.installer.progress_log`): while it runs, the live table shows the step, its elapsed
time and the last line the program wrote to its log, streamed by the host's helper as progress
frames; the lines shown come in the order the program wrote them.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path

from tests.support.runs import REPO
from tests.support.terminal import ANSI, run_in_terminal

MODULE = '''
"""Runs a program that writes its log as it goes, and tails that log (the live display's test)."""

import sys
from typing import Any, ClassVar

from engine.api.module import Module, Result


class LoggedSetup(Module):
    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    schema: ClassVar[dict[str, Any]] = {"type": "object"}

    def run(self, ctx, args):
        log = ctx.vars["playbook_dir"] + "/setup.log"
        ran = ctx.require_remote().call(
            "process.run", argv=[sys.executable, ctx.vars["playbook_dir"] + "/setup.py", log], progress_log=log
        )
        return Result(changed=True, msg=f"setup ended: {ran['progress_last']}")
'''

PROGRAM = textwrap.dedent(
    """\
    import sys, time
    for n in range(1, 4):
        with open(sys.argv[1], "a") as fh:
            fh.write(f"setup stage {n} of 3\\n")
        time.sleep(3)  # a stage's pace; the test asserts what was shown, not how long it took
    """
)


def test_the_live_table_shows_the_programs_last_log_line_while_it_runs(tmp_path: Path) -> None:
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "logged_setup.py").write_text(MODULE)
    (tmp_path / "setup.py").write_text(PROGRAM)
    (tmp_path / "estate.yml").write_text("estate: live-log\nhosts:\n  web1: {connection: local}\n")
    (tmp_path / "site.yml").write_text(
        "- name: setup\n  hosts: all\n  tasks:\n    - name: run the setup\n      logged_setup: {}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS="160", LINES="40")
    env.pop("NO_COLOR", None)

    code, screen = run_in_terminal(
        [sys.executable, "-m", "engine", "run", "site.yml", "-i", "estate.yml", "--no-report"],
        [],
        env=env,
        cwd=str(tmp_path),
    )

    text = ANSI.sub("", screen)
    assert code == 0, text
    rows = [line for line in text.splitlines() if "run the setup" in line and re.search(r"\b\d+s\b", line)]
    shown = [int(m) for line in rows for m in re.findall(r"setup stage (\d) of 3", line)]
    assert shown, text  # the live row carried the log's last line
    assert shown == sorted(shown), rows  # in the order the program wrote them
    assert re.search(r"\bchanged  web1  run the setup\b", text), text
