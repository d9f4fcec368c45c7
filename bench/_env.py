"""Where things are for the benchmarks: the other engines' virtual environment, versions, the machine.

ansible-core and pyinfra live in `bench/.venv-others` (gitignored), made with a Python 3.12
(ansible-core 2.21 needs it; pyenv has one) the first time the harness runs. Children run with
`PYTHONDONTWRITEBYTECODE` removed from their environment: every engine then starts from cached
bytecode, as it would on an operator's machine (this sandbox sets the variable globally).
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OTHERS = BENCH / ".venv-others"
OTHERS_PACKAGES = ("ansible-core", "pyinfra")


def python312() -> str:
    """A Python 3.12+ for the other engines' venv: pyenv's, else whatever is on PATH."""
    for pattern in ("~/.pyenv/versions/3.12*/bin/python", "~/.pyenv/versions/3.13*/bin/python"):
        found = sorted(glob.glob(os.path.expanduser(pattern)))
        if found:
            return found[-1]
    for name in ("python3.12", "python3.13"):
        if shutil.which(name):
            return name
    raise SystemExit("ansible-core needs Python 3.12 or later: install one (pyenv install 3.12)")


def ensure_others() -> Path:
    """The venv holding ansible-core and pyinfra, created and filled on first use."""
    if not (OTHERS / "bin" / "ansible-playbook").exists() or not (OTHERS / "bin" / "pyinfra").exists():
        print(f"setting up {OTHERS} (ansible-core, pyinfra) ...", file=sys.stderr)
        subprocess.run([python312(), "-m", "venv", str(OTHERS)], check=True)
        subprocess.run(
            [str(OTHERS / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *OTHERS_PACKAGES],
            check=True,
        )
    return OTHERS


def child_env(**extra: str) -> dict[str, str]:
    """The environment every engine runs with: bytecode caching on, no colours, no prompts."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"NO_COLOR": "1", "TERM": "dumb", "ANSIBLE_NOCOLOR": "1"}, **extra)
    return env


def cutover_bin() -> str:
    """The installed `cutover` console script of the interpreter running the harness (no pyenv shim)."""
    script = Path(sys.executable).with_name("cutover")
    return str(script) if script.exists() else shutil.which("cutover") or "cutover"


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def versions() -> dict[str, str]:
    """Engine and tool versions, as each reports itself."""
    pip_show = [str(OTHERS / "bin" / "python"), "-m", "pip", "show"]
    found = {
        "cutover": _first_line([cutover_bin(), "--version"]),
        "python (cutover)": platform.python_version(),
        "python (others)": _first_line([str(OTHERS / "bin" / "python"), "--version"]),
        "OpenSSH": _first_line(["ssh", "-V"]),
    }
    for package in OTHERS_PACKAGES:
        lines = subprocess.run([*pip_show, package], capture_output=True, text=True, env=child_env()).stdout
        match = re.search(r"^Version: (.+)$", lines, re.M)
        found[package] = match.group(1) if match else "not installed"
    return found


def machine() -> dict[str, str]:
    """CPU model, cores, memory, kernel and load: the context every number needs."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "kernel": platform.release(),
        "load average": load_average(),
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
