"""Programs the simulated host can run: `process.run`, `service.install` and `service.uninstall`.

`argv[0]` is resolved in this order:
1. plug-ins registered with `register_program(name_or_glob, handler)` (newest first): a pattern
   without `\\` matches the program's file name (`setup.exe`, `*.msi`), one with `\\` the full
   path (`C:\\Install\\SageCRM*\\setup.exe`), both without case;
2. built-ins: `regsvr32 [/s] [/u] path`, `iisreset [/stop|/start|/restart|/status]`,
   `cmd /c <command>` (`exit N`, `echo`, or another program), `shutdown /r` (a restart, see
   `windows.restart`), `winrm.cmd get winrm/config/winrs -format:xml`; `powershell` is refused,
   never interpreted;
3. the host's `programs` table: a service executable (`{"service": "eWareEmailManager"}`)
   installs its service with `/i` and removes it with `/u`; any other entry answers its canned
   `rc`/`stdout`/`stderr`. When argv[0] is a path, that file must exist on the host;
4. anything else: rc 9009 and cmd's "is not recognized" message.

A handler is `handler(host, argv: list[str], stdin: bytes) -> (rc, stdout, stderr)` (str, or
bytes as the program writes them to its console: decoded with the host's OEM code page), where `host` is the `simulation.host.SimHost` serving the call. It runs under the host's
lock and may change the host through SimHost's helper methods (`write_bytes`,
`set_registry_value`, `install_service`, `set_product`, ...) or `host.state`; the change is saved
when the call ends. `host.process` holds its `cwd` and `env`.
"""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from engine.core.errors import UserError
from simulation.core import HostState, arg_bool, arg_str, find_key, op
from simulation.dlls import regsvr32
from simulation.errors import SimError
from simulation.files import decode_b64
from simulation.iis import iis_reset, iis_service_state
from simulation.paths import parse_path
from simulation.services import find_service, install_service, restart
from simulation.services import uninstall_service as remove_service
from simulation.windows import WINDOWS_DEFAULTS, WINRS_DEFAULTS

#: `handler(host, argv, stdin)`: `host` is the SimHost serving the call (typed Any: this module is
#: below simulation.host, which imports it).
ProgramHandler = Callable[[Any, list[str], bytes], tuple[int, "str | bytes", "str | bytes"]]
Outcome = tuple[int, str, str]

_HANDLERS: list[tuple[str, ProgramHandler]] = []
NOT_RECOGNIZED = 9009


def register_program(name_or_glob: str, handler: ProgramHandler) -> None:
    """Let `handler` answer for the programs matching `name_or_glob` (replaces the same pattern)."""
    if not isinstance(name_or_glob, str) or not name_or_glob:
        raise ValueError("register_program needs a program name or glob")
    unregister_program(name_or_glob)
    _HANDLERS.insert(0, (name_or_glob, handler))


def unregister_program(name_or_glob: str) -> bool:
    """Forget a registration; True when there was one."""
    before = len(_HANDLERS)
    _HANDLERS[:] = [(p, h) for p, h in _HANDLERS if p.casefold() != name_or_glob.casefold()]
    return len(_HANDLERS) != before


def load_plugin(module: str) -> None:
    """Import a plug-in module of the host state's `plugins` list, and call its `plug_in()` if any.

    A plug-in registers its program handlers when imported, or in `plug_in()`, which every open
    of the host calls again (so a handler replaced or removed since, e.g. by a test, comes back).
    """
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"simulated host plug-in {module!r} cannot be imported: {exc}") from None
    plug_in = getattr(loaded, "plug_in", None)
    if callable(plug_in):
        plug_in()


def split_command(line: str) -> list[str]:
    """Split a command line as cmd does for our purposes: spaces separate, double quotes group."""
    try:
        return [
            t[1:-1] if len(t) >= 2 and t[0] == t[-1] == '"' else t for t in shlex.split(line, posix=False)
        ]
    except ValueError:
        raise SimError("invalid", f"cannot split command line {line!r} (unbalanced quotes)") from None


def windows_argument(value: str) -> str:
    """One argument quoted as the helper's ConvertTo-CutoverArgument quotes it (for CommandLineToArgvW)."""
    if value and not re.search(r'[\s"]', value):
        return value
    out, slashes = ['"'], 0
    for char in value:
        if char == "\\":
            slashes += 1
            continue
        out.append("\\" * (2 * slashes + 1) if char == '"' else "\\" * slashes)
        out.append(char)
        slashes = 0
    out.append("\\" * (2 * slashes) + '"')
    return "".join(out)


def command_line(argv: list[str], use_shell: bool) -> str:
    """The command line the program gets on Windows: what programs that parse it themselves read.

    Without `shell` each argument is quoted (windows_argument); with it, `cmd.exe /d /s /c "<line>"`
    strips the outer quotes and passes `argv[0]` as written, the other arguments quoted.
    """
    words = [argv[0] if use_shell else windows_argument(argv[0])]
    return " ".join(words + [windows_argument(a) for a in argv[1:]])


def _basename(program: str) -> str:
    return program.replace("/", "\\").rsplit("\\", 1)[-1]


def oem_codepage(host: HostState) -> int:
    """The host's OEM code page (`windows: {oem_codepage: N}`: 850 on a French or German server,
    437 on a US one): what a console program started without a console window writes in, and what
    process.run decodes its output with (engine/connect/remote/powershell/processes.ps1)."""
    return int(host.state.get("windows", {}).get("oem_codepage", WINDOWS_DEFAULTS["oem_codepage"]))


def _text(host: HostState, value: str | bytes) -> str:
    """A handler's output as the helper reads it: bytes are what the program wrote to its
    console, decoded with the host's OEM code page as Windows' StandardOutputEncoding would;
    a str is text already decoded."""
    if not isinstance(value, bytes):
        return str(value)
    return value.decode(f"cp{oem_codepage(host)}", "replace")


def _not_recognized(program: str) -> Outcome:
    return (
        NOT_RECOGNIZED,
        "",
        f"'{program}' is not recognized as an internal or external command,\r\n"
        "operable program or batch file.\r\n",
    )


def run_program(
    host: HostState, argv: list[str], stdin: bytes = b"", timeout: float | None = None
) -> Outcome:
    """Run argv on the simulated host -> (rc, stdout, stderr)."""
    program = argv[0]
    name = _basename(program)
    for pattern, handler in _HANDLERS:
        subject = str(parse_path(program)) if "\\" in pattern and _is_path(program) else name
        if fnmatchcase(subject.casefold(), pattern.casefold()):
            rc, out, err = handler(host, list(argv), stdin)
            return int(rc), _text(host, out), _text(host, err)
    stem = name.casefold().removesuffix(".exe")
    builtin = _BUILTINS.get(stem)
    if builtin is not None:
        return builtin(host, argv[1:], stdin, timeout)
    return _from_table(host, argv, timeout)


def _is_path(program: str) -> bool:
    return "\\" in program.replace("/", "\\")


def _from_table(host: HostState, argv: list[str], timeout: float | None) -> Outcome:
    program = argv[0]
    programs = host.state.get("programs", {})
    name = _basename(program)
    key = find_key(programs, name)
    if key is None and not name.casefold().endswith(".exe"):
        key = find_key(programs, name + ".exe")
    if key is None:
        return _not_recognized(program)
    if _is_path(program):
        try:
            where = parse_path(program)
        except SimError:
            return _not_recognized(program)
        if where.drive not in host.state.get("disks", {}) or not host.fs.locate(where).is_file():
            return _not_recognized(program)
        location = str(host.fs.display(where))
    else:
        location = programs[key].get("path", program)
    entry = programs[key]
    duration = float(entry.get("duration", 0) or 0)
    if timeout is not None and duration > timeout:
        raise SimError(
            "timeout", f"{program} ran past its timeout of {timeout}s and was stopped (simulation)"
        )
    if "service" in entry:
        return _service_program(host, entry, location, argv[1:])
    return int(entry.get("rc", 0)), str(entry.get("stdout", "")), str(entry.get("stderr", ""))


def _service_program(host: HostState, entry: dict[str, Any], location: str, args: list[str]) -> Outcome:
    """A Sage CRM service executable: `/i` installs its service, `/u` removes it."""
    flags = {a.casefold() for a in args}
    service = entry["service"]
    if "/i" in flags:
        if find_service(host.state, service) is not None:
            return 1, "", "The specified service already exists.\r\n"
        install_service(host, service, location, entry.get("start_mode", "auto"), entry.get("display_name"))
        return 0, f"Service {service} installed.\r\n", ""
    if "/u" in flags:
        if not remove_service(host, service):
            return 1, "", "The specified service does not exist as an installed service.\r\n"
        return 0, f"Service {service} removed.\r\n", ""
    return 1, "", f"{service}: use /i to install or /u to uninstall the service.\r\n"


# --- built-in programs -------------------------------------------------------------------------------
def _regsvr32(host: HostState, args: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    flags = {a.casefold() for a in args if a.startswith("/") and len(a) <= 3}
    paths = [a for a in args if a.casefold() not in flags]
    if not paths:
        return 1, "", "To register a module, you must provide a binary name.\r\n"
    rc, _changed, message = regsvr32(host, paths[0], "/u" in flags)
    return rc, "" if "/s" in flags else message + "\r\n", "" if rc == 0 else message + "\r\n"


def _iisreset(host: HostState, args: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    if "iis" not in host.state or find_service(host.state, "W3SVC") is None:
        return _not_recognized("iisreset")
    flags = [a.casefold() for a in args] or ["/restart"]
    if flags[0] == "/status":
        return (
            0,
            f"Status for World Wide Web Publishing Service ( W3SVC ) : {iis_service_state(host)}\r\n",
            "",
        )
    action = {"/stop": "stop", "/start": "start", "/restart": "restart"}.get(flags[0])
    if action is None:
        return 1, "", f"Invalid option {args[0]}; use /stop, /start, /restart or /status.\r\n"
    iis_reset(host, action)
    lines = {
        "stop": "Attempting stop...\r\nInternet services successfully stopped\r\n",
        "start": "Attempting start...\r\nInternet services successfully started\r\n",
        "restart": "Attempting stop...\r\nInternet services successfully stopped\r\n"
        "Attempting start...\r\nInternet services successfully restarted\r\n",
    }
    return 0, lines[action], ""


def _cmd(host: HostState, args: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    rest = list(args)
    while rest and rest[0].casefold() in ("/s", "/q", "/d"):
        rest.pop(0)
    if not rest or rest[0].casefold() not in ("/c", "/k"):
        return 1, "", "The simulated cmd runs only `cmd /c <command>`.\r\n"
    words = split_command(" ".join(rest[1:])) if len(rest) == 2 else rest[1:]
    return shell(host, words, stdin, timeout)


def shell(host: HostState, words: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    """cmd's own commands `exit N` and `echo`, otherwise the program named by the first word."""
    if not words:
        return 0, "", ""
    first = words[0].casefold()
    if first == "exit":
        code = words[-1] if len(words) > 1 and words[-1].casefold() != "/b" else "0"
        try:
            return int(code), "", ""
        except ValueError:
            return 0, "", ""
    if first == "echo":
        return 0, " ".join(words[1:]) + "\r\n", ""
    return run_program(host, words, stdin, timeout)


def _powershell(host: HostState, args: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    return (
        1,
        "",
        "powershell: scripts are not supported on simulated hosts (powershell is not interpreted "
        "by the simulation); use the modules, which it implements\r\n",
    )


def _shutdown(host: HostState, args: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    if "/r" not in {a.casefold() for a in args}:
        return 1, "", "the simulation's shutdown only restarts (/r)\r\n"
    restart(host)
    return 0, "", ""


def _winrm(host: HostState, args: list[str], stdin: bytes, timeout: float | None) -> Outcome:
    """`winrm get winrm/config/winrs -format:xml`, the only use the simulation has for winrm.cmd:
    the host's winrs settings in the config schema's XML, as winrm.vbs prints them."""
    if [a.casefold() for a in args] != ["get", "winrm/config/winrs", "-format:xml"]:
        return 1, "", "The simulated winrm answers only `winrm get winrm/config/winrs -format:xml`.\r\n"
    values = {**WINRS_DEFAULTS, **host.state.get("windows", {}).get("winrs", {})}
    fields = "".join(
        f"<cfg:{name}>{str(value).lower() if isinstance(value, bool) else value}</cfg:{name}>"
        for name, value in values.items()
    )
    return 0, f'<cfg:Winrs xmlns:cfg="{WINRS_NAMESPACE}">{fields}</cfg:Winrs>\r\n', ""


#: The namespace of winrm/config/winrs (MS-WSMV 2.2.4.42).
WINRS_NAMESPACE = "http://schemas.microsoft.com/wbem/wsman/1/config/winrs"

_BUILTINS: dict[str, Callable[[HostState, list[str], bytes, float | None], Outcome]] = {
    "winrm.cmd": _winrm,
    "regsvr32": _regsvr32,
    "iisreset": _iisreset,
    "cmd": _cmd,
    "powershell": _powershell,
    "pwsh": _powershell,
    "shutdown": _shutdown,
}


# --- primitives ----------------------------------------------------------------------------------------
def _argv(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value) or not value[0]:
        raise SimError("invalid", f"argv must be a non-empty list of strings, not {value!r}")
    for at, item in enumerate(value):
        if "\0" in item:
            raise SimError(
                "invalid",
                f"argv[{at}] contains a NUL character (\\0) at position {item.index(chr(0))}: "
                "a Windows command line ends at NUL",
            )
    return list(value)


@op("process.run")
def process_run(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    argv = _argv(args.get("argv"))
    use_shell = arg_bool(args, "shell", False)
    env = args.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and "\0" not in k + v for k, v in env.items()
    ):
        raise SimError("invalid", "env must map names to string values without NUL")
    timeout = args.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise SimError("invalid", f"timeout must be a number of seconds > 0, not {timeout!r}")
    stdin = b""
    if args.get("stdin_b64") is not None:
        stdin = decode_b64(args["stdin_b64"], "stdin_b64")
    cwd = args.get("cwd")
    if cwd is not None:
        where = parse_path(cwd)
        host.require_drive(where)
        if not host.fs.locate(where).is_dir():
            raise SimError("not_found", f"The directory name is invalid: {cwd} does not exist")
        cwd = str(host.fs.display(where))
    log = args.get("progress_log")
    if log is not None:
        log = str(parse_path(log))
    host.process = {"cwd": cwd, "env": dict(env), "command_line": command_line(argv, use_shell)}
    if log is not None:
        host.process["progress_log"] = log
    try:
        if use_shell:
            rc, out, err = shell(host, split_command(argv[0]) + argv[1:], stdin, timeout)
        else:
            rc, out, err = run_program(host, argv, stdin, timeout)
    finally:
        host.process = None
    answer: dict[str, Any] = {"rc": rc, "stdout": out, "stderr": err}
    if log is not None:
        answer["progress_last"] = _last_line(host, log)
    return answer


def log_line(host: Any, path: str, line: str) -> None:
    """A program appends `line` to its log `path` (CRLF, UTF-8), as a real one writes as it goes.

    When the `process.run` serving the program tails that log (`progress_log`), the line also goes
    out as a progress frame at once: the simulation has no wall clock, so each line written is one
    poll of the helper's tail (which would send it within two seconds).
    """
    data = host.read_bytes(path) if host.exists(path) else b""
    host.write_bytes(path, data + line.encode("utf-8") + b"\r\n")
    watched = (host.process or {}).get("progress_log")
    if watched and watched.casefold() == str(parse_path(path)).casefold() and host.on_progress:
        host.on_progress({"op": "process.run", "line": line})


def _last_line(host: Any, path: str) -> str:
    """The last non-empty line of a log on the host ('' when there is none), as the helpers read it."""
    try:
        text = host.read_bytes(path).decode("utf-8", "replace") if host.exists(path) else ""
    except SimError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _arguments(args: dict[str, Any], default: str) -> list[str]:
    value = args.get("arguments")
    if value is None:
        return [default]
    if isinstance(value, str):
        return split_command(value)
    if isinstance(value, list) and all(isinstance(a, str) for a in value):
        return list(value)
    raise SimError("invalid", f"arguments must be a string or a list of strings, not {value!r}")


def _run_installer(
    host: HostState, args: dict[str, Any], default: str, want_installed: bool
) -> dict[str, Any]:
    name = arg_str(args, "name")
    executable = arg_str(args, "executable")
    if (find_service(host.state, name) is not None) == want_installed:
        return {"changed": False, "rc": 0}
    argv = [executable, *_arguments(args, default)]
    rc, out, err = run_program(host, argv)
    if rc:
        kind = "not_found" if rc == NOT_RECOGNIZED else "failed"
        raise SimError(kind, f"{' '.join(argv)} exited with {rc}: {(err or out).strip()}")
    if (find_service(host.state, name) is not None) != want_installed:
        state = "is not installed" if want_installed else "is still installed"
        raise SimError("failed", f"{' '.join(argv)} exited with 0 but service {name} {state}")
    return {"changed": True, "rc": rc}


@op("service.install")
def service_install(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    return _run_installer(host, args, "/i", want_installed=True)


@op("service.uninstall")
def service_uninstall(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    return _run_installer(host, args, "/u", want_installed=False)


__all__ = [
    "ProgramHandler",
    "log_line",
    "register_program",
    "unregister_program",
    "run_program",
    "load_plugin",
]
