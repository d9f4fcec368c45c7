"""`unarchive` refusals through `cutover run`: a failed step with one line, no traceback (issue #18 item 4).

A zip bomb and a symlink chain are refused by the host's extractor; the run reports the step
failed with the member and the rule, exits as for any failed step, and dest is untouched. The
limits are module arguments: the same bomb passes when the playbook turns the ratio limits off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import hostile_archives as ha
from tests.support.runs import CliResult, local_inventory, run_cli, write_yaml


def run(work: Path, archive: Path, dest: Path, **extra: object) -> CliResult:
    task = {"name": "extract the package", "unarchive": {"src": str(archive), "dest": str(dest), **extra}}
    site = write_yaml(work / "site.yml", [{"name": "update", "hosts": "all", "tasks": [task]}])
    local_inventory(work / "inventory.yml", ["web1"])
    return run_cli(
        ["run", str(site), "-i", "inventory.yml", "--state-dir", "state", "--output", "jsonl"], work
    )


def ended(result: CliResult) -> dict:
    return next(e for e in result.events() if e["event"] == "node_ended")


@pytest.mark.parametrize("case", ["bomb", "chain"])
def test_a_refused_archive_is_a_failed_step_with_one_line(tmp_path: Path, case: str) -> None:
    dest = tmp_path / "www"
    dest.mkdir()
    (dest / "index.php").write_text("<?php // live\n")
    if case == "bomb":
        archive = ha.zero_bomb(tmp_path / "update.zip", 64 << 20)
        words = "archive refused, nothing written: zeros.bin: compression ratio"
    else:
        archive = ha.write_zip(
            tmp_path / "update.zip", [ha.link("x", "."), ha.link("y", "x/.."), ha.file("y/z")]
        )
        words = "archive refused, nothing written: y: link out of the destination (x/..)"
    before = ha.snapshot(tmp_path / "www")
    result = run(tmp_path, archive, dest)
    step = ended(result)
    assert result.rc == 1, result.err
    assert step["status"] == "failed" and words in step["msg"], step
    assert "\n" not in step["msg"] and "Traceback" not in result.out + result.err
    assert ha.snapshot(tmp_path / "www") == before


def test_the_limits_are_module_arguments(tmp_path: Path) -> None:
    archive = ha.zero_bomb(tmp_path / "sparse.zip", 64 << 20, name="disk.img")
    dest = tmp_path / "images"
    result = run(tmp_path, archive, dest, max_ratio=0, max_total_ratio=0)
    assert result.rc == 0, result.out + result.err
    assert ended(result)["status"] == "changed" and (dest / "disk.img").stat().st_size == 64 << 20
