"""The long form of the crash campaign: many SIGKILLs across the three-server Sage CRM demo upgrade.

CI runs tests/e2e/test_crash_campaign_sagecrm.py with up to 50 kills inside a ~90 s budget. This
runs the same test with as many kills as asked (no budget), and another seed when given, so a
rare window (a kill inside a journal commit, during the installer, between a backup and its
record) gets more chances to show up. Each failing round names the seed that reproduces it.

    python bench/crash_campaign.py [--rounds 500] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_crash_campaign_sagecrm.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="SIGKILLs to make (default 500)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the test's)")
    args = parser.parse_args()
    env = dict(os.environ, CUTOVER_CRASH_ROUNDS=str(args.rounds))
    if args.seed is not None:
        env["CUTOVER_CRASH_SEED"] = str(args.seed)
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST]
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
