"""Sage CRM plan policies: the guide's hard ordering rules, enforced by the planner.

A playbook that breaks one does not plan (exit 2, the offending task's file:line):
1. The installer runs on the database server first, then on the other servers (on an estate with a
   dedicated SQL Server, which has no Sage CRM install, the first CRM server's installer upgrades
   the database and goes first; `Estate.upgrade_server`): every other
   server's installer node gets an edge from the database server's; one that the playbook already
   runs before it (or with no database-server installer in the plan at all) is refused.
2. Every CRM server except the one that upgrades the database is disconnected from the database before the
   installer runs anywhere: a `crm_disconnect` (state disconnected) of each such server must
   precede every installer node (an unordered one is ordered before it; one that runs after it
   is refused), and nothing may reconnect that server in between.
3. The backups the guide asks for (the database, the customised standard views' definitions, the
   registry keys and program files of EVERY server) are verified and journaled before any
   installer node. The engine's own rule already wants a backup of what a destructive node
   destroys on its own server; this one adds the other servers' backups, because an installer
   on the database server changes what every server's rollback relies on.

An operator who has already upgraded the database in an earlier run and now runs the installer
on the other servers only (`-l`) passes `-e sagecrm_database_upgraded=true`; the plan notes it.
Rules 2 and 3 then hold for the servers in the plan only: the database server's installer, which
is what needs every server disconnected and backed up, is not in it (each server's own backup is
still required by the engine's destructive-step rule).
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from engine.api.policies import PlanNode, PlanView, PolicyContext, covers, resources_of
from engine.core.errors import Problem
from modules.sagecrm.product.estate import Estate, estate_of

DISCONNECT = "crm_disconnect"
#: modules that bring a server's database sessions back, with the arguments that do it
RECONNECTORS = {
    "crm_disconnect": lambda a: a.get("state") == "connected",
    "iis": lambda a: a.get("state") in ("started", "restarted") or "recycle" in a,
    "win_service": lambda a: a.get("state") in ("started", "restarted"),
}


def _module(ctx: PolicyContext, node: PlanNode) -> Any:
    if node.task is None or node.task.module is None:
        return None
    return ctx.registry.get(node.task.module)


def installer_nodes(plan: PlanView, ctx: PolicyContext) -> list[PlanNode]:
    return [n for n in plan.nodes.values() if n.is_step and getattr(_module(ctx, n), "installer", False)]


def _where(node: PlanNode) -> Any:
    return node.task.location if node.task else None


def sagecrm_policy(plan: PlanView, ctx: PolicyContext) -> list[Problem]:
    """The three rules above; edges added where the playbook leaves the order open."""
    estate = estate_of(plan.inventory)
    if estate is None or estate.upgrade_server is None:
        return []
    # a dedicated database server has no Sage CRM install: its installer step does nothing
    installers = [n for n in installer_nodes(plan, ctx) if estate.holds_crm(str(n.host))]
    if not installers:
        return []
    problems = database_first(plan, ctx, estate, installers)
    in_plan = None
    if not any(n.host == estate.upgrade_server for n in installers):
        if problems:  # a partial run: say once what makes it legitimate, not what follows from it
            return problems
        in_plan = {str(n.host) for n in plan.nodes.values() if n.host}  # stated: the database is upgraded
    problems += disconnected_first(plan, ctx, estate, installers, in_plan)
    problems += backups_first(plan, ctx, estate, installers, in_plan)
    return problems


def _plan_hosts(plan: PlanView) -> list[str]:
    return sorted({str(n.host) for n in plan.nodes.values() if n.host})


def database_first(
    plan: PlanView, ctx: PolicyContext, estate: Estate, installers: list[PlanNode]
) -> list[Problem]:
    graph = plan.graph
    upgrader = estate.upgrade_server
    first = [n for n in installers if n.host == upgrader]
    others = [n for n in installers if n.host != upgrader]
    problems: list[Problem] = []
    if others and not first:
        if plan.extra_vars.get("sagecrm_database_upgraded") in (True, "true", "yes", "1"):
            ctx.notes.append(
                "sagecrm: the database server's installer is not in this plan: the operator stated "
                "the database is already upgraded (-e sagecrm_database_upgraded=true)"
            )
            return []
        hosts = _plan_hosts(plan)
        return [
            Problem(
                f"the installer runs on {', '.join(sorted({str(n.host) for n in others}))} but not on "
                f"{estate.upgrade_server_label}, which must be upgraded first (this plan covers {', '.join(hosts)})",
                _where(others[0]),
                hint=f"the rule needs {upgrader} in the plan: add it to --limit "
                f"(-l {','.join([*hosts, str(upgrader)])}); or, if {upgrader} was upgraded in an "
                "earlier run, the partial run is legitimate with -e sagecrm_database_upgraded=true",
            )
        ]
    for other in others:
        for db_node in first:
            if nx.has_path(graph, other.id, db_node.id):
                problems.append(
                    Problem(
                        f"the installer on {other.host} runs before the installer on {estate.upgrade_server_label} "
                        f"({db_node.location}): {upgrader} goes first",
                        _where(other),
                        hint=f"move the other servers' installer after {upgrader}'s",
                    )
                )
            else:
                graph.add_edge(db_node.id, other.id)
    return problems


def disconnected_first(
    plan: PlanView,
    ctx: PolicyContext,
    estate: Estate,
    installers: list[PlanNode],
    in_plan: set[str] | None = None,
) -> list[Problem]:
    graph = plan.graph
    problems: list[Problem] = []
    by_host: dict[str, list[PlanNode]] = {}
    reconnects: dict[str, list[PlanNode]] = {}
    for node in plan.nodes.values():
        module = _module(ctx, node)
        if module is None or node.host is None:
            continue
        args = ctx.render_args(node)
        if (
            module.name == DISCONNECT
            and args is not None
            and args.get("state", "disconnected") == "disconnected"
        ):
            by_host.setdefault(node.host, []).append(node)
        check = RECONNECTORS.get(module.name)
        if check is not None and (args is None or check(args)):
            reconnects.setdefault(node.host, []).append(node)
    for installer in installers:
        ancestors = nx.ancestors(graph, installer.id)
        for host in estate.crm_servers:
            if host == estate.upgrade_server or (in_plan is not None and host not in in_plan):
                continue
            candidates = by_host.get(host, [])
            before = [d for d in candidates if d.id in ancestors]
            if not before:
                after = [d for d in candidates if nx.has_path(graph, installer.id, d.id)]
                open_ = [d for d in candidates if d not in after]
                if open_:
                    graph.add_edge(open_[0].id, installer.id)
                    before = [open_[0]]
                    ancestors = nx.ancestors(graph, installer.id)
                else:
                    where = f" (its crm_disconnect at {after[0].location} runs after it)" if after else ""
                    problems.append(
                        Problem(
                            f"the installer on {installer.host} would run while {host} is still connected to the "
                            f"database{where}",
                            _where(installer),
                            hint=f"disconnect {host} first: `crm_disconnect: {{}}` on every server but the database "
                            "server, before the installer",
                        )
                    )
                    continue
            problems.extend(_reconnected_between(graph, installer, host, before, reconnects.get(host, [])))
    return problems


def _reconnected_between(
    graph: nx.DiGraph, installer: PlanNode, host: str, disconnects: list[PlanNode], reconnects: list[PlanNode]
) -> list[Problem]:
    """A step that reconnects `host` after its disconnection and before (or alongside) the installer."""
    problems = []
    latest = disconnects[-1]
    for node in reconnects:
        if node is latest or not nx.has_path(graph, latest.id, node.id):
            continue
        if nx.has_path(graph, installer.id, node.id):
            continue
        problems.append(
            Problem(
                f"{node.label!r} on {host} may reconnect it to the database before the installer on "
                f"{installer.host} runs",
                _where(node),
                hint="start IIS, pools and CRM services again only after every installer has run",
            )
        )
    return problems


def backups_first(
    plan: PlanView,
    ctx: PolicyContext,
    estate: Estate,
    installers: list[PlanNode],
    in_plan: set[str] | None = None,
) -> list[Problem]:
    """Every server's backups (and the database's) before any installer node.

    A backup the playbook leaves unordered with an installer (another server's, in the same
    play) is ordered before it; one that runs after it, or none at all, refuses the plan.
    """
    graph = plan.graph
    protectors: dict[str, list[str]] = {}
    for node in plan.nodes.values():
        if node.task is None or node.task.module is None:
            continue
        for resource in resources_of(plan, node, ctx, "protects"):
            protectors.setdefault(resource, []).append(node.id)
    problems = []
    for installer in installers:
        own = set(resources_of(plan, installer, ctx, "destroys"))
        missing = []
        for resource in estate.backup_resources():
            if resource in own or any(covers(prior, resource) for prior in ctx.prior_resources):
                continue
            if in_plan is not None and not any(f":{host}:" in resource for host in in_plan):
                continue  # the database and the servers outside the plan were dealt with in the earlier run
            candidates = [
                n for protected, ids in protectors.items() if covers(protected, resource) for n in ids
            ]
            ancestors = nx.ancestors(graph, installer.id)
            if any(c in ancestors for c in candidates):
                continue
            open_ = [c for c in candidates if not nx.has_path(graph, installer.id, c)]
            if open_:
                graph.add_edge(open_[0], installer.id)
            else:
                missing.append(resource)
        if missing:
            problems.append(
                Problem(
                    f"the installer on {installer.host} runs before verified backups of: {', '.join(missing)}",
                    _where(installer),
                    hint="back up every server first (crm_backup on all servers, before the installer play)",
                )
            )
    return problems
