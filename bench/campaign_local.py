"""How far one machine goes: N simulated Sage CRM estates at once on the local campaign pool.

Each estate is a copy of examples/demo (three simulated servers, an SQLite CRM database) under
its own name and its own simulation folder; the campaign runs the Sage CRM upgrade playbook on
all of them with concurrency N. Measured: the campaign's wall time and the CPU time of the
driver and every estate run (RUSAGE_CHILDREN of the campaign process), per estate.

    PYTHONPATH=. python bench/campaign_local.py 1 4 8 16

Figures quoted in docs/fleet.md come from this script.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def estates(work: Path, count: int) -> list[str]:
    demo = yaml.safe_load((ROOT / "examples" / "demo" / "inventory.yml").read_text())
    names = []
    for number in range(1, count + 1):
        name = f"client{number:03d}"
        inventory = json.loads(json.dumps(demo))
        inventory["estate"] = name
        inventory["defaults"]["sim"]["state_dir"] = f"sim-{name}"
        inventory["databases"]["crm"]["path"] = f"sim-{name}/crm.sqlite"
        inventory["databases"]["crm"]["backup_dir"] = f"backups/{name}"
        (work / f"{name}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        names.append(name)
    return names


def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cutover-bench-") as tmp:
        work = Path(tmp)
        now = dt.datetime.now(dt.UTC)
        campaign = {
            "campaign": f"bench-{count}",
            "playbook": str(ROOT / "playbooks" / "sagecrm" / "upgrade.yml"),
            "concurrency": count,
            "run": {"approve": ["all"]},
            "window": {
                "start": (now - dt.timedelta(hours=1)).isoformat(),
                "end": (now + dt.timedelta(hours=2)).isoformat(),
            },
            "estates": [{"inventory": f"{name}.yml"} for name in estates(work, count)],
        }
        (work / "campaign.yml").write_text(json.dumps(campaign))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine",
                "campaign",
                "run",
                "campaign.yml",
                "--state-dir",
                str(work / "state"),
            ],
            cwd=work,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"campaign of {count} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {
            "estates": count,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "cpu_per_estate_s": round(cpu / count, 2),
            "estates_per_minute": round(60 * count / wall, 1),
        }


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [1, 4, 8]:
        print(json.dumps(measure(n)), flush=True)
