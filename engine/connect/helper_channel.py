"""A connection that talks to one long-lived posix helper through a child process's pipes.

`LocalConnection` runs the helper as a local subprocess, `SSHConnection` runs it behind the
OpenSSH client; everything else is shared here: bootstrap, framing, deadlines, death and
restart. The design follows Mitogen's idea: pay for a process (and an SSH handshake) once per
host per run, then every batch of calls is one write and one read of compact JSON.

Frames are `<decimal length>\\n<JSON>` both ways (see engine/connect/remote/posix_helper.py). Reads and
writes go through `select` on raw file descriptors so that a deadline covers the whole round
trip, and the child's stderr is drained at the same time (kept as a short tail: it is where
ssh says why a connection failed).
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import select
import shlex
import subprocess
import threading
import time
import zlib
from abc import abstractmethod
from collections.abc import Callable
from functools import cache
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

from engine.connect.base import Connection
from engine.core.errors import ConnectionFailed, TaskTimeout

#: Read by the target's python: a line `<bytecode magic> <code length> <source length>`, the helper
#: as compiled by the controller (marshal), then its source, then frames. An interpreter with the
#: controller's bytecode magic runs the compiled code and skips compiling the source, which is
#: most of a helper's start-up CPU after the interpreter's own (a hundred hosts save a second);
#: any other interpreter compiles the source as before.
BOOTSTRAP = (
    "import sys,marshal,_frozen_importlib_external as e;r=sys.stdin.buffer;m,c,s=r.readline().split();"
    "c=r.read(int(c));s=r.read(int(s));exec(marshal.loads(c) if m==e.MAGIC_NUMBER.hex().encode() else s)"
)
#: The same over a network: code and source zlib-compressed (76 KB on the wire instead of 179 KB:
#: most of a second per host on a 100 kB/s link; the controller compresses once per process, at
#: level 1: ~10 ms; zlib is in every CPython build the helper supports). A local helper reads the
#: pipe uncompressed: there the compression would only cost.
BOOTSTRAP_COMPRESSED = (
    "import sys,marshal,zlib,_frozen_importlib_external as e;r=sys.stdin.buffer;m,c,s=r.readline().split();"
    "d=zlib.decompress;c=r.read(int(c));s=r.read(int(s));"
    "exec(marshal.loads(d(c)) if m==e.MAGIC_NUMBER.hex().encode() else d(s))"
)
PROTOCOL = 1
#: Written by the helper just before its hello: whatever a login script printed before it is skipped.
MARK = b"\x00cutover-helper\n"
_STDERR_TAIL = 8192
#: How long a stopped helper gets to kill its commands and exit before it is killed outright.
_GRACE = 3.0


@cache
def helper_source(compressed: bool = False) -> bytes:
    """The helper, compiled and as source, framed for the bootstrap (made once per controller process)."""
    path = Path(__file__).resolve().parent / "remote" / "posix_helper.py"
    source = path.read_bytes()
    # Through the import system's loader, so the controller reuses its own cached bytecode too.
    code = marshal.dumps(SourceFileLoader("posix_helper", str(path)).get_code("posix_helper"))
    if compressed:
        code, source = zlib.compress(code, 1), zlib.compress(source, 1)
    magic = importlib.util.MAGIC_NUMBER.hex().encode("ascii")
    return b"%s %d %d\n%s%s" % (magic, len(code), len(source), code, source)


def python_command(python: str, compressed: bool = False) -> list[str]:
    """argv that starts the helper: isolated (-I: no user site, no PYTHON* variables), no `site`
    at all (-S: the helper needs only the standard library, and every host saves its import)."""
    return [python, "-I", "-S", "-u", "-c", BOOTSTRAP_COMPRESSED if compressed else BOOTSTRAP]


def remote_command(python: str) -> str:
    """The same, as one shell command line for ssh (every word quoted; `exec` saves a shell),
    reading the helper compressed (`compressed_helper` of the SSH connection)."""
    return "exec " + " ".join(shlex.quote(word) for word in python_command(python, compressed=True))


class _Dead(Exception):
    """The child closed its stdout, its stdin pipe broke, or it spoke garbage: the helper is gone."""


class _Expired(Exception):
    """The deadline passed before the answer came."""


class _BootstrapSender:
    """Writes the helper's bootstrap to a just-started child from a thread (`HelperConnection.start`).

    It only writes stdin, in slices of whatever the pipe takes, and looks at a stop flag between
    slices, so `stop()` returns within a tenth of a second and the pipes can then be closed with
    no other thread on them. `finish()` waits for it: `_Dead` if the child went away meanwhile
    (the connection then reads its stderr to say why), `_Expired` at the deadline.
    """

    def __init__(self, proc: subprocess.Popen[bytes], data: bytes, timeout: float):
        self._fd = proc.stdin.fileno()
        self._data = data
        self._until = time.monotonic() + timeout
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="helper-bootstrap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            view = memoryview(self._data)
            while view and not self._stopping.is_set():
                if time.monotonic() > self._until:
                    raise _Expired()
                try:
                    view = view[os.write(self._fd, view) :]
                except BlockingIOError:
                    select.select([], [self._fd], [], 0.1)
                except (BrokenPipeError, ValueError, OSError):
                    raise _Dead() from None
        except BaseException as err:  # noqa: BLE001 - handed to finish(), in the caller's thread
            self._error = err

    def finish(self, deadline: float) -> None:
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.stop()
            raise _Expired()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


class HelperConnection(Connection):
    """Runs the posix helper behind a child process and answers batches of primitive calls."""

    platform = "posix"
    #: the helper goes compressed (a network between us: `remote_command`), or as it is (a local pipe)
    compressed_helper = False

    def __init__(self, host: Any):
        super().__init__(host)
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = bytearray()
        self._stderr = bytearray()
        self._interrupted = threading.Event()
        #: the helper said hello: batches can go (False while only `start()` ran)
        self._ready = False
        #: `start()`'s thread writing the helper's bootstrap (None once `open()` has joined it)
        self._sender: _BootstrapSender | None = None
        #: called with the values of each progress frame a long call sends before its answer
        #: (bytes, bytes_total, files, files_total, op); set it around the call to watch
        self.on_progress: Callable[[dict[str, Any]], None] | None = None
        #: Process id of the helper on the target, from its hello (for diagnostics and tests).
        self.helper_pid: int | None = None
        #: Python version of the helper's interpreter on the target.
        self.python_version: str | None = None
        #: Path of that interpreter on the target (sys.executable), for tools that need a Python there.
        self.python_executable: str | None = None

    # ------------------------------------------------------------------ what subclasses say

    @abstractmethod
    def command(self) -> list[str]:
        """argv of the child process that ends up running the bootstrap."""

    def describe_failure(self, stderr: str, returncode: int | None) -> str:
        """One line saying why the child died, from its stderr (subclasses refine it)."""
        lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
        if lines:
            return lines[-1]
        return f"exited with status {returncode}" if returncode is not None else "no answer"

    @property
    def open_timeout(self) -> float:
        """Seconds to wait for the helper's hello."""
        return 30.0

    # ------------------------------------------------------------------ Connection

    @property
    def pid(self) -> int | None:
        """Local process id of the child (the helper itself, or the ssh client)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Begin connecting and return at once: `open()` (or the first call) finishes the job.

        The child is started (over SSH that is the key exchange, the authentication and the
        remote interpreter's start, all in other processes and on the far side) and a thread
        writes the helper's bootstrap to it as soon as the pipe takes it, so that the helper is
        compiled and says hello meanwhile: `open()` then mostly reads a hello already there. A
        run that knows its hosts early can start them all and do its own work (imports,
        planning, journal) meanwhile. Safe to call twice, and a started connection that is never
        opened is released by `close()` like an open one.
        """
        if self._proc is not None and self._proc.poll() is None:
            return
        self._launch()
        assert self._proc is not None
        # made here, once per process (cached), not by each host's thread at the same time
        self._sender = _BootstrapSender(self._proc, helper_source(self.compressed_helper), self.open_timeout)

    def open(self) -> None:
        """Start the child (unless `start()` did), send the helper's source and wait for its hello."""
        if self._ready and self._proc is not None and self._proc.poll() is None:
            return
        if self._proc is None or self._proc.poll() is not None:
            self._launch()
        deadline = time.monotonic() + self.open_timeout
        sender, self._sender = self._sender, None
        try:
            if sender is None:
                self._send(helper_source(self.compressed_helper), deadline)
            else:
                sender.finish(deadline)
            mark = self._read_until(lambda: self._buf.find(MARK), deadline)
            del self._buf[: mark + len(MARK)]
            hello = self._receive(deadline)
        except _Dead as dead:
            raise self._failed("cannot connect: ", str(dead)) from None
        except _Expired:
            self._discard()
            raise ConnectionFailed(
                f"cannot connect: no answer within {self.open_timeout:g}s", self.host.name, kind="connection"
            ) from None
        if not isinstance(hello, dict) or hello.get("hello") != PROTOCOL:
            self._discard()
            raise ConnectionFailed(
                f"cannot connect: unexpected greeting {hello!r:.200}", self.host.name, kind="connection"
            )
        self._ready = True
        self.helper_pid = hello.get("pid")
        self.python_version = hello.get("python")
        self.python_executable = hello.get("executable") or None

    def _launch(self) -> None:
        """Start the child process (the helper's source is sent by `open`)."""
        self._discard()
        self._interrupted.clear()
        self._stderr.clear()
        argv = self.command()
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,  # Ctrl-C on the terminal goes to the engine, which stops us cleanly
            )
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot start {argv[0]}: {exc.strerror or exc}", self.host.name, kind="connection"
            ) from None
        os.set_blocking(self._proc.stdin.fileno(), False)

    def call(self, calls: list[dict[str, Any]], timeout: float | None = None) -> list[dict[str, Any]]:
        """One batch in one round trip; a dead helper is replaced first, transparently."""
        if not self._ready or self._proc is None or self._proc.poll() is not None:
            self.open()
        body = json.dumps(calls, separators=(",", ":")).encode("ascii")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._send(b"%d\n%s" % (len(body), body), deadline)
            answers = self._receive(deadline)
            while isinstance(answers, dict) and "progress" in answers:  # interim, then the answer
                if self.on_progress is not None:
                    try:
                        self.on_progress(dict(answers["progress"]))
                    except Exception:  # noqa: BLE001 - progress is shown at best; the answer must still be read
                        self.on_progress = None
                answers = self._receive(deadline)
        except _Expired:
            self._discard()
            raise TaskTimeout(
                f"no answer within {timeout:g}s; the remote work was stopped", self.host.name, kind="timeout"
            ) from None
        except _Dead as dead:
            if self._interrupted.is_set():
                self._discard()
                raise TaskTimeout(
                    "interrupted; the remote work was stopped", self.host.name, kind="interrupted"
                ) from None
            raise self._failed("connection dropped: ", str(dead)) from None
        if not isinstance(answers, list) or len(answers) != len(calls):
            self._discard()
            reason = answers.get("error") if isinstance(answers, dict) else "wrong number of answers"
            raise ConnectionFailed(f"protocol error: {reason}", self.host.name, kind="connection")
        return answers

    def interrupt(self) -> None:
        """Stop the call in flight, from another thread.

        SIGTERM, not closing pipes: the calling thread may be using them. A local helper kills
        its commands' process groups on SIGTERM; a killed ssh client drops the session, which
        closes the remote helper's stdin, which makes it do the same.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._interrupted.set()
            proc.terminate()

    def close(self) -> None:
        self._discard()

    # ------------------------------------------------------------------ internals

    def _failed(self, prefix: str, detail: str = "") -> ConnectionFailed:
        """The ConnectionFailed for a child that died, with its own words; the child is reaped."""
        proc = self._proc
        returncode = None
        if proc is not None:
            self._drain_stderr(time.monotonic() + _GRACE)
            try:
                returncode = proc.wait(_GRACE)
            except subprocess.TimeoutExpired:
                pass
        reason = self.describe_failure(self._stderr.decode("utf-8", "replace"), returncode)
        if detail and not self._stderr.strip():
            reason = detail
        self._discard()
        return ConnectionFailed(prefix + reason, self.host.name, kind="connection")

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Close the helper's stdin: it kills its commands' process groups and exits."""
        try:
            proc.stdin.close()
        except OSError:
            pass

    def _discard(self) -> None:
        """Stop and reap the child; after this the next call starts a fresh helper."""
        sender, self._sender = self._sender, None
        if sender is not None:  # no thread may still write to the pipes about to be closed
            sender.stop()
        proc, self._proc = self._proc, None
        self._ready = False
        self._buf.clear()
        self.helper_pid = None
        if proc is None:
            return
        self._stop(proc)
        # Unread output must not keep the child alive: with our read ends closed its writes fail.
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        try:
            proc.wait(_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _send(self, data: bytes, deadline: float | None) -> None:
        proc = self._proc
        assert proc is not None
        fd = proc.stdin.fileno()
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                self._wait(fd, deadline, writing=True)
                continue
            except (BrokenPipeError, ValueError, OSError):
                raise _Dead() from None
            view = view[written:]

    def _receive(self, deadline: float | None) -> Any:
        """Read one frame and decode it."""
        header = self._read_until(lambda: self._buf.find(b"\n"), deadline)
        if not self._buf[:header].isdigit():
            raise _Dead(f"garbled answer {bytes(self._buf[:80])!r}")
        size = int(self._buf[:header])
        del self._buf[: header + 1]
        self._read_until(lambda: size if len(self._buf) >= size else -1, deadline)
        body = bytes(self._buf[:size])
        del self._buf[:size]
        try:
            return json.loads(body)
        except ValueError:
            return None

    def _read_until(self, ready: Any, deadline: float | None) -> int:
        """Read stdout into the buffer until `ready()` gives an index >= 0."""
        proc = self._proc
        assert proc is not None
        fd = proc.stdout.fileno()
        while (found := ready()) < 0:
            self._wait(fd, deadline)
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _Dead()
            self._buf += chunk
        return found

    def _wait(self, fd: int, deadline: float | None, writing: bool = False) -> None:
        """Block until `fd` is ready, draining stderr meanwhile; _Expired at the deadline."""
        proc = self._proc
        assert proc is not None
        errs = [] if proc.stderr.closed else [proc.stderr.fileno()]
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise _Expired()
            if writing:
                readable, writable, _ = select.select(errs, [fd], [], left)
            else:
                readable, writable, _ = select.select([fd, *errs], [], [], left)
            if errs and errs[0] in readable and not self._read_stderr(errs[0]):
                errs = []  # stderr at EOF stays readable: stop watching it
            if fd in readable or fd in writable:
                return

    def _read_stderr(self, err: int) -> bool:
        """Append to the stderr tail; False at EOF."""
        chunk = os.read(err, 65536)
        self._stderr += chunk
        del self._stderr[:-_STDERR_TAIL]
        return bool(chunk)

    def _drain_stderr(self, deadline: float) -> None:
        """Collect what the dying child still says on stderr (until EOF or the deadline)."""
        proc = self._proc
        if proc is None or proc.stderr.closed:
            return
        err = proc.stderr.fileno()
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([err], [], [], left)
            if not readable or not self._read_stderr(err):
                return
