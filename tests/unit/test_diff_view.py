"""`--diff`: a unified diff of text (or YAML) before and after, a header per host and task, file names,
secrets masked, colour only on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from engine.cli.console import ConsoleReporter
from engine.cli.diff_view import diff_lines
from engine.core.secrets import Masker
from engine.execute.outcome import NodeOutcome
from engine.load.vault.keyring import encrypt_text
from tests.support.runs import run_cli


def test_a_real_run_prints_a_unified_diff_with_the_file_and_the_secret_masked(tmp_path, monkeypatch):
    target = tmp_path / "app.ini"
    target.write_text("[db]\nhost=old\npassword=hunter2\nport=1\n")
    sealed = "".join(f"    {line}\n" for line in encrypt_text("s3cr3t-new", "pw").splitlines())
    (tmp_path / "inv.yml").write_text(f"estate: t\nvars:\n  db_password: !vault |\n{sealed}hosts:\n  h1: {{connection: local}}\n")
    (tmp_path / "pb.yml").write_text(
        "- hosts: all\n  tasks:\n    - name: configure the app\n      copy:\n"
        f"        dest: {target}\n        backup: true\n"
        '        content: "[db]\\nhost=new\\npassword={{ db_password }}\\nport=1\\n"\n')
    monkeypatch.setenv("CUTOVER_VAULT_PASSWORD", "pw")
    result = run_cli(["run", "pb.yml", "-i", "inv.yml", "--diff", "--no-report"], tmp_path)
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    start = lines.index("diff: configure the app on h1")
    assert lines[start + 1 : start + 9] == [
        f"--- before: {target}", f"+++ after: {target}", "@@ -1,4 +1,4 @@", " [db]",
        "-host=old", "-password=hunter2", "+host=new", "+password=********",
    ]
    assert "s3cr3t-new" not in result.out and "\x1b[" not in result.out
    assert target.read_text() == "[db]\nhost=new\npassword=s3cr3t-new\nport=1\n"


def test_structured_values_are_compared_as_yaml_not_reprs():
    masker = Masker()
    masker.add("tok-123")
    lines = [text for text, _style in diff_lines(
        {"before": {"b": 1, "a": {"x": [1, 2]}}, "after": {"a": {"x": [1, 3]}, "b": 1, "key": "tok-123"},
         "path": "HKLM\\Software\\Sage"}, "crm1", "registry", masker.mask_text)]
    assert lines == ["diff: registry on crm1", "--- before: HKLM\\Software\\Sage", "+++ after: HKLM\\Software\\Sage",
                     "@@ -1,5 +1,6 @@", " a:", "   x:", "   - 1", "-  - 2", "+  - 3", " b: 1", "+key: ********"]


def test_no_textual_change_and_no_diff_say_so():
    assert diff_lines(None, "h", "t", str) == []
    assert diff_lines({"before": "a\n", "after": "a\n", "path": "/f"}, "h", "t", str)[1][0] == \
        "  (no change in the text: /f)"


class _Node:
    host, label, task, id = "web1", "write it", None, "n"


@pytest.mark.parametrize("terminal", [True, False])
def test_colour_only_on_a_terminal(terminal: bool):
    buffer = io.StringIO()
    reporter = ConsoleReporter(Masker(), show_diff=True, stream=buffer, live=False)
    reporter.console = Console(file=buffer, force_terminal=terminal, color_system="standard" if terminal else None)
    reporter.node_ended(_Node(), NodeOutcome("changed", diff={"before": "a\n", "after": "b\n", "path": "/x"}))
    out = buffer.getvalue()
    assert ("\x1b[31m-a" in out and "\x1b[32m+b" in out) if terminal else ("\x1b[" not in out and "\n-a\n+b" in out)


def test_diff_view_is_used_by_the_console_not_reprs(tmp_path: Path):
    buffer = io.StringIO()
    reporter = ConsoleReporter(Masker(), show_diff=True, stream=buffer, live=False)
    reporter.node_ended(_Node(), NodeOutcome("changed", diff={"before": {"state": "stopped"}, "after": {"state": "started"}}))
    assert "-state: stopped\n+state: started" in buffer.getvalue() and "{'state'" not in buffer.getvalue()
