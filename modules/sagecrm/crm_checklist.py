"""One item of the guide's post-upgrade checklist that software can check, with its evidence.

The checklist (chapters 9 and 12) mixes what a program can see and what only a person can judge;
the items here are the first kind, each recorded as a Finding of category `checklist` with
`detail {item, evidence, ok}` (the run report's sign-off sheet lists them next to the gates
people signed). The task itself does not fail on a failed check, so every check runs and is
listed; `output.ok` is meant for a final `assert` (playbooks/sagecrm/verify.yml).

Items (`item:`):
- `login`: the CRM login page answers 200 on this web server;
- `version`: registry and database at the target version;
- `services`: every Sage CRM service of this server installed and running (the indexing
  service included, which the guide says to start if it is stopped);
- `upgrade_log`: no failed script and no SQL error file in UPGRADELOG.HTML;
- `new_views`: no `_New` view left unreviewed (each one is listed);
- `multi_server`: the multi-server settings in custom_sysparams match the estate;
- `library`: the document library folder (`sagecrm.library`) is reachable from this server;
- `data_sample`: the 20 company records chosen at random (the seed recorded) when the backup was
  taken before the upgrade (crm_backup) are unchanged, row by row, on any database kind;
- `no_vsentinal`: no view of the database mentions `vSentinal` (to remove after restoring a
  live database into a test estate);
- `no_live_servers`: on a test estate (`mirror_of`), no `custom_sysparams` row of the restored
  database still names a server of the live estate (its inventory name, address, fully
  qualified name or DTLS name): such a row would send the test system's users, mail or load
  balancing to production.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from engine.api.module import Finding, Module, Result, TaskContext
from modules._common import call, object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product import sql
from modules.sagecrm.product.estate import Estate

LABELS = {
    "login": "Login works",
    "version": "Sage CRM at the target version (registry and database)",
    "services": "Sage CRM services installed and running (indexing service started)",
    "upgrade_log": "Upgrade logs without errors",
    "new_views": "New standard views (_New) reviewed",
    "multi_server": "Multi-server settings (server names, load balancing, DTLS) as in the estate",
    "library": "Library location reachable",
    "data_sample": "Data integrity: random sample of 20 company records",
    "no_vsentinal": "vSentinal removed from the views of the restored database",
    "no_live_servers": "No system parameter of the restored database names a production server",
}
Check = Callable[[TaskContext, Estate], tuple[bool, str]]


def _login(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    from modules.sagecrm.crm_login_check import login_url

    url = login_url(est.iis_app, est.setting("login", "path"))
    answer = call(ctx.require_remote(), "http.get", url=url, max_bytes=4096)
    return answer.get("status") == 200, f"GET {url} on {ctx.host.name}: {answer.get('status')}"


def _version(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    registry = crm.registry_version(ctx, est)
    with crm.crm_db(ctx, est) as db:
        database = crm.database_version(db)
    ok = registry == database == est.target_version
    return ok, f"registry {registry}, database {database}, target {est.target_version}"


def _services(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    states = {}
    for name in est.services_on(ctx.host.name).values():
        value = call(ctx.require_remote(), "service.get", name=name)
        states[name] = value.get("state") if value.get("exists") else "not installed"
    ok = all(s == "running" for s in states.values())
    return ok, ", ".join(f"{n} {s}" for n, s in states.items()) or "no Sage CRM service on this server"


def _upgrade_log(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    from modules.sagecrm.crm_upgrade_log import CrmUpgradeLog

    result = CrmUpgradeLog().run(ctx, {})
    errors = result.output.get("errors") or []
    return not errors, f"{len(errors)} error(s)" + (
        f": {errors[0]}" if errors else ""
    ) + f"; {len(result.output.get('to_fix') or [])} item(s) marked to fix"


def _new_views(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    with crm.crm_db(ctx, est) as db:
        names = sorted(crm.view_definitions(db, "*_New"))
    return not names, ("_New views to review: " + ", ".join(names)) if names else "no _New view"


def _multi_server(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    wanted = crm.multi_server_values(est)
    with crm.crm_db(ctx, est) as db:
        found = crm.read_params(db, list(wanted))
    wrong = {k: found[k] for k in wanted if found[k] != wanted[k]}
    return not wrong, "as in the estate" if not wrong else f"differ: {wrong} (estate: {wanted})"


def _library(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    library = est.setting("library")
    if not library:
        return False, "sagecrm.library is not set in the inventory"
    value = call(ctx.require_remote(), "file.stat", path=str(library))
    ok = bool(value.get("exists")) and value.get("type") == "directory"
    return ok, f"{library} on {ctx.host.name}: {'folder found' if ok else 'not reachable'}"


def _data_sample(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    """The companies sampled with the backup before the upgrade (crm_backup: seeded, recorded)
    read again and compared row by row, on whatever database the estate has."""
    from engine.db.sample import compare_sample

    samples = sorted(
        (
            a
            for a in ctx.run.artifacts_for(f"sample:{est.database}")
            if a.verified and a.kind == "data_sample"
        ),
        key=lambda a: a.taken_at,
    )
    if not samples:
        return (
            False,
            "no company sample was recorded with a backup before the upgrade: compare 20 by hand (gate)",
        )
    first = samples[0]
    data = Path(first.location).read_bytes() if Path(first.location).is_file() else b""
    if hashlib.sha256(data).hexdigest() != first.sha256:
        return False, f"the recorded sample {first.location} is missing or changed since it was taken"
    recorded = json.loads(data)
    with crm.crm_db(ctx, est) as db:
        differ = compare_sample(db, recorded)
    ok = not differ and bool(recorded["rows"])
    return ok, (
        f"{len(recorded['rows'])} compan(y/ies) chosen at random (seed {recorded['seed']}) when "
        f"the backup was taken ({first.taken_at}), compared: "
        + ("identical" if ok else f"differ (ids {', '.join(differ) or 'none sampled'})")
    )


def _no_vsentinal(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    with crm.crm_db(ctx, est) as db:
        views = crm.view_definitions(db)
    found = sorted(n for n, d in views.items() if "vsentinal" in d.casefold() or n.casefold() == "vsentinal")
    return not found, "views mentioning vSentinal: " + ", ".join(
        found
    ) if found else "no view mentions vSentinal"


def live_names(test: Estate, live: Estate) -> set[str]:
    """How the live servers can be named: inventory names, addresses, FQDNs, the DTLS name;
    minus any the test estate uses itself."""
    names: set[str] = set()
    for host in live.servers:
        names.update({host, live.inventory.hosts[host].address, live.fqdn(host)})
    names.add(str(live.setting("multi_server", "dtls_name", default="") or ""))
    ours = {n for h in test.servers for n in (h, test.inventory.hosts[h].address, test.fqdn(h))}
    return {n for n in names if n and n.casefold() not in {o.casefold() for o in ours}}


def naming(value: str, names: set[str]) -> list[str]:
    """The names that appear in `value` as whole host names (not inside `test-crm1` or `crm10`)."""
    return sorted(
        n for n in names if re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-]|\.\w)", value, flags=re.IGNORECASE)
    )


def _no_live_servers(ctx: TaskContext, est: Estate) -> tuple[bool, str]:
    from modules.sagecrm._sagecrm_mirror import live_estate

    names = live_names(est, live_estate(est))
    with crm.crm_db(ctx, est) as db:
        rows = db.rows(sql.all_params(db.dialect))
    hits = {str(r[0]): naming(str(r[1] or ""), names) for r in rows}
    hits = {k: v for k, v in hits.items() if v}
    if not hits:
        return True, f"{len(rows)} custom_sysparams row(s), none names a live server"
    listed = "; ".join(f"{k} names {', '.join(v)}" for k, v in sorted(hits.items()))
    return False, f"rows naming live servers: {listed}"


CHECKS: dict[str, Check] = {
    "login": _login,
    "version": _version,
    "services": _services,
    "upgrade_log": _upgrade_log,
    "new_views": _new_views,
    "multi_server": _multi_server,
    "library": _library,
    "data_sample": _data_sample,
    "no_vsentinal": _no_vsentinal,
    "no_live_servers": _no_live_servers,
}


class CrmChecklist(Module):
    """Run one automatic checklist item; record it (Finding `checklist`) whether it passes or not."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows", "controller"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Check one item of the Sage CRM post-upgrade checklist and record its evidence.",
        {"item": {"enum": list(CHECKS), "description": "Which item (see the module's documentation)."}},
        ("item",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        key = str(args["item"])
        ok, evidence = CHECKS[key](ctx, est)
        label = LABELS[key]
        finding = Finding(
            "checklist",
            f"{label}: {'ok' if ok else 'NOT OK'} ({evidence})",
            "info" if ok else "error",
            host=ctx.host.name,
            detail={"item": label, "evidence": evidence, "ok": ok, "key": key},
        )
        return Result(
            changed=False,
            msg=f"{'ok' if ok else 'NOT OK'}: {evidence}",
            output={"item": label, "ok": ok, "evidence": evidence},
            findings=[finding],
        )
