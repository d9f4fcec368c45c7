"""WinRM connection: one pywinrm `Protocol`, one shell and one PowerShell helper per host.

Why it looks like this:
- Opening a WinRM shell and starting powershell.exe cost far more than answering a primitive
  (pywinrm's `Session.run_ps` pays both on every call). So the connection opens ONE shell
  (`open_shell(codepage=65001)`) for the whole run and keeps ONE helper process in it: the
  helper loads the primitives script (engine/connect/remote/powershell/) once, then answers
  batch after batch. A batch costs one Send (the request line) and usually one Receive (the
  answer frame), both rendered from envelopes pywinrm builds once per helper (`winrm_wire`).
- Payloads go over stdin in pieces of at most `MAX_SEND_CHUNK` bytes, never on the command line.
  The framing (what each stdin and stdout line means) is defined in `winrm_framing` and
  re-exported here; the WinRM test endpoint imports it from this module.
- A Receive that times out on the server (WS-Man fault 2150858793) only means "still running".
  The connection asks for short server-side waits, so a deadline or Ctrl-C is noticed within
  seconds; then it sends Signal terminate, forgets the helper (the next call starts a new one)
  and raises TaskTimeout.
- While a long call runs, the helper may write progress frames (a program's log tail) before
  the answer; each goes to `on_progress` (the step's live line) and the Receive loop goes on, so
  a `w:TimedOut` Receive between them is polled again as before.
- A shell the server dropped (idle timeout, restart of WinRM, quota) is reopened once, and the
  batch is sent again, but only when the server refused the batch itself: a batch whose Send
  was accepted may have run, so then the caller gets ConnectionFailed instead of a silent rerun.
- A helper that ended between batches (killed on the host, crashed) makes the server refuse the
  next Send with "The pipe has been ended."; the connection forgets that helper, starts a new one
  in the same shell and sends the batch to it, once: the refused batch never reached any helper.
- The shell loads the user's profile (WINRS_NOPROFILE false, what `winrs` does unless told
  -noprofile): an installer needs the account's own %TEMP%, HKEY_CURRENT_USER and its DPAPI keys.
- NTLM sealing is stateful, so a `Protocol` must never be used by two threads at once: the
  executor holds `self.lock`, and every wire exchange also holds the private `_wire` lock
  (re-entrant; `interrupt()` never takes it: it only raises a flag the call loop checks).
- `persistent: false` in the host's `winrm` settings selects the fallback: one helper process
  per batch (script and batch on stdin, then end of stream).
- Files travel as raw stdin (`send_file`, engine/connect/winrm_transfer.py): Sends filled to just
  under the server's MaxEnvelopeSizekb, which the connection learns from the first refusal.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import xml.etree.ElementTree as ET
from functools import lru_cache
from typing import Any

from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from engine.connect.base import Connection
from engine.connect.remote.powershell import script as primitives_script
from engine.connect.winrm_errors import (
    is_envelope_limit,
    is_pipe_ended,
    is_shell_gone,
    is_transport_failure,
    out_of_memory_reason,
    translate,
)
from engine.connect.winrm_framing import (
    BOOTSTRAP_SCRIPT,
    FRAME_ERROR_PREFIX,
    FRAME_PREFIX,
    FRAME_PROGRESS_PREFIX,
    FRAME_REFUSED_PREFIX,
    MAX_SEND_CHUNK,
    MIN_SEND_CHUNK,
    POWERSHELL,
    FrameReader,
    bootstrap_arguments,
    decode_answers,
    encode_batch,
    encode_line,
    encode_powershell,
)
from engine.connect.winrm_requirements import refusal_message
from engine.connect.winrm_settings import WinRMSettings
from engine.connect.winrm_transfer import RANGES_FROM, Opener, Progress, send_ranges, send_stream
from engine.connect.winrm_wire import HelperWire
from engine.core.errors import ConnectionFailed, CutoverError, RemoteError, TaskTimeout
from engine.core.model import Host

__all__ = [
    "BOOTSTRAP_SCRIPT",
    "FRAME_ERROR_PREFIX",
    "FRAME_PREFIX",
    "FRAME_PROGRESS_PREFIX",
    "FRAME_REFUSED_PREFIX",
    "MAX_SEND_CHUNK",
    "POWERSHELL",
    "SHELL_CODEPAGE",
    "WinRMConnection",
    "bootstrap_arguments",
    "encode_batch",
    "encode_line",
    "encode_powershell",
]

log = logging.getLogger(__name__)

#: UTF-8 console code page for the shell, so any text a primitive prints stays readable.
SHELL_CODEPAGE = 65001
#: Longest server-side wait of one Receive: bounds how late a deadline or Ctrl-C is noticed.
POLL_SECONDS = 2
#: How much of the helper's stderr is kept to explain a helper that died.
STDERR_KEEP = 16 * 1024
#: MaxEnvelopeSizekb x 1024 of current Windows (500) and older ones (150): a transfer fills its
#: Sends for the first, and for the second once the server has refused the first.
ENVELOPE_CURRENT = 500 * 1024
ENVELOPE_OLDER = 150 * 1024


class _ShellGone(Exception):
    """The server refused a request because our shell no longer exists there (or is full)."""


class _HelperGone(Exception):
    """The server refused a Send because the helper process has exited ("The pipe has been ended")."""


@lru_cache(maxsize=4)
def _script_line(path: str | None) -> bytes:
    """The first stdin line of every helper: the primitives script, built once per process.

    The script is the parts of engine/connect/remote/powershell/ joined in their fixed order;
    `path` replaces it with one file (tests).
    """
    try:
        if path is None:
            text = primitives_script()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise ConnectionFailed(
            f"the PowerShell primitives cannot be read ({exc}); the installation is incomplete"
        ) from None
    return encode_line(text.lstrip("\ufeff").encode("utf-8"))


class WinRMConnection(Connection):
    """A Windows host over WinRM; see the module docstring for why it works this way."""

    platform = "windows"
    label = ""

    def __init__(self, host: Host, *, script_path: str | None = None, persistent: bool | None = None):
        """`script_path` replaces the primitives script (tests); `persistent` the setting."""
        super().__init__(host)
        self.settings = WinRMSettings.from_host(host)
        self.persistent = self.settings.persistent if persistent is None else persistent
        self._script_path = script_path
        self._protocol: Protocol | None = None
        self._shell_id: str | None = None
        self._command_id: str | None = None
        self._io: HelperWire | None = None
        self._reader = FrameReader()
        self._stderr = bytearray()
        self._chunk = MAX_SEND_CHUNK
        self._envelope = ENVELOPE_CURRENT
        self._wire = threading.RLock()
        self._interrupted = threading.Event()
        self._busy = False
        #: What the batch in flight runs, for the message when it is stopped (never its arguments).
        self._running = ""

    # --- the Connection contract -------------------------------------------------------------

    @classmethod
    def check_settings(cls, host: Host) -> None:
        WinRMSettings.from_host(host)

    def open(self) -> None:
        """Authenticate, open the shell and start the helper, so bad settings fail here."""
        with self._wire:
            self._guarded(self._deliver, None, None, None)

    def call(self, calls: list[dict[str, Any]], timeout: float | None = None) -> list[dict[str, Any]]:
        if not calls:
            return []
        line = encode_batch(calls, self.host.name)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wire:
            self._interrupted.clear()
            self._running = running_what(calls)
            self._busy = True
            try:
                data = self._guarded(self._round_trip, line, deadline, timeout)
            finally:
                self._busy = False
        return decode_answers(data, len(calls), self.host.name)

    def interrupt(self) -> None:
        """Ctrl-C: the call in flight stops within `POLL_SECONDS`, its helper terminated."""
        if self._busy:
            self._interrupted.set()

    def send_file(
        self,
        path: str,
        open_source: Opener,
        *,
        size: int | None = None,
        resume: bool = False,
        progress: Progress | None = None,
        timeout: float | None = None,
        sha256: str | None = None,
        local: str | None = None,
    ) -> dict[str, Any]:
        """Stream a source to `path` on the host -> {size, sha256}; see winrm_transfer.

        `local` (the controller file `open_source` opens) with its `size` and `sha256`: from
        RANGES_FROM bytes on, two ranges go at once through two shells (`send_ranges`).
        """
        if local is not None and size is not None and sha256 is not None and size >= RANGES_FROM:
            return send_ranges(
                self, path, local, size, sha256, resume=resume, progress=progress, timeout=timeout
            )
        return send_stream(
            self, path, open_source, size=size, resume=resume, progress=progress, timeout=timeout, sha256=sha256
        )

    # --- what a file transfer needs of its connection (engine/connect/winrm_transfer.py) -------

    @property
    def command_id(self) -> str | None:
        """The helper command in use (a transfer cut by a dropped connection ends the old one)."""
        return self._command_id

    def send_segment(self, line: bytes, data: bytes | memoryview, deadline: float | None) -> None:
        """A segment's line and bytes on the helper's stdin; its answer is read later."""
        timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        with self._wire:
            self._running = "a file transfer"
            self._guarded(self._transfer_send, line, data, deadline, timeout)

    def segment_answer(self, deadline: float | None) -> bytes:
        """The frame answering the oldest segment not answered yet."""
        timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        with self._wire:
            return self._guarded(self._transfer_answer, deadline, timeout)

    def end_command(self, command: str | None) -> None:
        """Terminate an earlier helper command of this shell (one a dropped connection cut, which
        may still hold the file); nothing when it is the one in use or the shell is gone."""
        if command is None or command == self._command_id or self._protocol is None or self._shell_id is None:
            return
        with self._wire:
            self._protocol.cleanup_command(self._shell_id, command)

    def sibling(self) -> WinRMConnection:
        """A second connection to the same host (its own shell and helper), not yet opened: the
        second range of a parallel transfer travels on it."""
        return WinRMConnection(self.host, script_path=self._script_path, persistent=True)

    def close(self) -> None:
        with self._wire:
            protocol, self._protocol = self._protocol, None
            if protocol is None:
                return
            try:
                if self._shell_id and self._command_id:
                    protocol.cleanup_command(self._shell_id, self._command_id)
                if self._shell_id:
                    protocol.close_shell(self._shell_id, close_session=False)
            except Exception as exc:  # closing is best effort: the server reaps idle shells
                log.debug("%s: closing the WinRM shell failed: %s", self.host.name, type(exc).__name__)
            finally:
                protocol.transport.close_session()
                self._shell_id = self._command_id = None

    # --- one batch ---------------------------------------------------------------------------

    def _round_trip(self, line: bytes, deadline: float | None, timeout: float | None) -> bytes:
        """Deliver the batch, then wait for its frame; the one-shot helper is released after."""
        self._deliver(line, deadline, timeout)
        data = self._await_frame(deadline, timeout)
        if not self.persistent:
            self._kill()  # the one-shot helper has exited; Signal releases it on the server
        return data

    def _transfer_send(
        self, line: bytes, data: bytes | memoryview, deadline: float | None, timeout: float | None
    ) -> None:
        """One transfer segment's line and raw bytes, in envelopes as full as the server accepts."""
        self._deliver(None, deadline, timeout)
        self._busy = True  # Ctrl-C stops the transfer between two Sends
        try:
            self._send(data, end=False, deadline=deadline, timeout=timeout, raw=True, head=line)
        finally:
            self._busy = False

    def _transfer_answer(self, deadline: float | None, timeout: float | None) -> bytes:
        """The next segment's frame: one a Receive brought with the one before it, or the next."""
        frame = self._reader.feed(b"")
        if frame is not None:
            if not frame.ok:
                self._kill()
                raise RemoteError(f"PowerShell helper: {frame.data.decode('utf-8', 'replace')}", self.host.name)
            return frame.data
        self._busy = True
        try:
            return self._await_frame(deadline, timeout)
        finally:
            self._busy = False

    def _deliver(self, line: bytes | None, deadline: float | None, timeout: float | None) -> None:
        """Ensure shell and helper, then send `line`; a dropped shell is reopened once.

        Resending is safe here: a shell-gone fault on Command or Send means the server refused
        the request, so no complete batch line reached any helper; the same holds for a Send the
        server refused because the helper had exited (a batch runs only once its whole line is in).
        """
        for attempt in (1, 2):
            try:
                self._session()
                if self._shell_id is None:
                    self._shell_id = self._protocol.open_shell(codepage=SHELL_CODEPAGE, noprofile=False)
                    self._command_id = None
                needs_helper = self._command_id is None if self.persistent else line is not None
                if needs_helper:
                    self._spawn()
                if line is not None:
                    self._send(line, end=not self.persistent, deadline=deadline, timeout=timeout)
                return
            except _ShellGone:
                log.info("%s: the WinRM shell was gone; opening a new one", self.host.name)
                self._shell_id = self._command_id = None
                if attempt == 2:
                    raise ConnectionFailed(
                        f"{self.settings.endpoint} dropped two new shells in a row", self.host.name
                    ) from None
            except _HelperGone:
                self._raise_last_words()
                log.info("%s: the PowerShell helper had ended; starting a new one", self.host.name)
                self._kill()  # releases the ended command on the server
                if attempt == 2:
                    raise ConnectionFailed(
                        "the PowerShell helper ended again as soon as it was started; look for what stops "
                        "powershell.exe on the host (antivirus, the Application event log)",
                        self.host.name,
                    ) from None

    def _session(self) -> None:
        """The Protocol and its HTTP session (NTLM authenticates here), built when missing.

        `trust_env = False`: requests would otherwise re-read proxy variables and .netrc from the
        environment on every request; what a run uses is in the inventory, and it is faster.
        """
        if self._protocol is None:
            self._protocol = Protocol(**self.settings.protocol_kwargs())
        transport = self._protocol.transport
        if transport.session is None:
            transport.build_session().trust_env = False

    def _spawn(self) -> None:
        """Start powershell.exe with the bootstrap and hand it the primitives script."""
        assert self._protocol is not None and self._shell_id is not None
        script = _script_line(self._script_path)
        try:
            self._command_id = self._protocol.run_command(
                self._shell_id,
                POWERSHELL,
                bootstrap_arguments(),
                console_mode_stdin=False,
                skip_cmd_shell=True,
            )
        except WSManFaultError as exc:
            if is_shell_gone(exc):
                raise _ShellGone from exc
            raise
        self._io = HelperWire(self._protocol, self._shell_id, self._command_id)
        self._reader = FrameReader()
        self._stderr.clear()
        self._send(script, end=False, deadline=None, timeout=None)

    def _send(
        self,
        data: bytes | memoryview,
        *,
        end: bool,
        deadline: float | None,
        timeout: float | None,
        raw: bool = False,
        head: bytes = b"",
    ) -> None:
        """stdin in pieces the server accepts; a refused piece is retried smaller.

        `raw` (a transfer): pieces as large as the envelope the server accepts, else at most
        `MAX_SEND_CHUNK` (a batch line). `head` goes first, in the first piece: a transfer's line
        before its segment's bytes, without copying the segment to put them together.
        """
        assert self._io is not None
        view = memoryview(data)
        offset = 0
        while True:
            self._check_stop(deadline, timeout)
            size = self._io.piece_for(self._envelope) if raw else self._chunk
            taken = view[offset : offset + max(size - len(head), 1)]
            piece = head + taken if head else taken
            last = offset + len(taken) >= len(view)
            try:
                self._io.send(piece, end and last, self.settings.operation_timeout)
            except WSManFaultError as exc:
                if is_envelope_limit(exc) and self._smaller(raw):
                    continue
                if is_shell_gone(exc):
                    raise _ShellGone from exc
                if is_pipe_ended(exc):
                    raise _HelperGone from exc
                raise
            offset += len(taken)
            head = b""
            if last:
                return

    def _smaller(self, raw: bool) -> bool:
        """After an envelope refusal: smaller pieces from now on; False when already the smallest."""
        if raw:
            smaller = ENVELOPE_OLDER if self._envelope > ENVELOPE_OLDER else self._envelope // 2
            if self._io is None or self._io.piece_for(smaller) < MIN_SEND_CHUNK:
                return False
            self._envelope = smaller
        else:
            if self._chunk <= MIN_SEND_CHUNK:
                return False
            self._chunk = max(MIN_SEND_CHUNK, self._chunk // 2)
        log.info(
            "%s: server refused the envelope size; %s now %d bytes",
            self.host.name,
            "envelopes" if raw else "pieces",
            self._envelope if raw else self._chunk,
        )
        return True

    def _await_frame(self, deadline: float | None, timeout: float | None) -> bytes:
        """Receive until the helper's frame arrives; the helper exiting first is an error."""
        assert self._protocol is not None and self._shell_id is not None and self._command_id is not None
        while True:
            self._check_stop(deadline, timeout)
            try:
                out, err, code, done = self._receive(self._poll_seconds(deadline))
            except WinRMOperationTimeoutError:
                continue  # no output yet: still running
            except WSManFaultError as exc:
                if is_shell_gone(exc):
                    self._shell_id = self._command_id = None
                    raise ConnectionFailed(
                        "the server dropped the WinRM shell while a batch ran; its outcome is unknown",
                        self.host.name,
                    ) from None
                raise
            if err:
                self._stderr += err
                del self._stderr[:-STDERR_KEEP]
            frame = self._next_answer(out)
            if frame is not None:
                if frame.ok:
                    return frame.data
                self._kill()
                if frame.refused:  # too old a PowerShell or .NET: no point in another helper
                    raise ConnectionFailed(refusal_message(frame.data), self.host.name)
                text = frame.data.decode("utf-8", "replace")
                quota = out_of_memory_reason("the PowerShell helper", text, self.settings.endpoint)
                raise RemoteError(quota or f"PowerShell helper: {text}", self.host.name)
            if done:
                notice = self._death_notice(code)
                self._kill()
                raise RemoteError(notice, self.host.name)

    def _next_answer(self, out: bytes) -> Any:
        """The batch's answer frame in this output, if it is complete; progress frames before it
        go to `on_progress` (one Receive may carry several frames, so the reader is asked again)."""
        frame = self._reader.feed(out) if out else None
        while frame is not None and frame.progress:
            values = frame.progress_values()
            if values is not None and self.on_progress is not None:
                try:
                    self.on_progress(values)
                except Exception:  # noqa: BLE001 - progress is shown at best; the answer must still be read
                    self.on_progress = None
            frame = self._reader.feed(b"")
        return frame

    def _raise_last_words(self) -> None:
        """What an ended helper wrote before it exited: its refusal or failure frame is the reason
        (too old a PowerShell, a script that did not load), raised as a live helper's would be."""
        try:
            out, err, _code, _done = self._receive(1)
        except Exception as exc:  # the output may be gone with the process: then there is nothing to say
            log.debug("%s: no output from the ended helper: %s", self.host.name, type(exc).__name__)
            return
        self._stderr += err
        frame = self._reader.feed(out) if out else None
        if frame is None or frame.ok:
            return
        self._kill()
        if frame.refused:
            raise ConnectionFailed(refusal_message(frame.data), self.host.name)
        raise RemoteError(f"PowerShell helper: {frame.data.decode('utf-8', 'replace')}", self.host.name)

    def _receive(self, wait: int) -> tuple[bytes, bytes, int, bool]:
        """One Receive whose server-side wait is `wait` seconds."""
        assert self._io is not None
        return self._io.receive(wait)

    def _poll_seconds(self, deadline: float | None) -> int:
        wait = min(POLL_SECONDS, self.settings.operation_timeout)
        if deadline is not None:
            wait = min(wait, math.ceil(deadline - time.monotonic()))
        return max(1, wait)

    def _check_stop(self, deadline: float | None, timeout: float | None) -> None:
        """Deadline passed or Ctrl-C: stop the helper, then raise TaskTimeout."""
        stopped = (
            "the remote PowerShell helper and the programs it started were stopped"
            + (f" (it was running {self._running})" if self._running else "")
        )
        if self._interrupted.is_set():
            self._kill()
            raise TaskTimeout(f"interrupted; {stopped}", self.host.name, "timeout")
        if deadline is not None and time.monotonic() >= deadline:
            self._kill()
            raise TaskTimeout(f"no answer within {round(timeout or 0, 1):g} s; {stopped}", self.host.name, "timeout")

    def _kill(self) -> None:
        """Signal terminate to the helper and forget it; the next batch starts a new one."""
        command, self._command_id = self._command_id, None
        self._reader = FrameReader()
        if command is None or self._protocol is None or self._shell_id is None:
            return
        try:
            self._protocol.cleanup_command(self._shell_id, command)
        except Exception as exc:  # the helper may be gone already; the shell reaps it anyway
            log.debug("%s: Signal terminate failed: %s", self.host.name, type(exc).__name__)

    def _death_notice(self, code: int) -> str:
        stderr = _clean_stderr(bytes(self._stderr))
        noise = " | ".join(self._reader.noise)
        detail = stderr or noise or "no output"
        quota = out_of_memory_reason(f"the PowerShell helper (rc {code})", detail, self.settings.endpoint)
        return quota or f"the PowerShell helper exited (rc {code}) without answering: {detail}"

    # --- error handling ----------------------------------------------------------------------

    def _guarded(self, func: Any, *args: Any) -> Any:
        """Run a wire exchange; anything the WinRM stack raises becomes ConnectionFailed."""
        try:
            return func(*args)
        except CutoverError:
            raise
        except Exception as exc:
            if is_transport_failure(exc) and self._protocol is not None:
                # The HTTP session (and its NTLM context) is unusable; the helper's state is
                # unknown, so it is abandoned (the shell's Delete at close ends it).
                self._protocol.transport.close_session()
                self._command_id = None
            raise translate(exc, self.settings) from exc


def running_what(calls: list[dict[str, Any]]) -> str:
    """What a batch runs, for an operator: the primitives, and the program of a process.run (only
    its path: arguments may carry secrets)."""
    shown = []
    for item in calls:
        op = str(item.get("op"))
        argv = (item.get("args") or {}).get("argv") if op == "process.run" else None
        shown.append(f"{op} {argv[0]}" if isinstance(argv, list) and argv and isinstance(argv[0], str) else op)
    return ", ".join(dict.fromkeys(shown))


def _clean_stderr(raw: bytes) -> str:
    """stderr as text; PowerShell's CLIXML error records reduced to their messages."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("#< CLIXML"):
        try:
            root = ET.fromstring(re.sub(r'xmlns="[^"]*"', "", text.split("\n", 1)[1]))
            text = "".join(node.text or "" for node in root.iter("S") if node.get("S") == "Error")
            text = text.replace("_x000D__x000A_", " ")
        except (ET.ParseError, IndexError):
            pass
    return " ".join(text.split())[-2000:]
