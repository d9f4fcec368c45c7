"""Host patterns: names, groups (nested), roles, all, globs, union, intersection, exclusion.

As in Ansible the plain terms are united first, then `&` terms narrow, then `!` terms remove,
whatever order they are written in; the result keeps inventory order; a term that matches
nothing is an error pointing at the term.
"""

from __future__ import annotations

import pytest

from engine.core.errors import Location, UserError
from engine.load.inventory import load_inventory
from engine.plan.patterns import match_hosts, split_pattern
from tests.support.plans import write

INVENTORY = """
hosts:
  sql1: {roles: [db]}
  web1: {roles: [web, dtls]}
  web2: {roles: [web]}
  web3: {roles: [web]}
  mail1: {roles: [email_manager]}
groups:
  paris:
    hosts: [sql1, web1]
  berlin:
    hosts: [web2, web3]
  europe:
    children: [paris, berlin]
  ops:
    children: [europe]
    hosts: [mail1]
"""


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    folder = write(tmp_path_factory.mktemp("patterns"), {"inventory.yml": INVENTORY})
    return load_inventory(folder / "inventory.yml")


@pytest.mark.parametrize(
    ("pattern", "hosts"),
    [
        ("all", ["sql1", "web1", "web2", "web3", "mail1"]),
        ("*", ["sql1", "web1", "web2", "web3", "mail1"]),
        ("web2", ["web2"]),
        ("paris", ["sql1", "web1"]),
        ("europe", ["sql1", "web1", "web2", "web3"]),  # nested groups
        ("ops", ["sql1", "web1", "web2", "web3", "mail1"]),  # two levels of nesting
        ("web", ["web1", "web2", "web3"]),  # a role
        ("dtls", ["web1"]),
        ("web*", ["web1", "web2", "web3"]),
        ("*1", ["sql1", "web1", "mail1"]),
        ("web[23]", ["web2", "web3"]),
        ("ber*", ["web2", "web3"]),  # globs match group names too
        ("email_*", ["mail1"]),  # and role names
        ("web3:sql1", ["sql1", "web3"]),  # union, inventory order
        ("web3,sql1", ["sql1", "web3"]),
        ("db:web", ["sql1", "web1", "web2", "web3"]),
        ("europe:&web", ["web1", "web2", "web3"]),
        ("europe:!web", ["sql1"]),
        ("europe:&web:!web2", ["web1", "web3"]),
        ("!web2:&europe:web", ["web1", "web3"]),  # order does not matter: union, then &, then !
        ("!web", ["sql1", "mail1"]),  # only exclusions start from all hosts
        ("&paris", ["sql1", "web1"]),
        ("paris:&berlin", []),
        (" web1 : sql1 ", ["sql1", "web1"]),
        (["paris", "!web1"], ["sql1"]),  # a YAML list of terms
    ],
)
def test_pattern_selects(inventory, pattern, hosts):
    assert match_hosts(pattern, inventory) == hosts


def test_split_pattern_keeps_operators_with_their_terms():
    assert split_pattern("web:&paris, !web2 ::db") == ["web", "&paris", "!web2", "db"]


@pytest.mark.parametrize(
    ("pattern", "col", "message", "hint"),
    [
        ("wbe", 1, "host pattern 'wbe' matches no host, group or role", "did you mean 'web'?"),
        ("web:&pari", 6, "host pattern 'pari' matches no host", "did you mean 'paris'?"),
        ("web:!web9", 6, "host pattern 'web9' matches no host", "did you mean 'web'?"),
        ("paris, berlni", 8, "host pattern 'berlni'", "did you mean 'berlin'?"),
        ("sql*:nomatch*", 6, "host pattern 'nomatch*' matches no host", None),
        ("web;rm", 1, "bad host pattern term 'web;rm'", "joined by"),
        ("web:!", 6, "'&' or '!' must be followed", "e.g. web:&prod"),
        ("", 1, "empty host pattern", None),
        (" , ", 1, "empty host pattern", None),
    ],
)
def test_a_bad_term_is_located_at_its_column(inventory, pattern, col, message, hint):
    with pytest.raises(UserError) as err:
        match_hosts(pattern, inventory, Location("--limit", 1, 1), term_columns=True)
    problem = err.value.problems[0]
    assert problem.location == Location("--limit", 1, col)
    assert message in problem.message
    if hint:
        assert hint in problem.hint


def test_without_term_columns_errors_point_at_the_pattern(inventory):
    where = Location("site.yml", 3, 10)
    with pytest.raises(UserError) as err:
        match_hosts("web:&nope", inventory, where)
    assert err.value.problems[0].location == where


def test_a_host_name_wins_over_a_role_of_the_same_name(tmp_path):
    folder = write(tmp_path, {"inventory.yml": "hosts:\n  db: {}\n  sql1: {roles: [db]}\n"})
    inv = load_inventory(folder / "inventory.yml")
    assert match_hosts("db", inv) == ["db"]
