"""tests/run.sh, the README's test command: quiet when installing works, loud and stopped when not.

It runs here with a stand-in `python` (and `dpkg`) on PATH that log their calls into a temporary
directory, so the script's own logic is what is tested: no package is installed, and the real
suite is not started again from inside itself.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: `python -m pip install` answers with noise and the exit code of $PIP_EXIT; pytest is a line
FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$*" in
  "-m pip install"*) echo "Collecting cutover (noise a person need not read)"; echo "ERROR: no network" >&2;
                     exit "${PIP_EXIT:-0}" ;;
  "-m pip show"*) echo "Name: cutover" ;;
  "-m pytest"*) echo "the suite would run here" ;;
esac
"""
#: every Debian package counts as installed, so apt-get is never reached
FAKE_DPKG = "#!/bin/sh\nexit 0\n"


def run_script(tmp_path: Path, pip_exit: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python", FAKE_PYTHON), ("dpkg", FAKE_DPKG)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    calls = tmp_path / "calls"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHON=str(bin_dir / "python"))
    env.update(CALLS=str(calls), PIP_EXIT=str(pip_exit))
    result = subprocess.run(
        ["bash", str(REPO / "tests" / "run.sh"), "-k", "nothing"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_a_working_install_is_quiet_and_runs_the_suite(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, pip_exit=0)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the suite would run here\n"
    assert result.stderr == ""
    assert calls[-1] == "-m pytest -q -p no:cacheprovider -k nothing"


@pytest.mark.parametrize("pip_exit", [1, 2])
def test_a_failing_install_stops_with_its_output(tmp_path: Path, pip_exit: int) -> None:
    result, calls = run_script(tmp_path, pip_exit=pip_exit)
    assert result.returncode == pip_exit
    assert "this install step failed" in result.stderr and "pip install" in result.stderr
    assert "ERROR: no network" in result.stderr, "the failing step's own output is shown"
    assert "Collecting cutover" in result.stderr
    assert not any(call.startswith("-m pytest") for call in calls), "no test runs on a half-installed machine"


def test_ci_requires_every_server_and_runs_the_readme_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "bash tests/run.sh" in readme.split("## Run the tests", 1)[1].split("##", 1)[0]
    commands = [line for line in ci.splitlines() if line and not line.startswith("#")]
    assert commands[-2:] == ["export CUTOVER_REQUIRE_SERVERS=1", "exec bash tests/run.sh"]
