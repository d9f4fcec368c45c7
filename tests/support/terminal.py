"""Run a command on a real pseudo-terminal and answer its prompts, as an operator would.

Password prompts read /dev/tty, not stdin, so the only faithful way to test them is to give the
program a controlling terminal: `pty.fork()` makes the child a session leader whose terminal is
the pty, and the parent plays the operator by writing answers when each prompt appears.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time
from collections.abc import Mapping, Sequence

#: Guards against a hung child only; tests never assert on how long anything took.
HANG_GUARD_SECONDS = 120
#: what a terminal's output holds besides its text: colour/cursor sequences, titles, carriage returns
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def run_in_terminal(
    argv: Sequence[str],
    answers: Sequence[tuple[str, str]],
    *,
    env: Mapping[str, str],
    cwd: str,
) -> tuple[int, str]:
    """Run `argv` on a pty; for each (prompt, answer) in order, type `answer` + Enter once `prompt` shows.

    Returns the exit code and everything the terminal displayed (\\r\\n line ends).
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec, or leave with 127 so the parent sees the failure
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], list(argv), dict(env))
        finally:
            os._exit(127)
    output = b""
    searched = 0
    pending = list(answers)
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"{argv} hung; the terminal showed: {output.decode(errors='replace')!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal when it exited
                break
            if not chunk:
                break
            output += chunk
            while pending and (found := output.find(pending[0][0].encode(), searched)) >= 0:
                searched = found + len(pending[0][0])
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
    finally:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
