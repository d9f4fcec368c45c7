"""Templates cannot hang a run or fill memory: render time, repeated values, powers, output size.

Each refusal is one line with the template's file:line:col (a UserError), never a raw Python
exception: `{{ range(10**9)|list }}` used to escape as OverflowError from Jinja2's sandbox.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine.core.errors import Location, UserError
from engine.load import template_limits
from engine.load.templating import Scope, Templar
from tests.support.runs import local_inventory, run_cli

WHERE = Location("site.yml", 7, 14)


def render(source: str, **variables: object) -> object:
    return Templar(Scope([variables]), WHERE).render(source)


def refusal(source: str, **variables: object) -> UserError:
    with pytest.raises(UserError) as refused:
        render(source, **variables)
    assert refused.value.problems[0].location == WHERE
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    return refused.value


def test_a_range_too_big_for_the_sandbox_is_a_located_error_not_an_overflow() -> None:
    err = refusal("{{ range(10**9)|list }}")
    assert "Range too big" in str(err) and "site.yml:7:14" in err.render()


def test_repeating_a_string_past_the_output_limit_is_refused_before_it_is_built(monkeypatch) -> None:
    monkeypatch.setenv(template_limits.BYTES_ENV, "1000")
    err = refusal("{{ 'x' * 10**12 }}")
    assert "a repeated value would be 1,000,000,000,000 characters, more than the 1,000 allowed" in str(err)
    assert render("{{ 'ab' * 3 }}") == "ababab"


def test_a_huge_power_is_refused_before_it_is_computed() -> None:
    err = refusal("{{ 9 ** 99999999 }}")  # Jinja2 groups ** from the left: 9 ** 9 ** 9 is small
    assert "a power of about" in str(err) and template_limits.BYTES_ENV in str(err)
    assert render("{{ 2 ** 10 }}") == 1024


def test_output_past_the_limit_is_refused(monkeypatch) -> None:
    monkeypatch.setenv(template_limits.BYTES_ENV, "50")
    err = refusal("{% for i in range(100) %}{{ i }},{% endfor %}")
    assert "the rendered text would be 52 characters, more than the 50 allowed" in str(err)
    assert "the value would be 60 characters" in str(refusal("{{ x }}", x="y" * 60))


def test_a_render_past_the_time_limit_is_stopped(monkeypatch) -> None:
    monkeypatch.setenv(template_limits.SECONDS_ENV, "0.2")
    endless = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    err = refusal(endless)
    assert "ran longer than 0.2 s (CUTOVER_TEMPLATE_SECONDS) and was stopped" in str(err)
    assert render("{{ 1 + 1 }}") == 2  # the thread is usable afterwards


def test_the_time_limit_holds_in_every_thread_at_once(monkeypatch) -> None:
    monkeypatch.setenv(template_limits.SECONDS_ENV, "0.2")
    endless = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    errors: list[str] = []

    def one() -> None:
        try:
            render(endless)
        except UserError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 3 and all("was stopped" in e for e in errors)


def test_a_bad_limit_setting_is_named(monkeypatch) -> None:
    monkeypatch.setenv(template_limits.SECONDS_ENV, "soon")
    with pytest.raises(UserError, match="CUTOVER_TEMPLATE_SECONDS='soon' is not a positive number"):
        render("{{ 1 }}")


def test_a_refused_template_in_a_run_leaves_one_line_in_the_journal_and_output(tmp_path: Path) -> None:
    inventory = local_inventory(tmp_path / "inventory.yml", ["here"])
    playbook = tmp_path / "site.yml"
    playbook.write_text(
        "- hosts: all\n  tasks:\n    - name: big\n      debug:\n        msg: \"{{ range(10**9)|list }}\"\n",
        encoding="utf-8",
    )
    ran = run_cli(["run", str(playbook), "-i", str(inventory), "--no-report", "--output", "jsonl"], tmp_path)
    assert ran.rc != 0
    assert "Traceback" not in ran.out + ran.err and "OverflowError" not in ran.out + ran.err
    ended = [e for e in ran.events() if e["event"] == "node_ended"]
    assert [e["status"] for e in ended] == ["failed"]
    assert "Range too big" in ended[0]["error"] and "site.yml:3:7:" in ended[0]["error"]
    from tests.support.runs import journal_of

    journal = journal_of(tmp_path)
    try:
        run = journal.find_run("last")
        rows = journal.done_nodes(run["id"]) or {}
        recorded = json.dumps([dict(e) for e in journal.events(run["id"])], default=str)
    finally:
        journal.close()
    assert "Traceback" not in recorded and "internal error" not in recorded
    assert rows == {} or all(r.get("status") == "failed" for r in rows.values())
