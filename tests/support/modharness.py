"""Run one module the way the executor does, without a playbook: for module tests.

`run_module("copy", {...}, connection=conn)` validates the arguments against the module's schema
(a test with a wrong argument fails like a playbook would), builds a RunContext/TaskContext with
the engine's templating, calls `module.run`, and turns `ModuleFailed` into a failed Result as the
executor does. Host connections are real: `local_connection()` opens the real LocalConnection
(the POSIX helper as a child process) and closes it afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.api.module import Gatekeeper, ModuleFailed, Result, RunContext, TaskContext
from engine.api.primitives import Remote
from engine.api.registry import ModuleRegistry
from engine.connect.base import Connection
from engine.core.errors import UserError
from engine.core.model import Host

_REGISTRY = ModuleRegistry()


def local_host(name: str = "local") -> Host:
    return Host(name=name, address="127.0.0.1", connection="local")


@contextmanager
def local_connection(host: Host | None = None) -> Iterator[Connection]:
    """An opened LocalConnection to the controller itself, closed on exit."""
    from engine.connect.local import LocalConnection

    conn = LocalConnection(host or local_host())
    conn.open()
    try:
        yield conn
    finally:
        conn.close()


def templating(variables: Mapping[str, Any]) -> tuple[Any, Any]:
    """(render, evaluate) for the task's variables, using the engine's Templar."""
    from engine.load.templating import Templar

    templar = Templar(dict(variables))
    return templar.render, templar.evaluate


def check_args(name: str, args: Any) -> dict[str, Any]:
    """Free-form text placed under the module's key, then the schema applied (UserError on a mistake)."""
    from jsonschema import Draft202012Validator

    module = _REGISTRY.get(name)
    if isinstance(args, str):
        if not module.free_form:
            raise UserError(f"module {name} takes no free-form argument")
        args = {module.free_form: args}
    errors = sorted(
        Draft202012Validator(module.schema).iter_errors(args), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise UserError(
            "; ".join(f"{name}: {'/'.join(map(str, e.absolute_path)) or 'args'}: {e.message}" for e in errors)
        )
    return dict(args)


def run_module(
    name: str,
    args: Any,
    connection: Connection | None = None,
    check: bool = False,
    diff: bool = False,
    vars: Mapping[str, Any] | None = None,
    gatekeeper: Gatekeeper | None = None,
    playbook_dir: str | os.PathLike[str] = ".",
    run: RunContext | None = None,
) -> Result:
    """Run module `name` once against `connection` (None: a controller-only module)."""
    module = _REGISTRY.get(name)
    checked = check_args(name, args)
    host = connection.host if connection is not None else local_host()
    run = run or RunContext(
        run_id="test",
        operator="tester",
        check_mode=check,
        diff_mode=diff,
        gatekeeper=gatekeeper or Gatekeeper(),
    )
    render, evaluate = templating(vars or {})
    ctx = TaskContext(
        host=host,
        vars=dict(vars or {}),
        remote=Remote(connection) if connection is not None else None,
        run=run,
        task_name=name,
        render=render,
        evaluate=evaluate,
        playbook_dir=str(playbook_dir),
    )
    try:
        return module.run(ctx, checked)
    except ModuleFailed as exc:
        return Result(failed=True, msg=str(exc), output=dict(exc.output))


@contextmanager
def http_server(routes: Mapping[str, tuple[int, str]]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering `path -> (status, body)`; yields its base URL."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's spelling
            status, body = routes.get(self.path, (404, "not found"))
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def snapshot(root: str | os.PathLike[str]) -> dict[str, tuple[str, int, str]]:
    """Everything below `root`: relative path -> (type, mode, sha256 or link target), to prove
    that a check-mode run changed nothing."""
    out: dict[str, tuple[str, int, str]] = {}
    base = Path(root)
    for path in sorted(base.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(base))
        if path.is_symlink():
            out[rel] = ("link", st.st_mode & 0o7777, os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", st.st_mode & 0o7777, "")
        else:
            out[rel] = ("file", st.st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
    return out
