"""Run one node: variables, `when`, loops, retries/`until`, the module, `changed_when`/`failed_when`.

Called from worker threads. It reads host state but never writes it: the scheduler applies the
returned outcome (facts, notifications) after journaling it, so a crash between the two loses
nothing that resume cannot rebuild.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from typing import Any

from engine.api.module import ModuleFailed, Result, RunContext, TaskContext, utcnow
from engine.api.primitives import Remote
from engine.api.registry import ModuleRegistry
from engine.connect import host_kind
from engine.core.errors import CutoverError, Location, RemoteError, TaskTimeout, UserError
from engine.core.model import Host, Task
from engine.execute.hosts import HostConnections
from engine.execute.hoststate import HostState
from engine.execute.outcome import NodeOutcome
from engine.execute.progress import frame_forwarder
from engine.load.schema import validate
from engine.load.templating import Scope, Templar, has_templates
from engine.plan.graph import Node, Plan
from engine.plan.variables import OMIT, during_run


class HostVars(Mapping[str, Any]):
    """`hostvars[name]`: another host's variables and facts, resolved on use."""

    def __init__(self, runner: NodeRunner):
        self.runner = runner

    def __getitem__(self, name: str) -> Any:
        host = self.runner.plan.inventory.hosts[name]
        return Scope(
            [self.runner.states[name].facts, dict(host.vars), self.runner.magic(host, None)],
            self.runner.decrypt,
        )

    def __iter__(self) -> Any:
        return iter(self.runner.plan.inventory.hosts)

    def __len__(self) -> int:
        return len(self.runner.plan.inventory.hosts)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y")
    return bool(value)


class NodeRunner:
    """Everything a worker needs to run any node of one plan."""

    def __init__(
        self,
        plan: Plan,
        run: RunContext,
        connections: HostConnections,
        registry: ModuleRegistry,
        states: dict[str, HostState],
        decrypt: Any = None,
        masker: Any = None,
    ):
        self.plan = plan
        self.run_ctx = run
        self.connections = connections
        self.registry = registry
        self.states = states
        self.decrypt = decrypt
        self.masker = masker
        self.hostvars = HostVars(self)
        self._magic: dict[tuple[str, int | None], dict[str, Any]] = {}
        #: resolved once per run: Path.resolve on every step was a measurable share of a step's cost
        self.playbook_dir = str(_dir_of(plan.playbook.path))
        self._block_vars = self._index_blocks()
        #: id(task) -> (task, retries, delay, timeout, args hold templates): decided once for a task
        #: whose retries/delay/timeout are plain values, not once for each of its steps
        self._fixed: dict[int, tuple[Task, int, float, Any, bool]] = {}

    def _index_blocks(self) -> dict[tuple[int, str], Mapping[str, Any]]:
        out: dict[tuple[int, str], Mapping[str, Any]] = {}

        def walk(play: int, tasks: tuple[Task, ...]) -> None:
            for t in tasks:
                if t.is_block:
                    out[(play, t.path)] = t.vars
                    walk(play, t.block + t.rescue + t.always)

        for play in self.plan.plays:
            walk(play.index, play.tasks)
            walk(play.index, play.handlers)
        return out

    def magic(self, host: Host, play: int | None) -> dict[str, Any]:
        """The engine's variables for a host: those known before the run (the plan's), and the run's."""
        key = (host.name, play)
        found = self._magic.get(key)
        if found is None:
            found = {
                **self.plan.magic_vars(host, play),
                **during_run(self.hostvars, self.run_ctx.run_id, self.run_ctx.check_mode),
            }
            self._magic[key] = found
        return found

    def scope_for(self, node: Node, item_layer: Mapping[str, Any] | None = None) -> Scope:
        host = self.plan.inventory.hosts[node.host]
        task = node.task
        play = self.plan.plays[node.play]
        layers: list[Mapping[str, Any]] = [self.plan.extra_vars, self.states[node.host].facts]
        if item_layer:
            layers.append(item_layer)
        if task is not None and task.vars:
            layers.append(task.vars)
        for block_path, _section in reversed(node.scope):
            block_vars = self._block_vars.get((node.play, block_path))
            if block_vars:
                layers.append(block_vars)
        layers += [play.vars, host.vars, self.magic(host, node.play)]
        return Scope(layers, self.decrypt)

    # --- the node ------------------------------------------------------------------------------
    def run(self, node: Node) -> NodeOutcome:
        started, t0 = utcnow(), time.monotonic()
        try:
            outcome = self._run(node)
        except UserError as err:
            outcome = NodeOutcome("failed", error=err.render())
        except CutoverError as err:
            outcome = NodeOutcome("failed", error=str(err))
        except Exception as err:  # a bug must fail the node, not the run
            outcome = NodeOutcome(
                "failed",
                error=f"internal error: {type(err).__name__}: {err}",
                msg=traceback.format_exc(limit=6),
            )
        outcome.started = started
        outcome.ended = utcnow()
        outcome.duration = round(time.monotonic() - t0, 6)
        return outcome

    def _run(self, node: Node) -> NodeOutcome:
        task = node.task
        assert task is not None and task.module is not None
        state = self.states[node.host]
        if node.kind == "handler" and not ({task.name, *task.listen} & state.notified):
            return NodeOutcome("skipped", msg="not notified")
        scope = self.scope_for(node)
        templar = Templar(scope, task.location)
        if task.when is not None and not _truthy(templar.evaluate(task.when, task.location)):
            return NodeOutcome("skipped", msg="condition is false")
        module = self.registry.get(task.module, task.location)
        if task.loop is None:
            return self._attempts(node, module, scope, None)
        items = (
            templar.render(task.loop)
            if has_templates(task.loop) or not isinstance(task.loop, str)
            else templar.evaluate(task.loop)
        )
        if not isinstance(items, list | tuple):
            raise UserError(f"loop must give a list, got {type(items).__name__}", task.location)
        results: list[Any] = []
        merged = NodeOutcome("ok")
        for index, item in enumerate(items):
            layer = {task.loop_var: item, "ansible_loop": {"index": index + 1, "index0": index}}
            one = self._attempts(node, module, scope.child(layer), layer)
            reg = dict(one.registered or {})
            reg[task.loop_var] = item
            results.append(reg)
            merged.attempts += one.attempts
            merged.artifacts += one.artifacts
            merged.findings += one.findings
            merged.facts.update(one.facts)
            merged.changed = merged.changed or one.changed
            if one.diff is not None:
                merged.diff = (merged.diff or []) + [one.diff]
            if one.status == "failed" and not one.ignored:
                merged.status, merged.error = "failed", f"item {index} ({item!r}): {one.error}"
                break
        if merged.status != "failed":
            merged.status = self._status_for(merged.changed, task)
        merged.registered = {
            "results": results,
            "changed": merged.changed,
            "failed": merged.status == "failed",
        }
        if merged.status == "failed" and _truthy(task.ignore_errors):
            merged.ignored = True
        if task.register:
            merged.facts[task.register] = merged.registered
        return merged

    def _status_for(self, changed: bool, task: Task) -> str:
        if not changed:
            return "ok"
        return "would-change" if self._check_mode(task) else "changed"

    def _check_mode(self, task: Task) -> bool:
        """A task's own `check_mode:` wins over the run's --check."""
        if task.check_mode is not None and not isinstance(task.check_mode, str):
            return bool(task.check_mode)
        return self.run_ctx.check_mode

    def _attempts(
        self, node: Node, module: Any, scope: Scope, item_layer: Mapping[str, Any] | None
    ) -> NodeOutcome:
        task = node.task
        templar = Templar(scope, task.location)
        retries, delay, timeout, templated = self._task_fields(task, templar)
        args = _drop_omitted(templar.render(task.args)) if templated else task.args
        if templated:
            problems = validate(args, module.schema, task.location)
            if problems:
                raise UserError.many(
                    [type(p)(f"{task.module}: {p.message}", task.location, p.hint) for p in problems]
                )
        for secret in module.secret_args:
            value = args.get(secret) if isinstance(args, Mapping) else None
            if value and self.masker is not None:
                self.masker.add(str(value))
        attempt = 0
        while True:
            attempt += 1
            result, error = self._call(node, module, args, timeout, scope)
            registered = self._registered(result, error)
            outcome = self._judge(task, templar.scope, result, error, registered)
            outcome.attempts = attempt
            if task.until is not None and outcome.status != "failed":
                reg_scope = Scope([{task.register or "result": registered, "result": registered}, scope])
                if not _truthy(Templar(reg_scope, task.location).evaluate(task.until, task.location)):
                    outcome.status, outcome.error = (
                        "failed",
                        f"`until` did not hold after {attempt} attempt(s)",
                    )
            if outcome.status != "failed" or attempt > retries or self.run_ctx.interrupted.is_set():
                break
            time.sleep(delay)
        if outcome.status == "failed" and _truthy(task.ignore_errors):
            outcome.ignored = True
        if task.register and item_layer is None:
            outcome.facts[task.register] = outcome.registered
        return outcome

    def _task_fields(self, task: Task, templar: Templar) -> tuple[int, float, Any, bool]:
        """(retries, delay, timeout, whether the args hold templates) of a step of `task`.

        Rendered with the step's variables when one of the three is a template; otherwise the
        same for every host, so kept after the first step (the args' templates are the task's).
        """
        found = self._fixed.get(id(task))
        if found is not None and found[0] is task:
            return found[1], found[2], found[3], found[4]
        retries = int(templar.render(task.retries) or 0)
        delay = float(templar.render(task.delay) or 0)
        timeout = templar.render(task.timeout)
        templated = has_templates(task.args)
        if not has_templates([task.retries, task.delay, task.timeout]):
            self._fixed[id(task)] = (task, retries, delay, timeout, templated)
        return retries, delay, timeout, templated

    def _call(
        self, node: Node, module: Any, args: Any, timeout: Any, scope: Scope
    ) -> tuple[Result | None, str | None]:
        task = node.task
        host = self.plan.inventory.hosts[node.host]
        exec_name = Templar(scope, task.location).render(task.delegate_to) if task.delegate_to else host.name
        remote = None
        try:
            if module.platforms != frozenset({"controller"}):
                platform = host_kind(self.connections.host(exec_name)).platform
                if platform not in module.platforms and "controller" not in module.platforms:
                    return None, f"module {module.name} does not run on {platform} hosts ({exec_name})"
                if platform in module.platforms:
                    remote = Remote(
                        self.connections.get(exec_name),
                        float(timeout) if timeout else None,
                        frame_forwarder(node.id, self.run_ctx.on_progress),
                    )
            check = self._check_mode(task)
            if check and not module.supports_check:
                return Result(
                    skipped=True, msg="skipped in check mode (the module cannot predict its effect)"
                ), None
            run_ctx = self.run_ctx
            if check != run_ctx.check_mode:
                from dataclasses import replace

                run_ctx = replace(run_ctx, check_mode=check)
            ctx = TaskContext(
                host=host,
                vars=scope,
                remote=remote,
                run=run_ctx,
                task_name=task.label,
                node_id=node.id,
                timeout=float(timeout) if timeout else None,
                progress=lambda message: run_ctx.on_progress(node.id, message),
                render=lambda value: Templar(scope, task.location).render(value),
                evaluate=lambda expression: Templar(scope, task.location).evaluate(expression),
                playbook_dir=self.playbook_dir,
                remote_for=lambda other: Remote(self.connections.connection(other), float(timeout) if timeout else None),
            )
            return module.run(ctx, args), None
        except ModuleFailed as err:
            return Result(failed=True, msg=str(err), output=dict(err.output)), str(err)
        except TaskTimeout as err:
            return None, f"timed out after {timeout}s: {err}"
        except RemoteError as err:
            return None, str(err)
        except UserError as err:
            return None, err.render()

    def _registered(self, result: Result | None, error: str | None) -> dict[str, Any]:
        if result is None:
            return {"failed": True, "changed": False, "msg": error or ""}
        reg = dict(result.output)
        reg.update(
            {"changed": result.changed, "failed": result.failed or bool(error), "skipped": result.skipped}
        )
        if result.msg or error:
            reg["msg"] = result.msg or error
        if result.diff is not None:
            reg["diff"] = result.diff
        return reg

    def _judge(
        self, task: Task, scope: Scope, result: Result | None, error: str | None, registered: dict[str, Any]
    ) -> NodeOutcome:
        failed = result is None or result.failed or bool(error)
        changed = bool(result and result.changed)
        if task.changed_when is not None or task.failed_when is not None:
            reg_scope = Scope(
                [{task.register or "result": registered, "result": registered}, scope], self.decrypt
            )
            templar = Templar(reg_scope, task.location)
            if task.changed_when is not None:
                changed = _truthy(templar.evaluate(task.changed_when, task.location))
            if task.failed_when is not None:
                failed = _truthy(templar.evaluate(task.failed_when, task.location))
                if not failed:
                    error = None
            registered["changed"], registered["failed"] = changed, failed
        if result is not None and result.skipped and not failed:
            status = "skipped"
        elif failed:
            status = "failed"
        else:
            status = self._status_for(changed, task)
        outcome = NodeOutcome(status, registered=registered, changed=changed and not failed)
        if failed:
            outcome.error = error or (result.msg if result else "") or "failed"
        if result is not None:
            outcome.msg = result.msg
            outcome.diff = result.diff
            outcome.facts.update(result.facts)
            outcome.artifacts = list(result.artifacts)
            outcome.findings = list(result.findings)
            signed = result.output.get("gate")
            if isinstance(signed, dict) and "approved" in signed:  # a module that asked a gate itself
                outcome.gate = {"id": signed.get("id") or task.id or task.label,
                                **{k: signed.get(k) for k in ("approved", "by", "at", "comment")}}
            elif task.module == "gate":
                outcome.gate = {
                    "id": result.output.get("id") or task.id or task.label,
                    **{k: result.output.get(k) for k in ("approved", "by", "at", "comment")},
                }
        return outcome


def _drop_omitted(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {k: v for k, v in args.items() if v != OMIT}
    return args


def _dir_of(path: str) -> Any:
    from pathlib import Path

    return Path(path).resolve().parent


__all__ = ["NodeRunner", "HostState", "Location"]
