"""The long form of the fault campaign: many SIGKILLs across the three-server Sage CRM demo upgrade,
then the other faults an estate must survive.

CI runs tests/e2e/test_crash_campaign_sagecrm.py with up to 50 kills inside a ~90 s budget. This
runs the same test with as many kills as asked (no budget), and another seed when given, so a
rare window (a kill inside a journal commit, during the installer, between a backup and its
record) gets more chances to show up. Each failing round names the seed that reproduces it.
Then, unless `--kills-only`, the rest of the campaign, each case asserting the estate's final
state and the journal's word on it:

- concurrent starts: two upgrades of the estate started together, from one state directory and
  from two (one runs to 7.3, the other is refused naming the holder; `--concurrent N` rounds
  each, 2 in CI), and two runs on a fresh state directory (tests/integration/test_journal_faults.py);
- a hang-up and a closed output pipe mid-run (interrupted, recorded, resumed);
- a fresh run over an interrupted or killed one (refused; --start-anew recorded);
- a kill inside the simulated installer, retried by resume;
- journal faults (a full disk before and during a run, a read-only or missing state directory on
  real file systems, locked, not a database, bad page, truncated, a file as state dir);
- tampered, shortened and missing backups (the rollback refused before its first step).

    python bench/crash_campaign.py [--rounds 500] [--seed 1] [--concurrent 20] [--kills-only]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_crash_campaign_sagecrm.py"
FAULTS = (
    "tests/integration/test_hangup_and_broken_pipe.py",
    "tests/integration/test_no_run_over_interrupted.py",
    "tests/e2e/test_installer_cut_short.py",
    "tests/integration/test_journal_faults.py",
    "tests/e2e/test_rollback_precheck.py",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="SIGKILLs to make (default 500)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the test's)")
    parser.add_argument(
        "--concurrent", type=int, default=20, help="rounds of each concurrent start (default 20)"
    )
    parser.add_argument("--kills-only", action="store_true", help="only the SIGKILL rounds")
    args = parser.parse_args()
    env = dict(
        os.environ, CUTOVER_CRASH_ROUNDS=str(args.rounds), CUTOVER_CONCURRENT_ROUNDS=str(args.concurrent)
    )
    if args.seed is not None:
        env["CUTOVER_CRASH_SEED"] = str(args.seed)
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST]
    if args.kills_only:
        command += ["-k", "sigkill"]
    killed = subprocess.run(command, cwd=REPO, env=env, check=False).returncode
    if args.kills_only:
        return killed
    faults = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FAULTS]
    return killed or subprocess.run(faults, cwd=REPO, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
