"""The example module of docs/modules.md ("Writing your own module") works as the page says.

The code is taken from the page itself, not from docs/examples/, so a reader who copies it gets
what was tested: it goes into a playbook's `library/` in a temporary directory and runs with
`python -m engine run` against a local host, as an operator would run it. The page promises
`changed` on the first run, `ok` on the next, a before/after under `-C -D` that writes nothing,
and a `file:line:col` refusal of a misspelt argument before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.runs import REPO, CliResult, local_inventory, spawn_cli, write_yaml

DOC = REPO / "docs" / "modules.md"
NOTICE = "CRM is being upgraded until 18:00."


def example_module() -> str:
    """The first Python block of the section "Writing your own module"."""
    doc = DOC.read_text(encoding="utf-8")
    section = doc.split("## Writing your own module", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    assert blocks, "docs/modules.md: the section 'Writing your own module' has no ```python block"
    return blocks[0]


def cutover(work: Path, *args: str) -> CliResult:
    """`python -m engine ARGS` as its own process in `work`."""
    proc = spawn_cli(list(args), work)
    out, err = proc.communicate(timeout=120)
    return CliResult(proc.returncode, out, err)


def playbook(work: Path, name: str, arguments: dict[str, str]) -> Path:
    """A one-task playbook calling the example module with `arguments`."""
    task = {"name": "maintenance notice", "maintenance_notice": arguments}
    return write_yaml(work / name, [{"name": "tell the users", "hosts": "all", "tasks": [task]}])


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A playbook folder whose library/ holds the page's example module, and a local host."""
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "maintenance_notice.py").write_text(example_module(), encoding="utf-8")
    local_inventory(tmp_path / "inventory.yml", ["web1"], estate="example")
    return tmp_path


def statuses(result: CliResult) -> list[tuple[str, str, str]]:
    return [(e["host"], e["task"], e["status"]) for e in result.events() if e["event"] == "node_ended"]


def test_the_example_writes_the_notice_then_reports_ok(estate: Path) -> None:
    notice = estate / "www" / "maintenance.txt"
    notice.parent.mkdir()
    site = playbook(estate, "site.yml", {"path": str(notice), "text": NOTICE})
    run = ("run", str(site), "-i", "inventory.yml", "--state-dir", "state", "--output", "jsonl")

    first = cutover(estate, *run)
    assert first.rc == 0, first.err
    assert statuses(first) == [("web1", "maintenance notice", "changed")]
    assert notice.read_text() == NOTICE + "\n"
    ended = [e for e in first.events() if e["event"] == "node_ended"][0]
    assert ended["msg"] == f"notice written to {notice}"

    second = cutover(estate, *run)
    assert second.rc == 0, second.err
    assert statuses(second) == [("web1", "maintenance notice", "ok")]
    assert notice.read_text() == NOTICE + "\n"


def test_check_mode_shows_the_change_and_writes_nothing(estate: Path) -> None:
    notice = estate / "maintenance.txt"
    notice.write_text("old notice\n")
    site = playbook(estate, "site.yml", {"path": str(notice), "text": NOTICE})

    checked = cutover(estate, "run", str(site), "-i", "inventory.yml", "--state-dir", "state", "-C", "-D")
    assert checked.rc == 0, checked.err
    assert "would-change" in checked.out
    assert "-old notice" in checked.out and f"+{NOTICE}" in checked.out
    assert notice.read_text() == "old notice\n"


def test_a_misspelt_argument_is_refused_with_its_place(estate: Path) -> None:
    notice = estate / "maintenance.txt"
    site = playbook(estate, "typo.yml", {"path": str(notice), "txt": NOTICE})

    refused = cutover(estate, "run", str(site), "-i", "inventory.yml", "--state-dir", "state")
    assert refused.rc == 2
    line = next(n for n, text in enumerate(site.read_text().splitlines(), 1) if "txt:" in text)
    column = site.read_text().splitlines()[line - 1].index("txt:") + 1
    assert f"typo.yml:{line}:{column}: maintenance_notice: unknown key 'txt'" in refused.err
    assert "did you mean 'text'?" in refused.err
    assert "Traceback" not in refused.err
    assert not notice.exists()
