"""The digests of documents found valid go to the state directory of the command that found them.

They are written later (when the next command sets its state directory, or at exit); a relative
state directory resolved then, from another working directory, put one estate's digests in
another estate's `.cutover/` (found by tests/e2e/test_probe.py's "changes nothing" check).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.runs import local_inventory, run_cli


def _estate(root: Path, name: str) -> list[str]:
    root.mkdir()
    local_inventory(root / "inventory.yml", ["here"], estate=name)
    (root / "site.yml").write_text(
        f"- hosts: all\n  tasks:\n    - debug: {{msg: {name}}}\n", encoding="utf-8"
    )
    return ["run", "site.yml", "-i", "inventory.yml", "--no-report"]


def _digests(root: Path) -> set[str]:
    return set((root / ".cutover" / "validated.sha256").read_text().split())


def test_each_estate_keeps_its_own_digests(tmp_path: Path) -> None:
    # what the second estate's run finds valid, on its own
    assert run_cli(_estate(tmp_path / "alone", "second"), tmp_path / "alone").rc == 0
    assert run_cli(["runs"], tmp_path / "alone").rc == 0  # the next command writes them out
    expected = _digests(tmp_path / "alone")

    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(_estate(first, "first"), first).rc == 0
    assert run_cli(_estate(second, "second"), second).rc == 0  # writes out what the first run found
    assert run_cli(["runs"], first).rc == 0  # writes out what the second run found

    assert _digests(second) == expected  # none of the first estate's
    assert _digests(first) and not _digests(first) & expected
