"""One estate's run in a campaign: `python -m engine run|resume ...` as its own process.

The campaign drives the engine only through its command line (the stable surface): the run
journals, locks and reports exactly as when an operator types it. From its `--output jsonl`
events the campaign learns the run id (recorded at once, so a worker that dies mid-estate
leaves a run to resume) and how it ended.

The window's latest end is enforced twice: gates wait at most until then (`--gate-wait`), and
at the end the run gets SIGTERM, the engine's own graceful stop (no new step starts, running
steps finish, the run is recorded `interrupted` and `cutover resume` continues it). A worker
that lost its estate lock (`fenced`) kills the run at once: another worker owns the estate now.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.campaign.model import RunOptions

#: the folder holding the `engine` package: the run uses the same cutover as its campaign
_CUTOVER_ROOT = str(Path(__file__).resolve().parents[2])
#: after SIGTERM at the window's end, how long running steps get before the run is killed
GRACE_SECONDS = 3600.0


@dataclass
class EstateJob:
    campaign: str
    estate: str
    playbook: str
    inventory: str
    workdir: str
    state_dir: str
    operator: str
    run: RunOptions
    window_end: dt.datetime
    resume_of: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: in a worker: the run dies with the worker process, as it would with its machine
    die_with_parent: bool = False


@dataclass
class EstateResult:
    state: str  # succeeded | failed | stopped | refused
    run_id: str | None
    reason: str = ""
    exit_code: int = 0


def command(job: EstateJob, now: dt.datetime) -> list[str]:
    """The `cutover` command line of the job (no secret on it: vault sources name files or variables)."""
    gate_wait = max(1, int((job.window_end - now).total_seconds()))
    if job.resume_of:
        argv = ["resume", job.resume_of]
    else:
        argv = ["run", job.playbook, "-i", job.inventory]
        if job.run.extra_vars:
            argv += ["-e", json.dumps(dict(job.run.extra_vars), default=str)]
        if job.run.allow_unprotected:
            argv.append("--allow-unprotected")
    argv += ["--state-dir", job.state_dir, "--output", "jsonl", "--operator", job.operator,
             "--gate-wait", str(gate_wait)]
    if job.run.forks:
        argv += ["--forks", str(job.run.forks)]
    for gate in job.run.approve:
        argv += ["--approve", f"{gate}=approved in advance for campaign {job.campaign}"]
    for source in job.run.vault_id:
        argv += ["--vault-id", source]
    return [sys.executable, "-m", "engine", *argv]


def _environment(job: EstateJob) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([_CUTOVER_ROOT, *filter(None, [env.get("PYTHONPATH")])])
    env["NO_COLOR"] = "1"
    env.update(job.env)
    return env


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_estate(
    job: EstateJob,
    on_run_id: Callable[[str], None] = lambda run_id: None,
    fenced: threading.Event | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> EstateResult:
    """Run (or resume) the estate to its end, its window's end, or until `fenced` is set."""
    proc = subprocess.Popen(
        command(job, clock()), cwd=job.workdir, env=_environment(job), text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent if job.die_with_parent else None,
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)
    reader.start()
    ended = threading.Event()
    why: dict[str, str] = {}
    watcher = threading.Thread(target=_watch, args=(proc, job, ended, fenced, why, clock), daemon=True)
    watcher.start()
    run_id, final = job.resume_of, None
    for line in proc.stdout:
        event = _event(line)
        if event.get("event") == "run_started" and event.get("run_id"):
            run_id = str(event["run_id"])
            on_run_id(run_id)
        elif event.get("event") == "run_ended":
            final = event
    code = proc.wait()
    ended.set()
    reader.join(timeout=5)
    return _result(code, run_id, final, "".join(errors), why)


def _event(line: str) -> dict[str, Any]:
    if not line.startswith("{"):
        return {}
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _watch(proc: subprocess.Popen, job: EstateJob, ended: threading.Event, fenced: threading.Event | None,
           why: dict[str, str], clock: Callable[[], dt.datetime]) -> None:
    """SIGTERM at the window's end (then SIGKILL after the grace time); SIGKILL when fenced."""
    terminated_at: float | None = None
    while not ended.wait(0.5):
        if fenced is not None and fenced.is_set():
            why["fenced"] = "this worker lost the estate's lock: the run was stopped here"
            proc.kill()
            return
        if terminated_at is None and clock() >= job.window_end:
            why["window"] = f"the window ended at {job.window_end.isoformat()}: the run was stopped (resumable)"
            proc.send_signal(signal.SIGTERM)
            terminated_at = time.monotonic()
        elif terminated_at is not None and time.monotonic() - terminated_at > GRACE_SECONDS:
            proc.kill()
            return


def _result(code: int, run_id: str | None, final: dict[str, Any] | None, stderr: str,
            why: dict[str, str]) -> EstateResult:
    tail = "\n".join(stderr.strip().splitlines()[-5:])
    if "fenced" in why:
        return EstateResult("stopped", run_id, why["fenced"], code)
    status = (final or {}).get("status")
    if code == 0 and status in ("succeeded", None):  # None: `resume` of a run that had already succeeded
        return EstateResult("succeeded", run_id, "", code)
    if status in ("interrupted", "stopped") or "window" in why:
        return EstateResult("stopped", run_id, why.get("window") or (final or {}).get("reason") or status or "", code)
    if code == 3 and final is None:
        return EstateResult("refused", run_id, tail or "refused", code)
    if status == "failed":
        return EstateResult("failed", run_id, (final or {}).get("reason") or "a step failed", code)
    return EstateResult("failed", run_id, tail or f"cutover exited with {code}", code)
