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
                  "-> {os: 'posix'|'windows', hostname, python?, user, simulated: bool}"),
    # --- files
    PrimitiveSpec("file.stat", ("path",), ("follow",), ALL,
                  "-> {exists, type: file|directory|link|other, size, mode (octal str), mtime, owner, group, target?}"),
    PrimitiveSpec("file.hash", ("path",), ("algorithm",), ALL,
                  "-> {algorithm, digest, size}; algorithm defaults to sha256"),
    PrimitiveSpec("file.read", ("path",), ("max_bytes",), ALL, "-> {content_b64, size, truncated}"),
    PrimitiveSpec("file.write", ("path", "content_b64"), ("mode", "owner", "group", "backup"), ALL,
                  "atomic replace -> {changed, sha256, backup_path?}"),
    PrimitiveSpec("file.mkdir", ("path",), ("mode", "owner", "group", "parents"), ALL, "-> {changed}"),
    PrimitiveSpec("file.remove", ("path",), ("recursive",), ALL, "-> {changed}"),
    PrimitiveSpec("file.touch", ("path",), ("mode",), ALL, "-> {changed} (changed only when created)"),
    PrimitiveSpec("file.attrs", ("path",), ("mode", "owner", "group"), ALL,
                  "set attributes where they differ -> {changed, before, after}"),
    PrimitiveSpec("file.copy", ("src", "dest"), ("overwrite",), ALL,
                  "copy a file or a whole tree on the host -> {changed, files, bytes}"),
    PrimitiveSpec("file.move", ("src", "dest"), (), ALL, "-> {changed}"),
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
    PrimitiveSpec("archive.extract", ("src", "dest"), ("overwrite", "strip"), ALL,
                  "checks every member first (no absolute paths, no '..', no links out of dest); "
                  "writes nothing when one is unsafe (kind `unsafe`) -> {changed, files}"),
    # --- processes
    PrimitiveSpec("process.run", ("argv",), ("cwd", "env", "stdin_b64", "timeout", "shell"), ALL,
                  "argv is a list; shell=true runs argv[0] through the host shell -> {rc, stdout, stderr}"),
    PrimitiveSpec("disk.free", ("path",), (), ALL, "-> {free, total} in bytes"),
    PrimitiveSpec("http.get", ("url",), ("timeout", "headers", "max_bytes", "validate_certs"), ALL,
                  "-> {status, headers, body, elapsed}"),
    PrimitiveSpec("net.port", ("port",), ("address", "timeout"), ALL, "-> {open}"),
    # --- services
    PrimitiveSpec("service.get", ("name",), (), ALL,
                  "-> {exists, state: running|stopped|paused|unknown, start_mode: auto|manual|disabled|unknown, path?}"),
    PrimitiveSpec("service.set", ("name",), ("state", "start_mode", "timeout"), ALL,
                  "state: running|stopped|restarted -> {changed, before, after}"),
    PrimitiveSpec("service.install", ("name", "executable"), ("arguments",), WINDOWS,
                  "runs `executable arguments` (Sage CRM services install with /i) -> {changed, rc}"),
    PrimitiveSpec("service.uninstall", ("name", "executable"), ("arguments",), WINDOWS,
                  "runs `executable arguments` (default /u) -> {changed, rc}"),
    # --- registry
    PrimitiveSpec("registry.get", ("key",), ("name",), WINDOWS,
                  "-> {exists, values: {name: {type, data}}, subkeys: [...]}"),
    PrimitiveSpec("registry.set", ("key", "name", "data"), ("type",), WINDOWS, "-> {changed, before}"),
    PrimitiveSpec("registry.export", ("key", "dest"), (), WINDOWS, ".reg file -> {sha256, size}"),
    PrimitiveSpec("registry.import", ("path",), ("replace",), WINDOWS,
                  "-> {changed, sha256}; replace=true first deletes the file's top key, so values added "
                  "since the export do not survive (reg import alone merges)"),
    # --- IIS
    PrimitiveSpec("iis.state", (), (), WINDOWS,
                  "-> {service: running|stopped, sites: {name: state}, pools: {name: state}, "
                  "apps: {'site/app': {physical_path, pool}}}"),
    PrimitiveSpec("iis.set_state", ("kind", "name", "state"), (), WINDOWS,
                  "kind: site|pool; state: started|stopped -> {changed, before}"),
    PrimitiveSpec("iis.recycle", ("pool",), (), WINDOWS, "-> {changed: true}"),
    PrimitiveSpec("iis.get_path", ("site", "app"), (), WINDOWS, "-> {physical_path}"),
    PrimitiveSpec("iis.set_path", ("site", "app", "path"), (), WINDOWS, "-> {changed, before}"),
    PrimitiveSpec("iis.reset", ("action",), (), WINDOWS, "action: stop|start|restart -> {changed, before}"),
    # --- COM registration
    PrimitiveSpec("dll.register", ("path",), ("unregister",), WINDOWS,
                  "regsvr32 /s [/u] path -> {changed, rc, registered_path}"),
    PrimitiveSpec("dll.registered", ("clsid_name",), (), WINDOWS,
                  "which file a COM class (e.g. eWare.eWare) resolves to -> {registered, path}"),
]

PRIMITIVES: dict[str, PrimitiveSpec] = {s.name: s for s in _SPECS}

ERROR_KINDS = frozenset(
    {"not_found", "exists", "denied", "invalid", "unsafe", "timeout", "no_space", "unsupported", "failed"}
)


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
    return None
