"""Shells and "processes" of the WinRM test endpoint. Nothing here runs PowerShell.

A command the endpoint recognises becomes a `Process` with real stdin/stdout semantics (bytes
arrive in Send pieces, output leaves in Receive pieces, an exit code ends it), answered by a
Python runner in its own thread:
- the cutover bootstrap (`engine.connect.winrm.BOOTSTRAP_SCRIPT`): reads the script line, checks
  the host's Windows PowerShell and .NET Framework (`HostRuntime`) against the minimums the
  bootstrap carries, then answers each batch line from a dispatcher, framed exactly as the real
  helper frames them (a host below the minimums gets the bootstrap's refusal frame instead);
- a few trivial scripts (`$null`, `Write-Output 1`, ...) so pywinrm's `Session.run_ps` has a
  sensible answer for the benchmark;
- anything else fails the way Windows would ("not recognized"), exit code 1.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from engine.connect.winrm import (
    BOOTSTRAP_SCRIPT,
    FRAME_ERROR_PREFIX,
    FRAME_PREFIX,
    FRAME_PROGRESS_PREFIX,
    FRAME_REFUSED_PREFIX,
)
from engine.connect.winrm_framing import RECEIVE_PREFIX
from engine.connect.winrm_requirements import MIN_DOTNET_RELEASE, MIN_POWERSHELL

#: `dispatch(host_name, calls, cancel, progress)`: the answers of one batch; `cancel` is set on
#: terminate; `progress(values)` writes a progress frame before the answer, as the helper's
#: Send-CutoverProgress does (engine/connect/remote/powershell/processes.ps1).
Runner = Callable[
    [str, list[dict[str, Any]], threading.Event, Callable[[dict[str, Any]], None]], list[dict[str, Any]]
]
TRIVIAL_SCRIPTS = {"$null": b"", "write-output 1": b"1\r\n", "echo 1": b"1\r\n", "1": b"1\r\n"}
#: Exit code Windows reports for a process ended by Signal terminate (STATUS_CONTROL_C_EXIT).
TERMINATED = 0xC000013A
#: Exit code of the bootstrap after refusing a host below the minimums.
REFUSED = 4
#: Unread stdin a process holds before a Send waits for it to read (a pipe's buffer is bounded
#: too): what keeps the endpoint's memory flat while a client streams a file faster than it is
#: written. A stdin line is consumed as it arrives, so a long batch line never waits on itself.
STDIN_BUFFER = 4 << 20
#: `receive(args, process)`: one transfer segment (winrm_framing stdin message 3) -> its answer;
#: it reads the segment's bytes with `process.read` (tests/support/winrm_receive.py).
Receiver = Callable[[dict[str, Any], "Process"], dict[str, Any]]


@dataclass(frozen=True)
class HostRuntime:
    """What the bootstrap finds on the host: `$PSVersionTable.PSVersion` as text, and the
    `Release` value of HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full (0 when absent).

    The default is a Windows Server 2019: Windows PowerShell 5.1.17763 and .NET Framework 4.7.2
    (release 461814, Microsoft's value for every Windows but 10 April 2018 Update / 1803).
    """

    powershell: str = "5.1.17763.1"
    dotnet_release: int = 461814

    def refusal(self) -> str | None:
        """The payload of the bootstrap's refusal frame, or None when the host is new enough.

        Mirrors the bootstrap: major.minor of the PowerShell version against MIN_POWERSHELL, the
        release against MIN_DOTNET_RELEASE, and the JSON text it builds by concatenation.
        """
        major, minor = (int(part) for part in self.powershell.split(".")[:2])
        wanted = tuple(int(part) for part in MIN_POWERSHELL.split("."))
        if (major, minor) >= wanted and self.dotnet_release >= MIN_DOTNET_RELEASE:
            return None
        return '{"powershell":"' + self.powershell + '","dotnet_release":' + str(self.dotnet_release) + "}"


class Process:
    """One command's streams and exit code, shared by the request handlers and its runner."""

    def __init__(self, command_line: str, options: dict[str, str]) -> None:
        self.id = str(uuid.uuid4()).upper()
        self.command_line = command_line
        #: The Command's WINRS options (WINRS_SKIP_CMD_SHELL, WINRS_CONSOLEMODE_STDIN), as sent.
        self.options = options
        self.cancel = threading.Event()
        self._cond = threading.Condition()
        self._stdin = bytearray()
        self._stdin_closed = False
        self._stdout = bytearray()
        self._stderr = bytearray()
        self.exit_code: int | None = None

    def feed(self, data: bytes, end: bool, wait: float = 0.0) -> None:
        """Add a Send's bytes; with `wait`, first wait (at most that long) while the process has
        STDIN_BUFFER bytes it has not read yet, as a writer to a full pipe does."""
        with self._cond:
            if wait:
                self._cond.wait_for(
                    lambda: len(self._stdin) < STDIN_BUFFER or self.cancel.is_set(), timeout=wait
                )
            self._stdin += data
            self._stdin_closed = self._stdin_closed or end
            self._cond.notify_all()

    def read_line(self) -> bytes | None:
        """The next stdin line without its LF; None at end of stdin or once terminated.

        The buffer is searched only where it was not searched before (linear in the line's length,
        as Windows reads a line), and a partial line is taken out of it, so feeders never wait on it.
        """
        line = bytearray()
        with self._cond:
            while True:
                if self.cancel.is_set():
                    return None
                end = self._stdin.find(b"\n")
                if end >= 0:
                    line += self._stdin[:end]
                    del self._stdin[: end + 1]
                    self._cond.notify_all()
                    return bytes(line).rstrip(b"\r")
                if self._stdin:
                    line += self._stdin
                    self._stdin.clear()
                    self._cond.notify_all()
                if self._stdin_closed:
                    return bytes(line).rstrip(b"\r") if line else None
                self._cond.wait()

    def read(self, limit: int) -> bytes:
        """Up to `limit` raw stdin bytes, waiting for some; b"" at end of stdin or once terminated."""
        with self._cond:
            while True:
                if self.cancel.is_set():
                    return b""
                if self._stdin:
                    data = bytes(self._stdin[:limit])
                    del self._stdin[:limit]
                    self._cond.notify_all()
                    return data
                if self._stdin_closed:
                    return b""
                self._cond.wait()

    def write(self, data: bytes, stream: str = "stdout") -> None:
        with self._cond:
            if self.exit_code is None:
                (self._stdout if stream == "stdout" else self._stderr).extend(data)
                self._cond.notify_all()

    def exit(self, code: int) -> None:
        with self._cond:
            if self.exit_code is None:
                self.exit_code = code
            self._cond.notify_all()

    def die(self, code: int) -> None:
        """The process ends on its own (killed on the host, crashed): what it wrote stays readable."""
        with self._cond:
            self.cancel.set()
            if self.exit_code is None:
                self.exit_code = code
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        return self.exit_code is not None

    def terminate(self) -> None:
        """Signal terminate: the runner stops, pending output is discarded."""
        with self._cond:
            self.cancel.set()
            if self.exit_code is None:
                self.exit_code = TERMINATED
            self._stdout.clear()
            self._stderr.clear()
            self._cond.notify_all()

    def take(self, limit: int, wait: float) -> tuple[bytes, bytes, int | None] | None:
        """Up to `limit` bytes of output, waiting up to `wait` s; None when nothing came.

        The exit code is reported only with the last piece of output, as WinRM does.
        """
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._stdout or self._stderr or self.exit_code is not None, timeout=wait
            )
            if not ready:
                return None
            out = bytes(self._stdout[:limit])
            del self._stdout[:limit]
            err = bytes(self._stderr[: max(limit - len(out), 0)])
            del self._stderr[: len(err)]
            drained = not self._stdout and not self._stderr
            return out, err, self.exit_code if drained else None


class Shell:
    """A WinRS shell: its processes, how many commands it has started (for quotas) and when the
    client last sent it a message (for the idle timeout), on the endpoint's clock."""

    def __init__(self, codepage: str, now: float = 0.0, options: dict[str, str] | None = None) -> None:
        self.id = str(uuid.uuid4()).upper()
        self.codepage = codepage
        #: The Create's WINRS options as sent (WINRS_CODEPAGE, WINRS_NOPROFILE).
        self.options = dict(options or {})
        self.processes: dict[str, Process] = {}
        self.commands_started = 0
        self.last_seen = now

    def close(self) -> None:
        for process in self.processes.values():
            process.terminate()
        self.processes.clear()


def start_process(
    shell: Shell,
    command: str,
    arguments: str,
    options: dict[str, str],
    host: str,
    run: Runner,
    runtime: HostRuntime | None = None,
    receive: Receiver | None = None,
    memory_mb: int | None = None,
) -> Process:
    """Create the process a Command asks for and start its runner thread; `memory_mb` is the
    shell's MaxMemoryPerShellMB (None: not enforced)."""
    process = Process(f"{command} {arguments}".strip(), options)
    script = _encoded_script(process.command_line)
    target: Callable[[], None]
    if script == BOOTSTRAP_SCRIPT:
        target = partial(_run_helper, process, host, run, runtime or HostRuntime(), receive, memory_mb)
    elif script is not None and script.strip().lower() in TRIVIAL_SCRIPTS:
        target = partial(_run_trivial, process, TRIVIAL_SCRIPTS[script.strip().lower()])
    else:
        name = command.split()[0] if command.split() else command
        target = partial(_run_unknown, process, "PowerShell script" if script is not None else f"'{name}'")
    shell.processes[process.id] = process
    shell.commands_started += 1
    threading.Thread(target=target, name=f"winrm-process-{process.id[:8]}", daemon=True).start()
    return process


def _encoded_script(command_line: str) -> str | None:
    """The script of `powershell[.exe] ... -EncodedCommand <b64>`, or None for anything else."""
    words = command_line.split()
    if not words or words[0].lower().rsplit("\\", 1)[-1] not in ("powershell", "powershell.exe"):
        return None
    for flag, value in zip(words, words[1:], strict=False):
        if flag.lower() in ("-encodedcommand", "-enc", "-e", "-ec"):
            try:
                return base64.b64decode(value, validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def _frame(prefix: bytes, text: str) -> bytes:
    return prefix + base64.b64encode(text.encode("utf-8")) + b"\r\n"


def _run_helper(
    process: Process,
    host: str,
    run: Runner,
    runtime: HostRuntime,
    receive: Receiver | None = None,
    memory_mb: int | None = None,
) -> None:
    """The cutover helper: script line first, then one framed answer per batch or transfer line."""
    first = process.read_line()
    if not first:
        process.exit(2)
        return
    refusal = runtime.refusal()
    if refusal is not None:
        _refuse(process, refusal)
        return
    try:
        script = base64.b64decode(first, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        script = ""
    if "Invoke-CutoverBatch" not in script:
        process.write(
            _frame(FRAME_ERROR_PREFIX, "loading the primitives failed: Invoke-CutoverBatch is not defined")
        )
        process.exit(3)
        return

    def progress(values: dict[str, Any]) -> None:
        text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        process.write(_frame(FRAME_PROGRESS_PREFIX, text))

    while True:
        line = process.read_line()
        if not line:
            process.exit(0)
            return
        if over_memory_quota(line, memory_mb):
            _die_out_of_memory(process)
            return
        if line.startswith(RECEIVE_PREFIX):
            if not _run_receive(process, line, receive):
                return
            continue
        try:
            calls = json.loads(base64.b64decode(line, validate=True).decode("utf-8"))
            answers = run(host, calls, process.cancel, progress)
        except Exception as exc:  # what the bootstrap's catch does
            if process.cancel.is_set():
                return
            process.write(_frame(FRAME_ERROR_PREFIX, f"the batch failed: {exc}"))
            continue
        if process.cancel.is_set():
            return
        process.write(_frame(FRAME_PREFIX, json.dumps(answers, ensure_ascii=False)))


def _run_receive(process: Process, line: bytes, receive: Receiver | None) -> bool:
    """One transfer segment (files.ps1 `Receive-CutoverStream`): False once the process is stopped."""
    try:
        args = json.loads(base64.b64decode(line[len(RECEIVE_PREFIX) :], validate=True).decode("utf-8"))
        if receive is None:
            raise RuntimeError("this endpoint has no disk for transfers")
        answer = receive(args, process)
    except Exception as exc:  # what the bootstrap's catch around Receive-CutoverStream does
        if process.cancel.is_set():
            return False
        process.write(_frame(FRAME_ERROR_PREFIX, f"the transfer failed: {exc}"))
        return True
    if process.cancel.is_set():
        return False
    process.write(_frame(FRAME_PREFIX, json.dumps([answer], ensure_ascii=False)))
    return True


def _refuse(process: Process, refusal: str) -> None:
    """What the bootstrap does on a host below the minimums: the primitives are not loaded,
    every batch line gets the refusal frame, and the end of stdin ends the process."""
    while True:
        line = process.read_line()
        if not line:
            if not process.cancel.is_set():
                process.exit(REFUSED)
            return
        process.write(_frame(FRAME_REFUSED_PREFIX, refusal))


def _run_trivial(process: Process, output: bytes) -> None:
    process.write(output)
    process.exit(0)


def _run_unknown(process: Process, what: str) -> None:
    process.write(
        f"{what} is not recognized by the WinRM test endpoint (it runs no PowerShell)\r\n".encode(), "stderr"
    )
    process.exit(1)


# --- MaxMemoryPerShellMB ---------------------------------------------------------------------------

#: What the helper has committed before a batch: powershell.exe with the primitives dot-sourced
#: (a modelled figure, of the order Windows PowerShell 5.1 shows in Task Manager).
HELPER_COMMIT_MB = 60
#: Bytes committed per byte of a batch line while the bootstrap reads it: its MemoryStream (whose
#: capacity doubles: up to 2x) and the string ASCII.GetString makes of it (UTF-16: 2x).
LINE_COMMIT_FACTOR = 4
#: What Windows PowerShell 5.1 writes to stderr, and its exit code, when the bootstrap's read of a
#: line (outside its try) meets an allocation the shell's job refuses: the OutOfMemoryException
#: is a terminating error, so powershell.exe -EncodedCommand ends with exit code 1
#: (about_PowerShell_exe). "the remote operation is terminated when a new allocation exceeds the
#: specified quota": Group Policy "Specify maximum amount of memory in MB per Shell".
OUT_OF_MEMORY_STDERR = (
    'Exception calling "Write" with "3" argument(s): "Exception of type '
    "'System.OutOfMemoryException' was thrown.\"\r\n"
    "At line:24 char:13\r\n"
    "+             $line.Write($this.Buffer, $this.At, $this.End - $this.At)\r\n"
    "+             ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n"
    "    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException\r\n"
    "    + FullyQualifiedErrorId : OutOfMemoryException\r\n"
)
OUT_OF_MEMORY_EXIT = 1


def over_memory_quota(line: bytes, memory_mb: int | None) -> bool:
    """Whether reading `line` takes the helper past the shell's MaxMemoryPerShellMB (0: unlimited)."""
    if not memory_mb:
        return False
    return HELPER_COMMIT_MB * (1 << 20) + LINE_COMMIT_FACTOR * len(line) > memory_mb * (1 << 20)


def _die_out_of_memory(process: Process) -> None:
    process.write(OUT_OF_MEMORY_STDERR.encode("utf-8"), "stderr")
    process.die(OUT_OF_MEMORY_EXIT)
