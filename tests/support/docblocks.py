"""The fenced blocks of README.md and docs/*.md, and a fresh copy of the repository to run them in.

A shell block is runnable when its fence says so: ```` ```sh test ````. A line just before a
block (blank lines aside) may carry its expectations in an HTML comment, which Markdown
viewers do not show:

    <!-- doc-test: exit=1 expect="run \\S+: failed" expect="rolled back" -->

Keys (shell words, so quote values with spaces):
- `exit=N`: the exit status the block must end with (default 0). A block runs as one
  `bash -e -o pipefail` script, so the first failing command ends it;
- `expect=REGEX` (repeatable): must match the block's output (stdout and stderr together);
- `skip=REASON`: the block is not run or validated (say why);
- `validate=ARGS`: for a YAML playbook block, `cutover validate <block> ARGS` must pass (run
  from the repository root; without it the block is loaded with the engine's playbook loader).

The blocks of one page run in page order in ONE fresh copy of the repository, so a later
block sees what an earlier one did (a run id with `--from-run last`, a variable is not kept:
each block is its own script).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^\s*<!--\s*doc-test:(?P<args>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>[^`]*)$")
#: what a copy of the repository leaves out when git cannot list the files
NOT_COPIED = (".git", ".cutover", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv")


@dataclass
class Block:
    """One fenced block of a page, with the expectations of the comment before it."""

    page: str
    line: int
    info: str
    body: str
    options: dict[str, list[str]] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def runnable(self) -> bool:
        return self.language == "sh" and "test" in self.info.split()[1:]

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    def option(self, key: str, default: str | None = None) -> str | None:
        values = self.options.get(key)
        return values[-1] if values else default


def doc_pages() -> list[Path]:
    """README.md and every page of docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks_of(path: Path, root: Path = REPO) -> list[Block]:
    """Every fenced block of a Markdown file, in order (named by its path below `root`)."""
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start, indent = i, len(opening.group("indent"))
        i += 1
        body: list[str] = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        found.append(Block(page, start + 1, opening.group("info").strip(), "\n".join(body) + "\n",
                           _options(lines, start, page)))
        i += 1
    return found


def _options(lines: list[str], fence: int, page: str) -> dict[str, list[str]]:
    """The `<!-- doc-test: ... -->` comment just before the fence at index `fence`, parsed."""
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    found = MARKER.match(lines[j]) if j >= 0 else None
    if not found:
        return {}
    options: dict[str, list[str]] = {}
    for word in shlex.split(found.group("args")):
        key, sep, value = word.partition("=")
        if not sep or key not in ("exit", "expect", "skip", "validate"):
            raise ValueError(f"{page}:{j + 1}: doc-test option {word!r} is not exit=, expect=, skip= or validate=")
        options.setdefault(key, []).append(value)
    return options


def copy_repository(dest: Path) -> Path:
    """A fresh copy of the working tree (tracked and new files; nothing git ignores) at `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True,
    )  # fmt: skip
    if listed.returncode == 0:
        for rel in filter(None, listed.stdout.decode().split("\0")):
            source = REPO / rel
            if source.is_file():
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        return dest
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*NOT_COPIED, "bench/.venv*"), dirs_exist_ok=True)
    return dest


def command_shim(folder: Path, repo: Path) -> Path:
    """A `cutover` command that runs the copy's engine with this interpreter: the docs' command."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "cutover"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={shlex.quote(str(repo))} exec {shlex.quote(sys.executable)} -m engine "$@"\n')
    shim.chmod(0o755)
    return folder


@dataclass
class Ran:
    block: Block
    rc: int
    output: str


def run_block(block: Block, repo: Path, env: dict[str, str], timeout: float = 300) -> Ran:
    """Run a shell block as written, from the copy's root."""
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.body], cwd=repo, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    return Ran(block, done.returncode, done.stdout + done.stderr)


def problems_of(ran: Ran) -> list[str]:
    """What a run block got wrong against its expectations (empty: it did what the page says)."""
    block = ran.block
    wanted = int(block.option("exit", "0") or 0)
    problems = []
    if ran.rc != wanted:
        problems.append(f"{block.where}: exit {ran.rc}, the page expects {wanted}")
    for pattern in block.options.get("expect", []):
        if not re.search(pattern, ran.output, re.M):
            problems.append(f"{block.where}: no output matches {pattern!r}")
    return problems


def block_environment(tmp: Path, repo: Path) -> dict[str, str]:
    """The environment a reader's shell would have, with `cutover` on PATH and temp files in `tmp`."""
    shims = command_shim(tmp / "bin", repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUTOVER_", "PYTHON"))}
    env.update(PATH=f"{shims}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1", TMPDIR=str(tmp),
               CUTOVER_OPERATOR="docs-test")  # fmt: skip
    return env
