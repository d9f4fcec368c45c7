"""Shared by the Sage CRM modules (`crm_*`): the estate, the CRM database, custom_sysparams, resources.

Why one place: every CRM module reads the same `sagecrm:` section (through
`modules.sagecrm.product.estate`), opens the same CRM database, reads and writes the same
`custom_sysparams` rows and names the same resources for the planner; doing it once keeps the
backup module's `protects()` and the installer's `destroys()` spelling resources identically.
SQL is built by small pure functions (identifiers quoted by the dialect, values bound), so the
SQL Server statements are checked by golden tests without a SQL Server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.api.module import Artifact, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from engine.db.database import Database, connect
from engine.db.target import Target
from engine.db.tasks import db_failures, target_of
from modules.sagecrm.product import sql as sql
from modules.sagecrm.product.estate import Estate, estate_for_host, estate_of

#: JSON Schema of module arguments: what the module is told to do is on the estate, not here.
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SIM_DB_ENV = "CUTOVER_SIM_CRM_DB"

#: Builds the SQLite CRM database of a simulated estate (`builder(estate, path)`), set by
#: `provide_simulated_database`. The Sage CRM simulation provides it from its own side (its host
#: plug-in, loaded when a simulated host of the estate is opened), so no module imports it.
_SIMULATED_DATABASE: dict[str, Callable[[Estate, str], object]] = {}


# --- the estate ---------------------------------------------------------------------------------
def estate(ctx: TaskContext) -> Estate:
    """The Sage CRM estate of the run (ModuleFailed when the inventory has no `sagecrm:` section)."""
    found = estate_of(ctx.run.inventory) if ctx.run.inventory is not None else estate_for_host(ctx.host)
    if found is None:
        raise ModuleFailed("this module needs an inventory with a `sagecrm:` section (see docs/sagecrm.md)")
    return found


def estate_or_none(host: Host) -> Estate | None:
    """For planner hooks (`protects`/`destroys`), which see only the host."""
    return estate_for_host(host)


def multi_server_values(est: Estate) -> dict[str, str]:
    """The estate's multi-server rows; ModuleFailed when a custom_sysparams name is not given."""
    try:
        return est.multi_server_values()
    except ValueError as exc:
        raise ModuleFailed(str(exc)) from None


def require_server(ctx: TaskContext, est: Estate) -> None:
    if ctx.host.name not in est.servers:
        raise ModuleFailed(
            f"{ctx.host.name} is not a Sage CRM server of the estate (servers: {', '.join(est.servers)})"
        )


def is_db_server(est: Estate, host: str) -> bool:
    return est.db_server == host


def no_crm_here(est: Estate, host: str) -> Result | None:
    """A skipped result on a dedicated database server, which has no Sage CRM install to act on.

    The CRM-local steps of the playbooks run on `web:db`; on an estate whose SQL Server is a
    host of its own (chapter 6) they must leave that host alone, and say why in the journal.
    """
    if est.dedicated_db_server != host:
        return None
    return Result(
        skipped=True,
        msg=f"{host} is the estate's dedicated database server (no Sage CRM install): nothing "
        f"CRM-local runs here; the installer on {est.upgrade_server} upgrades the database",
    )


# --- the CRM database ---------------------------------------------------------------------------
def provide_simulated_database(builder: Callable[[Estate, str], object]) -> None:
    """Let `builder(estate, path)` create a simulated estate's CRM database on first use."""
    _SIMULATED_DATABASE["builder"] = builder


def crm_target(ctx: TaskContext, est: Estate) -> Target:
    """The CRM database target; a simulated estate's SQLite database is built on first use."""
    target = target_of(ctx, est.database)
    if target.dialect == "sqlite" and target.path and not os.path.exists(target.path):
        if est.simulated and est.setting("simulation", "create_database", default=False):
            builder = _SIMULATED_DATABASE.get("builder")
            if builder is None:
                raise ModuleFailed(
                    f"the simulated CRM database {target.path} does not exist yet, and no simulated host "
                    "of the estate has been opened in this run to build it (its `sagecrm` preset loads "
                    "the Sage CRM simulation): run a task on one of the servers first"
                )
            builder(est, target.path)
    return target


@contextlib.contextmanager
def crm_db(ctx: TaskContext, est: Estate, autocommit: bool = False) -> Iterator[Database]:
    """An open connection to the CRM database; database errors become the node's failure."""
    with db_failures():
        target = crm_target(ctx, est)
        with connect(target, autocommit=autocommit) as db:
            yield db


def sim_env(ctx: TaskContext, est: Estate) -> dict[str, str] | None:
    """On a simulated host, where the simulated installer finds the (SQLite) CRM database.

    Real servers reach SQL Server themselves; only the simulation needs the controller's path,
    and it is passed as data in the process environment, never to a real host.
    """
    from modules._common import call

    if not call(ctx.require_remote(), "host.facts").get("simulated"):
        return None
    target = crm_target(ctx, est)
    if target.dialect != "sqlite" or not target.path:
        return None
    return {SIM_DB_ENV: str(Path(target.path).resolve())}


# --- custom_sysparams -----------------------------------------------------------------------------
def read_params(db: Database, names: list[str]) -> dict[str, str | None]:
    """name -> value (None: no row) for the given parameter names."""
    if not names:
        return {}
    rows = db.rows(sql.select_params(db.dialect, len(names)), names)
    found = {str(r[0]).casefold(): (None if r[1] is None else str(r[1])) for r in rows}
    return {n: found.get(n.casefold()) for n in names}


def write_params(db: Database, wanted: Mapping[str, str | None], current: Mapping[str, str | None]) -> None:
    """Set each parameter (None removes the row), in one transaction."""
    with db.transaction():
        for name, value in wanted.items():
            if value is None:
                db.execute(sql.delete_param(db.dialect), (name,))
            elif current.get(name) is None and not _row_exists(db, name):
                db.execute(sql.insert_param(db.dialect), (name, value))
            else:
                db.execute(sql.update_param(db.dialect), (value, name))


def _row_exists(db: Database, name: str) -> bool:
    return bool(db.rows(sql.select_params(db.dialect, 1), (name,)))


def database_version(db: Database) -> str | None:
    return read_params(db, ["Version"])["Version"]


def eware_view(ctx: TaskContext, est: Estate) -> str | None:
    """The registry view ('32' or '64') of this server's eWare keys; None when neither view has them.

    Sage CRM is a 32-bit program: on 64-bit Windows its keys are in the 32-bit view (physically
    HKLM\\SOFTWARE\\WOW6432Node\\eWare), where a 64-bit reader of HKLM\\SOFTWARE\\eWare finds nothing.
    `sagecrm.registry_view` in the inventory names the view; `auto` finds it on each server.
    """
    from modules.windows._windows import find_view

    return find_view(ctx.require_remote(), est.config_key, est.registry_view)


def config_values(ctx: TaskContext, est: Estate) -> dict[str, Any]:
    """name -> data of the values under `Config\\/<install>` on this host (empty when missing)."""
    from modules._common import call

    view = eware_view(ctx, est)
    if view is None:
        return {}
    value = call(ctx.require_remote(), "registry.get", key=est.config_key, view=view)
    if not value.get("exists"):
        return {}
    return {name: entry.get("data") for name, entry in (value.get("values") or {}).items()}


def registry_version(ctx: TaskContext, est: Estate) -> str | None:
    """`Version` under `Config\\/<install>` on this host (None when the key or value is missing)."""
    found = config_values(ctx, est).get("Version")
    return None if found is None else str(found)


# --- controller-side artifacts (view definitions, dropped objects) --------------------------------
def controller_artifact(
    ctx: TaskContext, kind: str, resource: str, name: str, payload: Mapping[str, Any]
) -> Artifact:
    """Write `payload` as JSON under `<state_dir>/artifacts/<run>/`, read it back, and record it.

    These are definitions the controller read from the database (views, auto-generated indexes):
    they live with the journal, not on a server that the upgrade may break.
    """
    folder = Path(ctx.run.state_dir) / "artifacts" / ctx.run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    data = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    written = path.read_bytes()
    if written != data:
        raise ModuleFailed(f"{path}: read back differs from what was written")
    return Artifact(
        kind=kind,
        resource=resource,
        location=str(path.resolve()),
        host=None,
        size=len(written),
        sha256=hashlib.sha256(written).hexdigest(),
        verified=True,
        meta={"count": len(payload.get("items", [])) if isinstance(payload.get("items"), list) else None},
    )


def prior_or_current(ctx: TaskContext, resource: str, kind: str | None = None) -> list[Artifact]:
    """Verified artifacts of a resource on this host: the run rolled back from first, then this run's.

    Within a run the first one wins: it was taken before anything changed.
    """

    def usable(items: list[Artifact]) -> list[Artifact]:
        keep = [
            a
            for a in items
            if a.verified and a.host in (None, ctx.host.name) and (kind is None or a.kind == kind)
        ]
        return sorted(keep, key=lambda a: a.taken_at)

    return usable(list(ctx.run.prior_artifacts.get(resource, []))) or usable(
        list(ctx.run.artifacts.get(resource, []))
    )


# --- views ----------------------------------------------------------------------------------------
def view_definitions(db: Database, pattern: str = "*") -> dict[str, str]:
    """View name -> its definition, for the views whose name matches the glob."""
    from engine.db.schema_objects import find

    return {v.name: v.definition or "" for v in find(db, "views", pattern)}


def metadata_views(db: Database) -> dict[str, str]:
    """Custom_Views: view name -> the script Sage CRM's metadata holds (empty when there is no such table)."""
    from engine.db.catalog import list_tables

    if not any(t.name.casefold() == "custom_views" for t in list_tables(db)):
        return {}
    return {str(r[0]): str(r[1]) for r in db.rows(sql.metadata_views(db.dialect))}


def customised_views(db: Database, est: Estate, actual: Mapping[str, str] | None = None) -> list[str]:
    """Standard views the customer changed: named in `sagecrm.customised_views`, or whose definition
    differs from the one Sage CRM's metadata (`Custom_Views`) holds for them."""
    actual = view_definitions(db) if actual is None else actual
    named = set(est.customised_views)
    for name, script in metadata_views(db).items():
        if name in actual and sql.normalise_sql(actual[name]) != sql.normalise_sql(script):
            named.add(name)
    return sorted(n for n in named if n in actual)


# --- modules made of steps (backup and restore of several parts) --------------------------------
def combine(total: Result, name: str, step: Result) -> None:
    """Add one step's result to the task's: its output under `name`; a failed step fails the task."""
    if step.failed:
        raise ModuleFailed(f"{name}: {step.msg}", {**total.output, name: step.output})
    total.changed = total.changed or step.changed
    total.artifacts.extend(step.artifacts)
    total.findings.extend(step.findings)
    total.output[name] = step.output
    total.msg = "; ".join(m for m in (total.msg, step.msg) if m)


def part_resources(est: Any, host: str, parts: list[str], *, program_files: bool = True) -> list[str]:
    """The resources (see engine.api.module.Artifact) the CRM parts of one server are, for
    `protects()` of a backup and `destroys()` of a restore: one mapping for both, so they match."""
    out: list[str] = []
    for part in parts:
        if part == "database":
            out.append(f"db:{est.database}")
        elif part == "views":
            out.append(f"views:{est.database}")
        elif part == "registry":
            out.extend(est.registry_resources(host))
        elif part == "services":
            out.append(f"files:{host}:{est.services_dir}")
        elif part == "program_files" and program_files:
            out.append(f"files:{host}:{est.install_path}")
    return out
