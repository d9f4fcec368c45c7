"""The real ansible-core command-line tools (`ansible-inventory`, `ansible-vault`), run in a temp home.

cutover's Ansible compatibility is proved against Ansible itself: the tests run the same files
through both. ansible-core comes with the test extras (`pip install -e '.[test]'`); on CI
(`CI=true`) a missing tool is a failure, elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def ansible_tool(name: str) -> str:
    """The path of an ansible-core script (next to this Python first, then on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} not found: install the test extras (pip install -e '.[test]', which brings ansible-core)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run_ansible(name: str, args: list[str], home: Path, *, cwd: Path | None = None, stdin: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run an ansible-core tool with its home, temp and config inside `home` (nothing written elsewhere)."""
    home.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "HOME": str(home),
        "ANSIBLE_HOME": str(home / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        **(env or {}),
    }
    (home / "ansible.cfg").write_text("[defaults]\n")
    done = subprocess.run([ansible_tool(name), *args], cwd=cwd, env=environment, input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{name} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done
