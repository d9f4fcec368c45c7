"""`cutover probe`: a read-only look at every host of an estate, before anything is planned on it.

For each host: can it be reached (and if not, the one line why), what it is (OS and version,
32/64-bit, Windows PowerShell and .NET Framework, or the Python a POSIX helper runs), the free
space of its system drive; then what each product whose section the inventory has reports of it
(`Plugin.probes`: the Sage CRM install, its registry view, IIS, services, the database server...),
with findings where the host and the inventory disagree.

Why it cannot write: every product probe gets an `engine.api.probe.ReadOnlyRemote`, which sends
only the primitives that read; the command opens connections as a run does (one per host, the
credentials tried once) and journals nothing, so it needs no estate lock. Its JSON is what an
operator attaches to a bug report, and `cutover validate --probe FILE` holds the inventory to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from engine import __version__
from engine.api.plugins import PluginRegister
from engine.api.probe import ProbeContext, ReadOnlyRemote, finding
from engine.connect.winrm_requirements import dotnet_name
from engine.core.errors import CutoverError, Problem, UserError
from engine.core.model import Host, Inventory
from engine.execute.hosts import HostConnections

FORMAT = 1


def probe_estate(
    inventory: Inventory,
    connections: HostConnections,
    databases: Mapping[str, Mapping[str, Any]],
    plugins: PluginRegister,
    forks: int = 8,
) -> dict[str, Any]:
    """The probe of every host (in parallel, `forks` at a time), as one JSON-ready mapping."""
    products = plugins.products_of(inventory)
    hosts = list(inventory.hosts.values())

    def one(host: Host) -> tuple[str, dict[str, Any]]:
        return host.name, probe_host(inventory, host, connections, databases, products)

    with ThreadPoolExecutor(
        max_workers=max(1, min(forks, len(hosts) or 1)), thread_name_prefix="probe"
    ) as pool:
        probed = dict(pool.map(one, hosts))
    findings = [
        {"host": name, **item}
        for name, entry in probed.items()
        for section in entry.values()
        if isinstance(section, Mapping)
        for item in section.get("findings", [])
    ]
    findings += [{"host": n, **finding("error", e["error"])} for n, e in probed.items() if not e["reachable"]]
    return {
        "format": FORMAT,
        "cutover": __version__,
        "estate": inventory.name,
        "inventory": inventory.path,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "hosts": probed,
        "findings": findings,
    }


def probe_host(
    inventory: Inventory,
    host: Host,
    connections: HostConnections,
    databases: Mapping[str, Mapping[str, Any]],
    products: list[Any],
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "connection": host.connection,
        "address": host.address,
        "roles": list(host.roles),
    }
    remote: ReadOnlyRemote | None = None
    try:
        conn = connections.get(host.name)
    except CutoverError as exc:
        entry.update(reachable=False, error=str(exc))
    else:
        remote = ReadOnlyRemote(conn)
        entry.update(reachable=True, simulated=conn.simulated, platform=conn.platform)
        entry["system"] = _system(remote, conn)
    ctx = ProbeContext(inventory, host, remote, databases, entry.get("system", {}))
    for plugin in products:
        for probe in plugin.host_probes():
            try:
                found = dict(probe(ctx))
            except CutoverError as exc:  # a probe that cannot finish says so; the others go on
                found = {"findings": [finding("error", f"{plugin.name} probe: {exc}")]}
            if found:
                entry.setdefault(plugin.name, {}).update(found)
    return entry


def _system(remote: ReadOnlyRemote, conn: Any) -> dict[str, Any]:
    """What the host is, and the free space of its system drive."""
    facts = remote.call("host.facts")
    system: dict[str, Any] = {k: v for k, v in facts.items() if k != "simulated"}
    if facts.get("os") == "windows":
        release = facts.get("dotnet_release")
        if isinstance(release, int):
            system["dotnet"] = dotnet_name(release)
        root = "C:\\"
    else:
        system["python"] = getattr(conn, "python_version", None) or facts.get("python")
        root = "/"
    value, failed = remote.try_call("disk.free", path=root)
    system["disks"] = {root: value if failed is None else {"error": failed.get("error")}}
    return system


# --- a saved probe ----------------------------------------------------------------------------------


def read_saved(path: str) -> dict[str, Any]:
    """A probe written by `cutover probe --format json`; UserError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as exc:
        raise UserError(f"--probe {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UserError(f"{path}:{getattr(exc, 'lineno', 1)}:{getattr(exc, 'colno', 1)}: not a probe (invalid "
                        f"JSON: {getattr(exc, 'msg', exc)})") from None  # fmt: skip
    if (
        not isinstance(report, dict)
        or report.get("format") != FORMAT
        or not isinstance(report.get("hosts"), dict)
    ):
        raise UserError(f"{path}: not a probe of this cutover (format {FORMAT}); write one with "
                        "`cutover probe -i INV --format json --output FILE`")  # fmt: skip
    return report


def check_saved(inventory: Inventory, report: Mapping[str, Any], plugins: PluginRegister) -> list[Problem]:
    """The inventory held to a saved probe: its hosts, then what each product checks."""
    problems = [
        Problem(f"host {name!r} is not in the probe (it was probed from another inventory?)", host.location)
        for name, host in inventory.hosts.items()
        if name not in report["hosts"]
    ]
    for plugin in plugins.products_of(inventory):
        for check in plugin.saved_probe_checks():
            problems.extend(check(inventory, report))
    return problems


# --- text ------------------------------------------------------------------------------------------


def render_text(report: Mapping[str, Any]) -> str:
    """The probe as an operator reads it: one block per host, then every finding."""
    lines = [f"cutover probe of {report['estate']} ({report['inventory']}), {report['taken_at']}"]
    for name, entry in report["hosts"].items():
        lines.append("")
        head = f"{name}  {entry['connection']} {entry['address']}"
        if entry.get("simulated"):
            head += "  (SIMULATION: a model, not a machine)"
        lines.append(head)
        if not entry["reachable"]:
            lines.append(f"  unreachable: {entry['error']}")
            continue
        lines.extend(_system_lines(entry.get("system", {})))
        for key, section in entry.items():
            if isinstance(section, Mapping) and key not in ("system",):
                lines.append(f"  {key}:")
                lines.extend(_lines(section, "    "))
    lines.append("")
    if report["findings"]:
        lines.append("findings:")
        lines.extend(f"  {f['severity']:<7} {f['host']}: {f['message']}" for f in report["findings"])
    else:
        lines.append("findings: none (the inventory and the hosts agree)")
    return "\n".join(lines)


def _system_lines(system: Mapping[str, Any]) -> list[str]:
    if system.get("os") == "windows":
        found = [
            f"  {system.get('os_name')} {system.get('os_version')} ({system.get('architecture')}), "
            f"Windows PowerShell {system.get('powershell')}, {system.get('dotnet')}"
        ]
    else:
        found = [f"  {system.get('os')} ({system.get('hostname')}), Python {system.get('python')}"]
    for root, disk in (system.get("disks") or {}).items():
        found.append(f"  disk {root}: {_disk(disk)}")
    return found


def _disk(disk: Mapping[str, Any]) -> str:
    if "error" in disk:
        return str(disk["error"])
    return f"{disk['free'] / 2**30:.1f} GiB free of {disk['total'] / 2**30:.1f} GiB"


def _lines(section: Mapping[str, Any], indent: str) -> list[str]:
    out: list[str] = []
    for key, value in section.items():
        if key == "findings":
            continue
        if isinstance(value, Mapping) and value:
            out.append(f"{indent}{key}:")
            out.extend(_lines(value, indent + "  "))
        else:
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
            out.append(f"{indent}{key}: {shown}")
    return out
