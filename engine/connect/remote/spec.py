"""The contract of the remote primitives, shared by every implementation.

A call travels as `{"op": "<name>", "args": {...}}`; the answer is
`{"ok": true, "value": ...}` or `{"ok": false, "error": "<text>", "kind": "<kind>"}`.
Several calls travel together in one round trip and are answered in order; a failed call does
not stop the calls after it (each answer says how its own call went).

Error kinds: `not_found`, `exists`, `denied`, `invalid`, `unsafe` (archive traversal, link out of
a tree), `timeout`, `no_space`, `unsupported` (primitive not available on this platform),
`failed` (anything else). Binary content travels base64-encoded in fields ending in `_b64`.

Platforms: `posix` (SSH and local hosts, python helper), `windows` (WinRM, PowerShell script).
A simulated host is a `windows` host (the simulation implements every windows primitive).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PrimitiveSpec:
    """One primitive: its required and optional argument names and where it exists."""

    name: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    platforms: frozenset[str] = field(default_factory=lambda: frozenset({"posix", "windows"}))
    doc: str = ""

    @property
    def arguments(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)


ALL = frozenset({"posix", "windows"})
WINDOWS = frozenset({"windows"})

_SPECS = [
    # --- host facts
    PrimitiveSpec("host.facts", (), (), ALL,
                  "-> {os: 'posix'|'windows', hostname, python?, user, simulated: bool}; windows also "
                  "{os_name, os_version, architecture: x64|x86, powershell, dotnet_release}"),
    # --- files
    PrimitiveSpec("file.stat", ("path",), ("follow",), ALL,
                  "-> {exists, type: file|directory|link|other, size, mode (octal str), mtime, owner, group, target?}"),
    PrimitiveSpec("file.hash", ("path",), ("algorithm",), ALL,
                  "-> {algorithm, digest, size}; algorithm defaults to sha256"),
    PrimitiveSpec("file.read", ("path",), ("max_bytes", "offset"), ALL,
                  "bytes from `offset` (default 0), at most max_bytes -> {content_b64, size, truncated, offset?}; "
                  "windows reads at most 32 MiB per call (more: read in pieces)"),
    PrimitiveSpec("file.write", ("path", "content_b64"), ("mode", "owner", "group", "backup", "append"), ALL,
                  "atomic replace -> {changed, sha256, backup_path?}; append=true adds the bytes at the end "
                  "(a piece of a chunked upload) -> {changed, size}"),
    PrimitiveSpec("file.mkdir", ("path",), ("mode", "owner", "group", "parents"), ALL, "-> {changed}"),
    PrimitiveSpec("file.remove", ("path",), ("recursive",), ALL, "-> {changed}"),
    PrimitiveSpec("file.touch", ("path",), ("mode",), ALL, "-> {changed} (changed only when created)"),
    PrimitiveSpec("file.attrs", ("path",), ("mode", "owner", "group"), ALL,
                  "set attributes where they differ -> {changed, before, after}"),
    PrimitiveSpec("file.copy", ("src", "dest"), ("overwrite",), ALL,
                  "copy a file or a whole tree on the host -> {changed, files, bytes}"),
    PrimitiveSpec("file.move", ("src", "dest"), ("overwrite",), ALL,
                  "-> {changed}; overwrite=true replaces an existing file dest atomically"),
    PrimitiveSpec("file.list", ("path",), ("pattern", "recursive"), ALL,
                  "-> {entries: [{path, type, size, mtime}]} (path relative to `path`)"),
    PrimitiveSpec("file.tree_hash", ("path",), (), ALL,
                  "-> {digest, files, bytes}: sha256 over sorted (relative path, file sha256) pairs"),
    # --- archives (zip on every platform; tar.gz and tar.zst also on posix)
    PrimitiveSpec("archive.create", ("src", "dest"), ("format",), ALL,
                  "archive a folder with all sub-folders -> {sha256, size, entries}; posix tar formats also "
                  "{tree (file.tree_hash of what was archived), changed, changed_count, compressor, verified}"),
    PrimitiveSpec("archive.verify", ("path",), (), ALL,
                  "read every member and its CRC -> {ok, entries, sha256, size, error?}"),
    PrimitiveSpec("archive.list", ("path",), (), ALL,
                  "-> {entries: [{name, size, type}]}; refuses nothing, reports `unsafe` names"),
    PrimitiveSpec("archive.extract", ("src", "dest"),
                  ("overwrite", "strip", "max_size", "max_members", "max_ratio", "max_total_ratio"), ALL,
                  "all or nothing: checks every member first (no absolute paths, no '..', no links or link "
                  "chains out of dest, no duplicates, the limits, free space), writes into a folder beside "
                  "dest and moves it in; writes nothing when one is refused (kind `unsafe`, `invalid` for "
                  "a corrupt archive, `no_space`) -> {changed, files}"),
    # --- processes
    PrimitiveSpec("process.run", ("argv",), ("cwd", "env", "stdin_b64", "timeout", "shell", "progress_log"), ALL,
                  "argv is a list; shell=true runs argv[0] through the host shell -> {rc, stdout, stderr}; "
                  "progress_log: a log file the program writes, whose last line is sent as a progress frame "
                  "{op, line} every few seconds while it runs and answered as progress_last"),
    PrimitiveSpec("disk.free", ("path",), (), ALL, "-> {free, total} in bytes"),
    PrimitiveSpec("file.acl", ("path",), (), WINDOWS,
                  "a folder's or file's access rules, read only -> {exists, owner, rules: [{identity, rights "
                  "(FileSystemRights as int), type: allow|deny, inherited, inherit_only}]}"),
    PrimitiveSpec("http.get", ("url",), ("timeout", "headers", "max_bytes", "validate_certs"), ALL,
                  "-> {status, headers, body, elapsed}"),
    PrimitiveSpec("net.port", ("port",), ("address", "timeout"), ALL, "-> {open}"),
    # --- services
    PrimitiveSpec("service.get", ("name",), (), ALL,
                  "-> {exists, state: running|stopped|paused|unknown, start_mode: auto|manual|disabled|unknown, path?, "
                  "account?}"),
    PrimitiveSpec("service.set", ("name",), ("state", "start_mode", "timeout"), ALL,
                  "state: running|stopped|restarted, within `timeout` s (default 120; kind `timeout` past it) "
                  "-> {changed, before, after, dependents_stopped?: [names stopped first; restarted starts "
                  "them again]}"),
    PrimitiveSpec("service.install", ("name", "executable"), ("arguments",), WINDOWS,
                  "runs `executable arguments` (Sage CRM services install with /i) -> {changed, rc}"),
    PrimitiveSpec("service.uninstall", ("name", "executable"), ("arguments",), WINDOWS,
                  "runs `executable arguments` (default /u) -> {changed, rc}"),
    # --- registry
    # view: '64' (the default) or '32', the registry view of a 64-bit Windows (RegistryView.Registry64/32,
    # reg.exe /reg:64 | /reg:32). A 32-bit program's keys under HKLM\SOFTWARE live in the 32-bit view
    # (physically HKLM\SOFTWARE\WOW6432Node); a .reg file names keys as seen in its view.
    PrimitiveSpec("registry.get", ("key",), ("name", "view"), WINDOWS,
                  "-> {exists, values: {name: {type, data}}, subkeys: [...], view}"),
    PrimitiveSpec("registry.set", ("key", "name", "data"), ("type", "view"), WINDOWS, "-> {changed, before}"),
    PrimitiveSpec("registry.export", ("key", "dest"), ("view",), WINDOWS, ".reg file -> {sha256, size, view}"),
    PrimitiveSpec("registry.import", ("path",), ("replace", "view"), WINDOWS,
                  "-> {changed, sha256, view}; replace=true first deletes the file's top key, so values added "
                  "since the export do not survive (reg import alone merges)"),
    # --- IIS
    PrimitiveSpec("iis.state", (), (), WINDOWS,
                  "-> {service: running|stopped, sites: {name: state}, pools: {name: state}, "
                  "apps: {'site/app': {physical_path, pool}}, pools_32bit: {name: enable32BitAppOnWin64}}"),
    PrimitiveSpec("iis.set_state", ("kind", "name", "state"), ("timeout",), WINDOWS,
                  "kind: site|pool; state: started|stopped; a stopped pool is waited for until its w3wp.exe "
                  "processes have exited (within `timeout` s, default 120) -> {changed, before, workers_exited}"),
    PrimitiveSpec("iis.recycle", ("pool",), (), WINDOWS, "-> {changed: true}"),
    PrimitiveSpec("iis.get_path", ("site", "app"), (), WINDOWS, "-> {physical_path}"),
    PrimitiveSpec("iis.set_path", ("site", "app", "path"), (), WINDOWS, "-> {changed, before}"),
    PrimitiveSpec("iis.reset", ("action",), (), WINDOWS, "action: stop|start|restart -> {changed, before}"),
    # --- COM registration
    PrimitiveSpec("dll.register", ("path",), ("unregister",), WINDOWS,
                  "regsvr32 /s [/u] path, with the regsvr32.exe of the DLL's PE machine (SysWOW64 for x86 on "
                  "64-bit Windows) -> {changed, rc, registered_path, machine: x86|x64|unknown, regsvr32}"),
    PrimitiveSpec("dll.registered", ("clsid_name",), (), WINDOWS,
                  "which file a COM class (e.g. eWare.eWare) resolves to -> {registered, path}"),
    # --- estate lock markers (engine/execute/estate_markers.py): one file per estate on each host, its
    # content the JSON holder {run_id, operator, controller, pid, since, heartbeat, estate}
    PrimitiveSpec("lock.take", ("path", "holder"), (), ALL,
                  "create the marker atomically (parent folders too) -> {taken, again, holder, path}; a marker of "
                  "the same holder.run_id is rewritten (a resume: again=true); another run's: taken=false, "
                  "its holder ({unreadable: true} when it is not JSON)"),
    PrimitiveSpec("lock.beat", ("path", "run_id", "heartbeat"), (), ALL,
                  "set the marker's heartbeat when it is run_id's -> {beat, holder}; beat=false (holder null "
                  "when gone) when the marker was removed or is another run's"),
    PrimitiveSpec("lock.inspect", ("path",), (), ALL, "-> {exists, holder}"),
    PrimitiveSpec("lock.release", ("path", "run_id"), ("force",), ALL,
                  "remove the marker when it is run_id's (any, with force=true) -> {changed, holder}; kind "
                  "`exists` when another run holds it"),
]

PRIMITIVES: dict[str, PrimitiveSpec] = {s.name: s for s in _SPECS}

ERROR_KINDS = frozenset(
    {"not_found", "exists", "denied", "invalid", "unsafe", "timeout", "no_space", "unsupported", "failed"}
)


#: the arguments whose strings reach a program's command line or environment
_PROGRAM_TEXT = {"process.run": ("argv", "cwd", "env"), "service.install": ("executable", "arguments")}


def text_problem(label: str, text: str) -> str | None:
    """Why a string cannot be passed to a program, or None. The value itself is never shown.

    NUL ends a C string (POSIX `execve`) and a Windows command line, so the program would get a
    shorter argument than asked; a lone UTF-16 surrogate is no character, and neither UTF-8 (the
    helpers' frames) nor a POSIX argument can carry it (U+DC80-U+DCFF excepted: Python's
    `surrogateescape` form of a raw byte on POSIX).
    """
    for at, char in enumerate(text):
        if char == "\0":
            return f"{label} contains a NUL character (\\0) at position {at}: a program argument ends at NUL"
        if "\ud800" <= char <= "\udfff" and not "\udc80" <= char <= "\udcff":
            return (
                f"{label} contains U+{ord(char):04X} at position {at}: a lone surrogate is not a character "
                "and cannot be passed to a program"
            )
    return None


def _program_text_problem(op: str, args: dict) -> str | None:
    for name in _PROGRAM_TEXT.get(op, ()):
        value = args.get(name)
        items = (
            [(f"{name}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list)
            else [pair for k, v in value.items() for pair in ((f"{name} name {k!r}", k), (f"{name} {k!r}", v))]
            if isinstance(value, dict)
            else [(name, value)]
        )  # fmt: skip
        for label, text in items:
            problem = text_problem(label, text) if isinstance(text, str) else None
            if problem:
                return problem
    return None


def check_call(op: str, args: dict) -> str | None:
    """Why a call does not fit the contract, or None when it does (used before sending)."""
    spec = PRIMITIVES.get(op)
    if spec is None:
        return f"unknown primitive {op!r}"
    missing = [a for a in spec.required if a not in args]
    if missing:
        return f"{op}: missing argument(s) {', '.join(missing)}"
    extra = sorted(set(args) - spec.arguments)
    if extra:
        return f"{op}: unknown argument(s) {', '.join(extra)}"
    return _program_text_problem(op, args)
