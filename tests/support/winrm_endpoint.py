"""A WinRM (WS-Management) test endpoint: real HTTP, real SOAP, real NTLM; no PowerShell.

Test support, not product. It lets the real pywinrm client, and `WinRMConnection` above it,
be exercised on the wire: Create / Command / Send / Receive / Signal / Delete on `/wsman`,
HTTP/1.1 keep-alive, Basic or NTLM authentication with message encryption (pyspnego acceptor),
and Windows' faults, with the codes and texts Windows sends (winrm_soap.py):
- Receive with no output within the OperationTimeout: w:TimedOut 2150858793;
- a request over MaxEnvelopeSizekb (500 KB by default): 2150859025;
- Create past winrs MaxShellsPerUser (30, MS-WSMV 2.2.4.42 WinrsType): w:QuotaLimit 2150859173;
- a shell the client left idle past winrs IdleTimeout (180 s, same table: "the server will wait
  for the specified amount of time since the last received message from the client before
  terminating the open shell"): the shell is gone, w:InvalidSelectors 2150858843;
- Send to a command whose process has exited: "The pipe has been ended." (ERROR_BROKEN_PIPE);
- `max_memory_per_shell_mb`: a helper whose batch takes it past winrs MaxMemoryPerShellMB dies
  of an OutOfMemoryException (no WS-Man fault: Windows refuses the allocation; winrm_shells.py);
- a Send waits while its process has STDIN_BUFFER bytes of stdin it has not read, as a writer to
  a full pipe does, so a client streaming a file faster than it is written never grows the
  endpoint's memory;
- `drop_connection_after(n)`: once n more bytes of stdin have arrived, the TCP connection of the
  Send that crossed the mark is closed without an answer (a network cut mid-transfer); the shell
  and its processes live on, as they do on Windows;
- HTTPS (`tls=True`): a self-signed certificate for 127.0.0.1 made by `openssl` at start, the
  host settings trusting it (`ca_bundle`), so Basic can be tested as it is deployed: over TLS;
- 401 on wrong credentials; over HTTP with NTLM, an unsealed message is refused with HTTP 500, as
  the service's AllowUnencrypted=false (its default) does.
Time is the endpoint's own clock: `advance(seconds)` lets a test pass idle time without waiting.

Each endpoint serves ONE host: the batches the cutover helper would answer are answered by the
simulated host `simulation.host.SimHost` (or by any `dispatch(host_name, calls)` callable), and
file transfers on raw stdin are written to the files behind the host's paths (`locate`, the
SimHost's by default; tests/support/winrm_receive.py).
Several endpoints can run at once (a three-server estate).

Use it from pytest through the `winrm_endpoint` fixture (a factory; import
`winrm_endpoint_fixture` into the test module), or from a script:

    with WinRMEndpoint("web1", auth="ntlm", state_dir=tmp) as ep:
        conn = WinRMConnection(ep.host())
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.connect import b64
from engine.core.errors import ConnectionFailed
from engine.core.model import Host
from tests.support import winrm_soap as soap
from tests.support.winrm_auth import (
    ENCRYPTED_CONTENT_TYPE,
    NtlmServerAuth,
    basic_ok,
    register_ntlm_user,
    restore_ntlm_user_file,
)
from tests.support.winrm_receive import DiskReceiver, Locate
from tests.support.winrm_shells import HostRuntime, Process, Runner, Shell, start_process

Dispatch = Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]]
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
#: Windows' default MaxEnvelopeSizekb (500 KB).
DEFAULT_MAX_ENVELOPE = 500 * 1024
#: What pywinrm announces in every request (w:MaxEnvelopeSize); bounds each Receive answer.
CLIENT_MAX_ENVELOPE = 153600
#: winrm/config/winrs defaults of MS-WSMV 2.2.4.42 WinrsType: MaxShellsPerUser, IdleTimeout (s).
DEFAULT_MAX_SHELLS_PER_USER = 30
DEFAULT_IDLE_TIMEOUT = 180.0
#: The status `handle` gives for "close the connection without answering" (drop_connection_after).
DROP = 0


class WinRMEndpoint:
    """One WS-Management endpoint on 127.0.0.1:<free port> serving one (simulated) host.

    `stats` counts what the endpoint saw: create, command, send, receive, signal, delete,
    receive_timeout, envelope_rejected, auth_rejected, shell_not_found, quota_rejected,
    shell_quota_rejected, idle_expired, pipe_ended, unencrypted_rejected, sealed, dropped, largest_batch
    (the JSON size of the largest batch the helper answered) and largest_envelope (the largest
    SOAP envelope accepted, in bytes).
    `allow_unencrypted` is the service's AllowUnencrypted; None: false for NTLM (Windows' default,
    NTLM seals every message), true for Basic (a test server configured for it).
    """

    def __init__(
        self,
        name: str = "win1",
        *,
        auth: str = "ntlm",
        user: str = "cutover",
        password: str = "Secr3t-pass",
        state_dir: str | Path | None = None,
        initial: dict[str, Any] | None = None,
        dispatch: Dispatch | None = None,
        max_envelope_size: int = DEFAULT_MAX_ENVELOPE,
        max_commands_per_shell: int | None = None,
        max_shells_per_user: int = DEFAULT_MAX_SHELLS_PER_USER,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        allow_unencrypted: bool | None = None,
        ntlm_user_file: str | Path | None = None,
        runtime: HostRuntime | None = None,
        locate: Locate | None = None,
        tls: bool = False,
        max_memory_per_shell_mb: int | None = None,
    ) -> None:
        if auth not in ("basic", "ntlm"):
            raise ValueError(f"auth must be 'basic' or 'ntlm', not {auth!r}")
        self.name = name
        self.auth = auth
        self.user = user
        self.password = password
        self.max_envelope_size = max_envelope_size
        self.max_commands_per_shell = max_commands_per_shell
        self.max_shells_per_user = max_shells_per_user
        self.idle_timeout = idle_timeout
        #: winrs MaxMemoryPerShellMB (None: not enforced): a helper whose batch line takes it past
        #: the limit dies of an OutOfMemoryException, as on Windows (winrm_shells.over_memory_quota).
        self.max_memory_per_shell_mb = max_memory_per_shell_mb
        self.allow_unencrypted = auth == "basic" if allow_unencrypted is None else allow_unencrypted
        self._clock_offset = 0.0
        #: The Windows PowerShell and .NET Framework the host's bootstrap finds.
        self.runtime = runtime or HostRuntime()
        self.stats: Counter[str] = Counter()
        #: how many times each primitive reached the host
        self.ops: Counter[str] = Counter()
        #: the args of every process.run that reached the host, in order
        self.programs: list[dict[str, Any]] = []
        self.shells: dict[str, Shell] = {}
        self._lock = threading.RLock()
        self._dispatch_lock = threading.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._state_dir = state_dir
        self._initial = initial
        self._dispatch = dispatch
        self.sim: Any = None
        self._ntlm_file = Path(ntlm_user_file) if ntlm_user_file else None
        self._ntlm_previous: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._locate = locate
        self.tls = tls
        #: the certificate (PEM) clients trust when `tls`
        self.certificate: Path | None = None
        self.receiver: DiskReceiver | None = None
        #: stdin bytes still to arrive before the connection is cut (None: never)
        self._drop_in: int | None = None

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> WinRMEndpoint:
        if self._dispatch is None:
            from simulation.host import SimHost

            if self._state_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="winrm-endpoint-")
                self._state_dir = self._tmp.name
            self.sim = SimHost.open(self._state_dir, self.name, self._initial)
        locate = self._locate or (self.sim.path if self.sim is not None else None)
        self.receiver = DiskReceiver(locate) if locate is not None else None
        if self.auth == "ntlm":
            if self._ntlm_file is None:
                self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="winrm-endpoint-")
                self._ntlm_file = Path(self._tmp.name) / "ntlm_users"
            self._ntlm_previous = register_ntlm_user(self._ntlm_file, self.user, self.password)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.endpoint = self
        if self.tls:
            self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="winrm-endpoint-")
            self._server.socket = self._tls_context(Path(self._tmp.name)).wrap_socket(
                self._server.socket, server_side=True
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"winrm-{self.name}",
        )
        self._thread.start()
        return self

    def _tls_context(self, folder: Path) -> ssl.SSLContext:
        """A server context with a fresh self-signed certificate for 127.0.0.1 (kept in `certificate`)."""
        self.certificate, key = folder / "endpoint.pem", folder / "endpoint.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.certificate)],
            check=True, capture_output=True,
        )  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, key)
        return context

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all()
        server.server_close()
        self.drop_shells()
        if self.auth == "ntlm":
            restore_ntlm_user_file(self._ntlm_previous)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> WinRMEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "endpoint not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/wsman"

    def settings(self, **winrm: Any) -> dict[str, Any]:
        """Host settings that reach this endpoint (plain HTTP, NTLM sealing every message; or HTTPS)."""
        tls = {"scheme": "https", "ca_bundle": str(self.certificate)} if self.tls else {"scheme": "http"}
        return {
            "connection": "winrm",
            "address": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "winrm": {"transport": self.auth, **tls, **winrm},
        }

    def host(self, name: str | None = None, *, password: str | None = None, **winrm: Any) -> Host:
        """A `Host` for this endpoint; `password` overrides the right one (wrong-credential tests)."""
        settings = self.settings(**winrm)
        if password is not None:
            settings["password"] = password
        return Host(name=name or self.name, address="127.0.0.1", connection="winrm", settings=settings)

    def now(self) -> float:
        """The endpoint's clock (monotonic seconds, moved on by `advance`)."""
        return time.monotonic() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass on the endpoint's clock, as if the client sent nothing meanwhile."""
        with self._lock:
            self._clock_offset += seconds

    def end_processes(self, exit_code: int = 1) -> int:
        """Every running command ends on the host (killed, crashed); returns how many did."""
        ended = [p for p in self.processes() if not p.ended]
        for process in ended:
            process.die(exit_code)
        return len(ended)

    def drop_shells(self) -> int:
        """Forget every shell, as a WinRM service restart or idle timeout does; returns how many."""
        with self._lock:
            shells = list(self.shells.values())
            self.shells.clear()
        for shell in shells:
            shell.close()
        return len(shells)

    def drop_connection_after(self, stdin_bytes: int) -> None:
        """Cut the TCP connection of the Send with which `stdin_bytes` more bytes have arrived
        (its data reaches the process; the client gets no answer, as when a network cuts out)."""
        with self._lock:
            self._drop_in = stdin_bytes

    def processes(self) -> list[Process]:
        with self._lock:
            return [p for s in self.shells.values() for p in s.processes.values()]

    # --- WS-Management -------------------------------------------------------------------------

    def handle(self, body: bytes) -> tuple[int, bytes]:
        """One SOAP request in, (HTTP status, SOAP answer) out."""
        try:
            request = soap.parse_request(body)
        except soap.SoapError as exc:
            return 500, soap.invalid_request_fault(str(exc)).render("", "127.0.0.1")
        if len(body) > self.max_envelope_size:
            self.stats["envelope_rejected"] += 1
            return self._fault(request, soap.envelope_too_large_fault(len(body), self.max_envelope_size))
        self.stats["largest_envelope"] = max(self.stats["largest_envelope"], len(body))
        action = getattr(self, f"_on_{request.action.lower()}", None)
        if action is None:
            return self._fault(request, soap.invalid_request_fault(f"unsupported action {request.action}"))
        self.stats[request.action.lower()] += 1
        return action(request)

    def _fault(self, request: soap.WsmanRequest, fault: soap.Fault) -> tuple[int, bytes]:
        return 500, fault.render(request.message_id, "127.0.0.1")

    def _shell(self, request: soap.WsmanRequest) -> Shell | None:
        """The request's shell, unless it is gone; a shell found is active from now on."""
        with self._lock:
            self._expire_idle()
            shell = self.shells.get(request.shell_id or "")
            if shell is not None:
                shell.last_seen = self.now()
            return shell

    def _expire_idle(self) -> None:
        """Delete the shells the client left idle past the IdleTimeout (with their processes)."""
        now = self.now()
        for shell_id, shell in list(self.shells.items()):
            if now - shell.last_seen > self.idle_timeout:
                del self.shells[shell_id]
                shell.close()
                self.stats["idle_expired"] += 1

    def _missing(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        self.stats["shell_not_found"] += 1
        return self._fault(request, soap.shell_not_found_fault(request.shell_id or ""))

    def _on_create(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        with self._lock:
            self._expire_idle()
            if len(self.shells) >= self.max_shells_per_user:  # one user per endpoint
                self.stats["shell_quota_rejected"] += 1
                return self._fault(request, soap.max_shells_fault())
            shell = Shell(request.options.get("WINRS_CODEPAGE", "437"), self.now(), request.options)
            self.shells[shell.id] = shell
        return 200, soap.create_response(request.message_id, self.url, shell.id)

    def _on_delete(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        with self._lock:
            shell = self.shells.pop(request.shell_id or "", None)
        if shell is None:
            return self._missing(request)
        shell.close()
        return 200, soap.delete_response(request.message_id)

    def _on_command(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        shell = self._shell(request)
        if shell is None:
            return self._missing(request)
        limit = self.max_commands_per_shell
        if limit is not None and shell.commands_started >= limit:
            self.stats["quota_rejected"] += 1
            return self._fault(request, soap.max_operations_fault(limit))
        command = request.find("rsp:CommandLine/rsp:Command")
        arguments = request.find("rsp:CommandLine/rsp:Arguments")
        process = start_process(
            shell,
            (command.text or "") if command is not None else "",
            (arguments.text or "") if arguments is not None else "",
            request.options,
            self.name,
            self._runner(),
            self.runtime,
            self.receiver,
            self.max_memory_per_shell_mb,
        )
        return 200, soap.command_response(request.message_id, process.id)

    def _process(self, request: soap.WsmanRequest, path: str) -> tuple[Shell | None, Process | None]:
        shell = self._shell(request)
        node = request.find(path)
        command_id = node.get("CommandId", "") if node is not None else ""
        return shell, shell.processes.get(command_id) if shell else None

    def _on_send(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        shell, process = self._process(request, "rsp:Send/rsp:Stream")
        if process is None:
            return self._missing(request)
        stream = request.find("rsp:Send/rsp:Stream")
        assert stream is not None
        if process.ended:
            self.stats["pipe_ended"] += 1
            return self._fault(request, soap.pipe_ended_fault())
        data = request.stream_data if request.stream_data is not None else b64.decode(stream.text or "")
        process.feed(data, stream.get("End", "false").lower() == "true", wait=request.operation_timeout)
        with self._lock:
            if self._drop_in is not None:
                self._drop_in -= len(data)
                if self._drop_in <= 0:
                    self._drop_in = None
                    self.stats["dropped"] += 1
                    return DROP, b""
        return 200, soap.send_response(request.message_id)

    def _on_receive(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        shell, process = self._process(request, "rsp:Receive/rsp:DesiredStream")
        if process is None:
            return self._missing(request)
        envelope = min(request.max_envelope or CLIENT_MAX_ENVELOPE, self.max_envelope_size)
        limit = max((envelope - 4096) * 3 // 4, 1024)
        taken = process.take(limit, request.operation_timeout)
        if self._shell(request) is not shell:  # dropped while the Receive waited
            return self._missing(request)
        if taken is None:
            self.stats["receive_timeout"] += 1
            return self._fault(request, soap.timeout_fault())
        out, err, code = taken
        return 200, soap.receive_response(
            request.message_id,
            process.id,
            b64.encode(out).decode("ascii"),
            b64.encode(err).decode("ascii"),
            code,
        )

    def _on_signal(self, request: soap.WsmanRequest) -> tuple[int, bytes]:
        shell, process = self._process(request, "rsp:Signal")
        if shell is None:
            return self._missing(request)
        code = request.find("rsp:Signal/rsp:Code")
        if process is not None and code is not None and (code.text or "").strip() == soap.SIGNAL_TERMINATE:
            process.terminate()
            shell.processes.pop(process.id, None)
            self.stats["terminate"] += 1
        return 200, soap.signal_response(request.message_id)

    def _runner(self) -> Runner:
        def run(
            host: str,
            calls: list[dict[str, Any]],
            cancel: threading.Event,
            progress: Callable[[dict[str, Any]], None],
        ) -> list[dict[str, Any]]:
            size = len(json.dumps(calls))
            self.stats["largest_batch"] = max(self.stats["largest_batch"], size)
            self.ops.update(str(call.get("op")) for call in calls)
            self.programs.extend(
                dict(call.get("args") or {}) for call in calls if call.get("op") == "process.run"
            )
            with self._dispatch_lock:
                if self._dispatch is not None:
                    return self._dispatch(host, calls)
                try:
                    return self.sim.call(calls, cancel=cancel, progress=progress)
                except ConnectionFailed:
                    self.drop_shells()  # a `connection` fault: the host drops off the network
                    raise

        return run


class _Server(ThreadingHTTPServer):
    """Threading HTTP server that knows its endpoint and can cut its keep-alive connections."""

    daemon_threads = True
    allow_reuse_address = True
    endpoint: WinRMEndpoint

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._sockets_lock:
            self._sockets.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self._sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._sockets_lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """One TCP connection: HTTP/1.1 keep-alive, so NTLM state lives here, per connection."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.ntlm: NtlmServerAuth | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Quiet: pytest output stays readable."""

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        endpoint = self.server.endpoint
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/wsman":
            self._reply(404, b"", "text/plain")
            return
        sealed = False
        if endpoint.auth == "basic":
            if not basic_ok(self.headers.get("Authorization"), endpoint.user, endpoint.password):
                endpoint.stats["auth_rejected"] += 1
                self._reply(401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
                return
        else:
            if self.ntlm is None:
                self.ntlm = NtlmServerAuth(endpoint.user)
            header = self.headers.get("Authorization")
            if header or not self.ntlm.complete:
                status, challenge = self.ntlm.step(header)
                if status == 401:
                    endpoint.stats["auth_rejected" if self.ntlm.rejected else "auth_round"] += 1
                    self._reply(401, b"", "text/plain", {"WWW-Authenticate": challenge or "Negotiate"})
                    return
            if self.headers.get("Content-Type", "").startswith("multipart/encrypted"):
                body = self.ntlm.unseal(body)
                sealed = True
                endpoint.stats["sealed"] += 1
            elif body and not endpoint.allow_unencrypted:
                endpoint.stats["unencrypted_rejected"] += 1
                self._reply(500, b"", SOAP_CONTENT_TYPE)
                return
        if not body:
            self._reply(200, b"", SOAP_CONTENT_TYPE)  # end of the NTLM handshake (no SOAP yet)
            return
        status, answer = endpoint.handle(body)
        if status == DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if sealed:
            assert self.ntlm is not None
            self._reply(status, self.ntlm.seal(answer), ENCRYPTED_CONTENT_TYPE)
        else:
            self._reply(status, answer, SOAP_CONTENT_TYPE)

    def _reply(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(name="winrm_endpoint")
def winrm_endpoint_fixture(tmp_path: Path) -> Iterator[Callable[..., WinRMEndpoint]]:
    """Factory: `winrm_endpoint("web1", auth="ntlm", ...)` starts an endpoint, stopped at the end.

    Every endpoint of one test shares the test's NTLM_USER_FILE (set here, restored after).
    """
    started: list[WinRMEndpoint] = []
    users = tmp_path / "ntlm_users"

    def start(name: str = "win1", **options: Any) -> WinRMEndpoint:
        options.setdefault("state_dir", tmp_path / "state")
        options.setdefault("ntlm_user_file", users)
        endpoint = WinRMEndpoint(name, **options).start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in reversed(started):
        endpoint.stop()
