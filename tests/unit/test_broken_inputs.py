"""The corpus of broken inputs: every mistake an operator can make gets `file:line:col`, exit code 2
and no traceback.

Each file of `tests/unit/corpus/` (`playbook/*.yml`, `inventory/*.yml`, `cases/*/main*.yml`) starts
with a header that says what the engine must answer:

    # expect: playbook/task-unknown-keyword.yml:6:7: unknown task keyword 'whn'
    # hint: did you mean 'when'?
    # args: validate {file} -i good/inventory.yml

`expect` (one line per problem; every problem of the file must be listed, no more) is the exact
location and a fragment of the message; `hint` a fragment of a hint; `args` the command line
(`{file}` is the case's path), by default `validate {file} -i good/inventory.yml` for playbooks
and `inventory -i {file}` for inventories. Paths are relative to the corpus folder, which is
the working directory while a case runs. Mistakes on the command line itself (`-e`, `--limit`)
are in `CLI_CASES` below: there the argument's own text is the "file" (`-e:1:24`).

To add a case: write the file with its header; run this test; the failure shows what was answered.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.cli import main

CORPUS = Path(__file__).resolve().parent / "corpus"
ROOT = CORPUS.parents[2]
DEFAULT_ARGS = {
    "playbook": "validate {file} -i good/inventory.yml",
    "cases": "validate {file} -i good/inventory.yml",
    "inventory": "inventory -i {file}",
}
GOOD = ["validate", "good/site.yml", "-i", "good/inventory.yml"]


@dataclass
class Case:
    """One broken input and what the engine must answer."""

    name: str
    argv: list[str]
    expect: list[tuple[str, str]] = field(default_factory=list)  # (file:line:col, message fragment)
    hints: list[str] = field(default_factory=list)


def read_case(path: Path) -> Case:
    """A corpus file's header: the `# expect:`, `# hint:` and `# args:` lines at its top."""
    rel = path.relative_to(CORPUS).as_posix()
    case = Case(rel, shlex.split(DEFAULT_ARGS[rel.split("/")[0]].format(file=rel)))
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(": ")
        if key == "expect":
            location, _, fragment = value.partition(": ")
            case.expect.append((location, fragment))
        elif key == "hint":
            case.hints.append(value)
        elif key == "args":
            case.argv = shlex.split(value.format(file=rel))
    return case


def corpus_cases() -> list[Case]:
    files = [
        *sorted(CORPUS.glob("playbook/*.yml")),
        *sorted(CORPUS.glob("inventory/*.yml")),
        *sorted(CORPUS.glob("cases/*/main*.yml")),
    ]
    return [read_case(p) for p in files]


CLI_CASES = [
    Case(
        "extra-vars-pair-without-value",
        [*GOOD, "-e", "target_version=7.3 install_dir"],
        [("-e:1:20", "'install_dir' is not key=value")],
        ["keys are variable names"],
    ),
    Case(
        "extra-vars-bad-key",
        [*GOOD, "-e", "7.3=target_version"],
        [("-e:1:1", "'7.3=target_version' is not key=value")],
    ),
    Case(
        "extra-vars-unclosed-quote", [*GOOD, "-e", "motd='back at six"], [("-e:1:1", "No closing quotation")]
    ),
    Case(
        "extra-vars-json-syntax",
        [*GOOD, "-e", '{"target_version": "7.3"'],
        [("-e:1:25", "YAML syntax error")],
    ),
    Case(
        "extra-vars-not-a-mapping",
        [*GOOD, "-e", "[7.3]"],
        [("-e:1:1", "extra vars must be a mapping, not a list")],
    ),
    Case(
        "extra-vars-plain-word",
        [*GOOD, "-e", "verbose"],
        [("-e:1:1", "extra vars must be a mapping, not the string 'verbose'")],
        ["-e target_version=7.3"],
    ),
    Case(
        "extra-vars-missing-file",
        [*GOOD, "-e", "@cli/nope.yml"],
        [("-e:1:1", "-e @cli/nope.yml: no such file")],
    ),
    Case(
        "extra-vars-file-is-a-list",
        [*GOOD, "-e", "@cli/extra-vars-list.yml"],
        [("cli/extra-vars-list.yml:1:1", "extra vars must be a mapping, not a list")],
    ),
    Case(
        "extra-vars-file-syntax",
        [*GOOD, "-e", "@cli/extra-vars-syntax.yml"],
        [("cli/extra-vars-syntax.yml:3:1", "YAML syntax error")],
    ),
    Case(
        "limit-unknown-name",
        [*GOOD, "--limit", "wbe"],
        [("--limit:1:1", "host pattern 'wbe' matches no host, group or role")],
        ["did you mean 'web'?"],
    ),
    Case(
        "limit-unknown-intersection",
        [*GOOD, "--limit", "web:&prod"],
        [("--limit:1:6", "host pattern 'prod' matches no host")],
    ),
    Case(
        "limit-unknown-exclusion",
        [*GOOD, "--limit", "all, !web3"],
        [("--limit:1:7", "host pattern 'web3' matches no host")],
        ["did you mean 'web'?"],
    ),
    Case(
        "limit-bad-character", [*GOOD, "--limit", "web/1"], [("--limit:1:1", "bad host pattern term 'web/1'")]
    ),
    Case("limit-empty", [*GOOD, "--limit", ""], [("--limit:1:1", "empty host pattern")]),
    Case(
        "plan-limit-and-extra-vars",
        ["plan", "good/site.yml", "-i", "good/inventory.yml", "-l", "crm:!db9"],
        [("--limit:1:6", "host pattern 'db9' matches no host")],
        ["did you mean 'db'?"],
    ),
]

ALL_CASES = corpus_cases() + CLI_CASES


def problems_of(stderr: str) -> list[str]:
    """The problem lines of an error report (hints are indented under them)."""
    return [line for line in stderr.splitlines() if line and not line.startswith(" ")]


def check_answer(case: Case, code: int, stdout: str, stderr: str) -> None:
    report = f"\n--- answered ({code}) ---\n{stderr}{stdout}"
    assert code == 2, report
    assert "Traceback" not in stderr + stdout, report
    problems = problems_of(stderr)
    for location, fragment in case.expect:
        assert any(p.startswith(f"{location}: ") and fragment in p for p in problems), (
            f"expected {location}: ...{fragment}...{report}"
        )
    assert len(problems) == len(case.expect), f"expected exactly {len(case.expect)} problem(s){report}"
    for hint in case.hints:
        assert any(line.startswith("  hint: ") and hint in line for line in stderr.splitlines()), (
            f"expected hint ...{hint}...{report}"
        )


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_broken_input_is_located(
    case: Case, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert case.expect, f"{case.name} has no `# expect:` line"
    monkeypatch.chdir(CORPUS)
    code = main(case.argv)
    out, err = capsys.readouterr()
    check_answer(case, code, out, err)


SUBPROCESS_CASES = "playbook/several-mistakes.yml inventory/group-cycle.yml cases/include-cycle/main.yml limit-unknown-exclusion".split()


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_broken_input_through_a_real_process(name: str) -> None:
    """The same answers from `python -m engine`, as an operator's shell sees them."""
    case = next(c for c in ALL_CASES if c.name == name)
    done = subprocess.run(
        [sys.executable, "-m", "engine", *case.argv],
        cwd=CORPUS,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    check_answer(case, done.returncode, done.stdout, done.stderr)


def test_the_corpus_is_large_and_every_file_says_what_to_expect() -> None:
    assert len(ALL_CASES) >= 60
    for case in corpus_cases():
        assert case.expect, f"{case.name}: add `# expect: file:line:col: fragment` at its top"
        for location, _fragment in case.expect:
            assert location.count(":") >= 2, f"{case.name}: {location!r} is not file:line:col"
