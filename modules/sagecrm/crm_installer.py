"""Run the Sage CRM upgrade installer on one server, then verify the result the engine's own way.

Two ways to run it, since Sage documents no silent mode and the public record leaves both open:
- silent, when `sagecrm.installer.response_files` names a response file for this kind of server
  (`db` for the database server, which takes the "back up" path, `others` for the rest, which
  take "no backup required"): `setup.exe /s /f1"<response file>" /f2"<log>"` with the task's
  timeout, and the `[ResponseResult]` `ResultCode` of that log must say 0 (modules/sagecrm/_installshield.py);
- otherwise an operator step: a gate `installer-<host>` asks a person to run the wizard on that
  server (the prompt says which options to pick), and the run waits for the approval.

Either way the engine then checks for itself before it goes on: the registry `Version` of the
server and the database's `custom_sysparams` `Version` are the target version, every Sage CRM
service of the server is installed, and `<install>\\Setup\\UPGRADELOG.HTML` exists and was
written by this upgrade. On the database server the upgrade log is read too: a failed script or
SQL errors stop the run at the gate `db-upgrade-log-<host>`, which only its own id approves
(`--approve db-upgrade-log-<host>=...` once each is repaired), so no other server is upgraded on
top of a failed database upgrade. A server other than the database server refuses to start while the
database is not yet at the target version (the database server goes first; the planner orders
it so, modules/sagecrm/product/policies.py).

Destructive (`installer = True`): it overwrites the server's program files, registry and, on
the database server, the database and its standard views, so the planner wants verified
backups of all of them (and of every other server, see the policies) before it.
"""

from __future__ import annotations

import json
import ntpath
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from engine.core.model import Host
from modules._common import call, digest, object_schema, read_bytes
from modules.sagecrm import _installshield as installshield
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm._repairs import named_approval
from modules.sagecrm.crm_upgrade_log import read_upgrade_log
from modules.sagecrm.product.estate import Estate

GATE_PREFIX = "installer-"
DB_LOG_GATE_PREFIX = "db-upgrade-log-"


def gate_id(host: str) -> str:
    return f"{GATE_PREFIX}{host}"


def operator_prompt(est: Estate, host: str, on_db: bool) -> str:
    backup = (
        "choose 'Back up the existing database, program files and registry'"
        if on_db
        else "answer Yes to 'all servers are disconnected', choose 'No backup required'"
    )
    return (
        f"Run the Sage CRM {est.target_version} installer ({est.setting('installer', 'path', default='setup.exe')})"
        f" on {host}: 'Upgrade an earlier version', installation {est.install_name}, licence key from the "
        f"inventory, {backup}. Approve when the wizard has finished."
    )


def _baseline_file(ctx: TaskContext) -> Path:
    return Path(ctx.run.state_dir) / "installer" / ctx.run.run_id / f"{ctx.host.name}.json"


def recorded_log_before(ctx: TaskContext) -> str | None:
    """The upgrade log's sha256 as it was before this run's first installer attempt on this host.

    None when no attempt was made yet in this run (or the log did not exist then).
    """
    record = _baseline_file(ctx)
    return json.loads(record.read_text(encoding="utf-8"))["log_sha256"] if record.exists() else None


def log_before_this_upgrade(ctx: TaskContext, found_now: str | None) -> str | None:
    """The log this upgrade must replace: the one found before the run's FIRST attempt on this host.

    Recorded on the controller (the run's state folder) before the installer first starts, so an
    attempt cut short (a controller killed while a simulated setup.exe ran in it, files written but
    the registry not) and retried by `resume` compares with the log from before the upgrade, not
    with the one its own first attempt wrote, which the retry writes again identically.
    """
    record = _baseline_file(ctx)
    if record.exists():
        return recorded_log_before(ctx)
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(record.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"log_sha256": found_now}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, record)
    return found_now


class CrmInstaller(Module):
    """Silent installer run or operator gate; then version, services and upgrade log verified."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    destructive: ClassVar[bool] = True
    installer: ClassVar[bool] = True
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Upgrade Sage CRM on this server with its installer (silent or operator-run), then verify it.",
        {
            "response_file": {
                "type": "string",
                "minLength": 1,
                "description": "Override the estate's response file for this server.",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Seconds the silent installer may take (default: sagecrm.installer.timeout "
                "or 3600).",
            },
            "progress_log": {
                "type": "string",
                "minLength": 1,
                "description": "A log the installer writes as it goes, whose last line the step's live "
                "line shows every few seconds (default: sagecrm.installer.progress_log; none: only "
                "the elapsed time).",
            },
        },
    )

    def destroys(self, args: Mapping[str, Any], host: Host) -> list[str]:
        est = crm.estate_or_none(host)
        if est is None or not est.holds_crm(host.name):
            return []
        out = est.host_resources(host.name)
        if est.upgrades_database(host.name):
            out.extend(est.db_resources())
        return out

    def gates(self, args: Mapping[str, Any], host: Host) -> list[dict[str, Any]]:
        """Without a response file the installer is run by a person: a gate on this server."""
        est = crm.estate_or_none(host)
        if est is None or not est.holds_crm(host.name):
            return []
        on_db = est.upgrades_database(host.name)
        listed = []
        if on_db:  # asked only when the database server's upgrade log has errors
            listed.append(
                {
                    "id": f"{DB_LOG_GATE_PREFIX}{host.name}",
                    "prompt": f"the upgrade log of {host.name} has errors: repaired? (asked only if it has)",
                }
            )
        if args.get("response_file") or est.setting(
            "installer", "response_files", "db" if on_db else "others"
        ):
            return listed
        return [{"id": gate_id(host.name), "prompt": operator_prompt(est, host.name, on_db)}, *listed]

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        return crm.no_crm_here(crm.estate(ctx), ctx.host.name) or super().run(ctx, args)

    def check(self, ctx: TaskContext, args: Mapping[str, Any]) -> dict[str, Any]:
        est = crm.estate(ctx)
        crm.require_server(ctx, est)
        with crm.crm_db(ctx, est) as db:
            database = crm.database_version(db)
        log = digest(ctx.require_remote(), est.log_path)
        return {
            "registry": crm.registry_version(ctx, est),
            "database": database,
            "log_sha256": log,
            "log_errors": self._log_errors(ctx, est) if log and est.upgrades_database(ctx.host.name) else [],
        }

    def diff(self, ctx: TaskContext, args: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        est = crm.estate(ctx)
        done = state["registry"] == est.target_version and state["database"] == est.target_version
        if (
            done
            and state["log_sha256"]
            and state["log_sha256"] != recorded_log_before(ctx)
            and not state["log_errors"]
        ):
            return None  # a database server's log with errors asks its gate again (a resume)
        return {
            "before": {k: state[k] for k in ("registry", "database")},
            "after": {"registry": est.target_version, "database": est.target_version},
            "state": state,
        }

    def apply(self, ctx: TaskContext, args: Mapping[str, Any], change: dict[str, Any]) -> Result:
        est = crm.estate(ctx)
        host = ctx.host.name
        on_db = est.upgrades_database(host)
        state = change["state"]
        if not on_db and state["database"] != est.target_version:
            first = (
                est.upgrade_server_label
                if est.dedicated_db_server
                else f"the database server ({est.db_server})"
            )
            raise ModuleFailed(
                f"the CRM database is at {state['database']}, not {est.target_version}: the installer runs on {first} first"
            )
        response = args.get("response_file") or est.setting(
            "installer", "response_files", "db" if on_db else "others"
        )
        output: dict[str, Any] = {"server": "database" if on_db else "other"}
        log_before = recorded_log_before(ctx)
        # registry at target but no upgrade log: an installer run cut short, which a new run completes
        if state["registry"] != est.target_version or not state["log_sha256"]:
            log_before = log_before_this_upgrade(ctx, state["log_sha256"])
            if response:
                output.update(self._silent(ctx, est, str(response), args))
            else:
                answer = self._operator(ctx, est, on_db)
                output["gate"] = answer
                if not answer.get("approved"):
                    return Result(
                        failed=True,
                        msg=f"gate {gate_id(host)} not approved: {answer.get('comment')}",
                        output=output,
                    )
        output["verified"] = self.verify(ctx, est, log_before)
        if on_db:
            output["upgrade_log"] = self._database_log_repaired(ctx, est)
        return Result(
            changed=True,
            msg=f"{host} upgraded to Sage CRM {est.target_version} (verified)",
            output=output,
            diff={k: change[k] for k in ("before", "after")} if ctx.diff_mode else None,
        )

    def _silent(
        self, ctx: TaskContext, est: Estate, response: str, args: Mapping[str, Any]
    ) -> dict[str, Any]:
        remote = ctx.require_remote()
        installer = est.setting("installer", "path")
        if not installer:
            raise ModuleFailed("sagecrm.installer.path is not set: the installer cannot run")
        for path in (installer, response):
            if call(remote, "file.stat", path=path).get("exists") is False:
                raise ModuleFailed(f"{path} does not exist on {ctx.host.name}")
        env = crm.sim_env(ctx, est)
        # kept with this server's backups: the installer's own record of the run, out of the upgraded tree
        log = ntpath.join(est.backup_root, f"setup-{ctx.host.name}.log")
        timeout = float(args.get("timeout") or est.setting("installer", "timeout", default=3600))
        command = installshield.silent_command(str(installer), response, log)
        call(remote, "file.remove", path=log)  # the ResultCode read afterwards is this run's
        ctx.progress(f"running {installer} silently on {ctx.host.name}")
        tail = args.get("progress_log") or est.setting("installer", "progress_log")
        watch = {"progress_log": str(tail)} if tail else {}
        # one command line through cmd.exe /s /c: InstallShield reads its own switches (_installshield);
        # the helper sends the last line of `tail` as progress while it runs (the step's live line)
        ran = call(remote, "process.run", argv=[command], shell=True, env=env, timeout=timeout, **watch)
        detail = (ran.get("stderr") or ran.get("stdout") or "").strip()
        code = self._result_code(remote, log)
        if ran.get("rc") != 0 or code != 0:
            why = (
                f"Setup.log ResultCode {code}: {installshield.meaning(code)}"
                if code is not None
                else f"no [ResponseResult] ResultCode in {log}"
            )
            raise ModuleFailed(
                f"the installer failed on {ctx.host.name} (exit code {ran.get('rc')}; {why})"
                + (f": {detail}" if detail else ""),
                {
                    "rc": ran.get("rc"),
                    "result_code": code,
                    "setup_log": log,
                    "stdout": ran.get("stdout"),
                    "stderr": ran.get("stderr"),
                    **({"progress_last": ran.get("progress_last", "")} if tail else {}),
                },
            )
        return {
            "mode": "silent",
            "rc": 0,
            "result_code": code,
            "setup_log": log,
            "response_file": response,
            "stdout": str(ran.get("stdout", ""))[-2000:],
            **({"progress_last": ran.get("progress_last", "")} if tail else {}),
        }

    @staticmethod
    def _log_errors(ctx: TaskContext, est: Estate) -> list[str]:
        return list(read_upgrade_log(ctx, est.log_path)[0]["errors"])

    def _database_log_repaired(self, ctx: TaskContext, est: Estate) -> dict[str, Any]:
        """The database server's upgrade log read before any other server's installer starts.

        A failed script (Tables.es) or a SQL script with errors stops the run here: the other
        servers wait until a person has repaired each and approved `db-upgrade-log-<host>` by name.
        """
        errors = self._log_errors(ctx, est)
        if not errors:
            return {"errors": []}
        gate = named_approval(
            ctx,
            f"{DB_LOG_GATE_PREFIX}{ctx.host.name}",
            errors,
            f"The database server's upgrade log ({est.log_path}) reports errors; each was repaired "
            "before the installer runs on the other servers.",
        )
        return {"errors": errors, "gate": gate}

    @staticmethod
    def _result_code(remote: Any, log: str) -> int | None:
        try:
            data, _cut = read_bytes(remote, log, max_bytes=1 << 20)
        except ModuleFailed:
            return None
        return installshield.result_code(data.decode("utf-8", "replace"))

    def _operator(self, ctx: TaskContext, est: Estate, on_db: bool) -> dict[str, Any]:
        prompt = operator_prompt(est, ctx.host.name, on_db)
        answer = ctx.run.gatekeeper.approve(gate_id(ctx.host.name), prompt, ctx.host.name)
        return {
            "id": gate_id(ctx.host.name),
            "mode": "operator",
            "prompt": prompt,
            **{k: answer.get(k) for k in ("approved", "by", "at", "comment")},
        }

    def verify(self, ctx: TaskContext, est: Estate, log_before: str | None) -> dict[str, Any]:
        """Version (registry and database), services installed, upgrade log written: or ModuleFailed."""
        remote = ctx.require_remote()
        registry = crm.registry_version(ctx, est)
        with crm.crm_db(ctx, est) as db:
            database = crm.database_version(db)
        missing = [
            name
            for name in est.services_on(ctx.host.name).values()
            if not call(remote, "service.get", name=name).get("exists")
        ]
        log = digest(remote, est.log_path)
        problems = []
        if registry != est.target_version:
            problems.append(f"registry Version is {registry}")
        if database != est.target_version:
            problems.append(f"database Version is {database}")
        if missing:
            problems.append(f"service(s) not installed: {', '.join(missing)}")
        if log is None:
            problems.append(f"{est.log_path} was not written")
        elif log == log_before:
            problems.append(f"{est.log_path} is the one from before this upgrade")
        found = {"registry": registry, "database": database, "services_missing": missing, "log_sha256": log}
        if problems:
            raise ModuleFailed(
                f"{ctx.host.name} is not at Sage CRM {est.target_version}: {'; '.join(problems)}",
                {"verified": found},
            )
        return found
