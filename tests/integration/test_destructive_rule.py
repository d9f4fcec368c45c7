"""The destructive-step rule cannot be bypassed by accident: one explicit flag, recorded everywhere.

A destructive step (here `win_copy` overwriting eware.dll on a simulated Sage CRM server, without
`backup:` and without a backup of its folder upstream) does not plan: `run` and `plan` exit 2
with the step named, and nothing reaches the host. Nothing but the full `--allow-unprotected`
flag on `run` overrides it: not an abbreviation, not a variable, an environment variable, a
playbook key, or `resume`. With the flag the run goes ahead and says so: the journal's run row
has `allow_unprotected = 1` and a note naming the step, the JSON report has both, and the HTML
report shows the banner and the note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulation.host import SimHost
from tests.support.runs import journal_of, run_cli, write_yaml

DLL = "C:\\Program Files (x86)\\Sage\\CRM\\CRM\\eware.dll"
OVERWRITE = {"name": "new eware.dll", "win_copy": {"dest": DLL, "content": "eware.dll 7.3\n"}}
RUN = ["run", "pb.yml", "-i", "inv.yml"]


def estate(tmp: Path, play: dict[str, Any] | None = None, **inventory: Any) -> None:
    host = {"connection": "sim", "roles": ["web"], "sim": {"initial": {"preset": "sagecrm"}}}
    write_yaml(tmp / "inv.yml", {"estate": "guarded", "hosts": {"web1": host}, **inventory})
    write_yaml(tmp / "pb.yml", [{"hosts": "all", "tasks": [OVERWRITE], **(play or {})}])


def refused(result: Any, tmp: Path) -> None:
    """Exit 2, the step and the override named, no traceback, and the host never contacted."""
    assert result.rc == 2, result.err + result.out
    assert f"destructive step 'new eware.dll' on web1 overwrites files:web1:{DLL}" in result.err
    assert "--allow-unprotected" in result.err and "Traceback" not in result.err + result.out
    assert not (tmp / ".cutover" / "sim").exists(), "no host was opened"


@pytest.mark.parametrize("command", ["run", "plan"])
def test_without_the_flag_the_destructive_step_does_not_plan(tmp_path: Path, command: str) -> None:
    estate(tmp_path)
    refused(run_cli([command, "pb.yml", "-i", "inv.yml"], tmp_path), tmp_path)
    assert not (tmp_path / ".cutover" / "runs.db").exists() or journal_of(tmp_path).find_run("last") is None


@pytest.mark.parametrize(
    ("how", "extra", "env", "inventory", "play"),
    [
        ("an extra variable", ["-e", "allow_unprotected=true"], {}, {}, {}),
        ("an inventory variable", [], {}, {"vars": {"allow_unprotected": True}}, {}),
        ("a play variable", [], {}, {}, {"vars": {"allow_unprotected": True}}),
        ("an environment variable", [], {"CUTOVER_ALLOW_UNPROTECTED": "1"}, {}, {}),
    ],
)
def test_nothing_but_the_flag_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, extra: list[str], env: dict[str, str],
    inventory: dict[str, Any], play: dict[str, Any],
) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    estate(tmp_path, play, **inventory)
    refused(run_cli([*RUN, *extra], tmp_path), tmp_path)


def test_a_playbook_key_is_not_an_override_but_a_mistake(tmp_path: Path) -> None:
    estate(tmp_path, {"allow_unprotected": True})
    result = run_cli(RUN, tmp_path)
    lines = (tmp_path / "pb.yml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.lstrip().startswith("allow_unprotected:"))
    column = lines[line - 1].index("allow_unprotected") + 1
    assert result.rc == 2, result.err
    assert f"pb.yml:{line}:{column}: unknown key 'allow_unprotected' in play" in result.err
    assert not (tmp_path / ".cutover" / "sim").exists()


@pytest.mark.parametrize("flag", ["--allow", "--allow-unprot", "--allow-unprotected=yes"])
def test_abbreviations_and_values_of_the_flag_are_refused(tmp_path: Path, flag: str) -> None:
    estate(tmp_path)
    result = run_cli([*RUN, flag], tmp_path)
    assert result.rc == 2, result.out
    assert "unrecognized arguments" in result.err or "ignored explicit argument" in result.err
    assert not (tmp_path / ".cutover" / "sim").exists()


def test_resume_cannot_add_the_override(tmp_path: Path) -> None:
    estate(tmp_path)
    result = run_cli(["resume", "last", "--allow-unprotected"], tmp_path)
    assert result.rc == 2 and "unrecognized arguments: --allow-unprotected" in result.err


def test_with_the_flag_the_run_says_so_in_journal_and_reports(tmp_path: Path) -> None:
    estate(tmp_path)
    result = run_cli([*RUN, "--allow-unprotected", "--output", "jsonl"], tmp_path)
    assert result.rc == 0, result.err + result.out
    assert result.statuses() == {"p0/0@web1": "changed"}
    assert SimHost.open(tmp_path / ".cutover", "web1").read_bytes(DLL) == b"eware.dll 7.3\n"

    journal = journal_of(tmp_path)
    run = journal.find_run("last")
    journal.close()
    note = f"UNPROTECTED (--allow-unprotected): new eware.dll on web1 destroys files:web1:{DLL}"
    assert run["allow_unprotected"] == 1 and run["args"]["allow_unprotected"] is True
    assert any(note in n for n in run["notes"]), run["notes"]

    reports = tmp_path / ".cutover" / "reports" / run["id"]
    doc = json.loads((reports / "report.json").read_text())
    assert doc["run"]["allow_unprotected"] is True
    assert any(note in n for n in doc["run"]["notes"])
    page = (reports / "report.html").read_text()
    assert 'id="unprotected-banner"' in page and "UNPROTECTED override" in page
    assert "UNPROTECTED (--allow-unprotected): new eware.dll on web1" in page


def test_a_run_without_the_flag_is_recorded_as_protected(tmp_path: Path) -> None:
    """The control: a destructive step with a verified backup upstream plans without any override."""
    estate(tmp_path)
    write_yaml(tmp_path / "pb.yml", [{"hosts": "all", "tasks": [
        {"name": "zip program files", "win_archive": {"path": DLL.rsplit("\\", 1)[0], "dest": "C:\\Backup\\crm.zip"}},
        OVERWRITE,
    ]}])  # fmt: skip
    result = run_cli([*RUN, "--no-report"], tmp_path)
    assert result.rc == 0, result.err + result.out
    journal = journal_of(tmp_path)
    run = journal.find_run("last")
    artifacts = journal.artifacts(run["id"])
    journal.close()
    assert run["allow_unprotected"] == 0 and not any("UNPROTECTED" in n for n in run["notes"])
    folder = DLL.rsplit("\\", 1)[0]
    assert [(a.kind, a.resource, a.location, a.verified) for a in artifacts] == [
        ("archive", f"files:web1:{folder}", "C:\\Backup\\crm.zip", True)
    ], "the backup the step relied on is recorded, verified"
    assert SimHost.open(tmp_path / ".cutover", "web1").read_bytes(DLL) == b"eware.dll 7.3\n"


def test_a_vault_value_in_a_destructive_step_does_not_hide_what_it_destroys(tmp_path: Path) -> None:
    """The planner resolves paths without decrypting: `content: "{{ secret }}"` still plans."""
    from engine.load.vault.keyring import encrypt_text
    from tests.support.runs import run_cli, write_yaml

    sealed = encrypt_text("s3cret-value", "pw")
    (tmp_path / "inv.yml").write_text(
        "estate: vaulted\nhosts:\n  a: {connection: local}\nvars:\n  secret: !vault |\n"
        + "".join(f"    {line}\n" for line in sealed.splitlines()))
    target = tmp_path / "app.conf"
    write_yaml(tmp_path / "pb.yml", [{"hosts": "a", "tasks": [
        {"name": "keep a copy", "archive": {"path": str(tmp_path / "conf"), "dest": str(tmp_path / "conf.zip")}},
        {"name": "write", "copy": {"dest": str(target), "content": "{{ secret }}", "backup": False}},
    ]}])
    (tmp_path / "conf").mkdir()
    result = run_cli(["plan", "pb.yml", "-i", "inv.yml"], tmp_path)
    # what `write` destroys is known (files:a:<target>), so the refusal names it rather than giving up
    assert result.rc == 2
    assert f"overwrites files:a:{target}" in result.err
    assert "depends on values known only at run time" not in result.err
    assert "s3cret-value" not in result.err + result.out, "planning never shows the decrypted value"
