"""cutover.toml: where it is looked for, what overrides what, and every mistake located (exit 2, nothing run)."""

from __future__ import annotations

import pytest

from engine.cli import build_parser, main
from engine.load.config import SETTINGS
from tests.support.plans import write

EXPORTED = ("NO_COLOR", "FORCE_COLOR", *(s.env for s in SETTINGS if s.env))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fake home and repository; every variable cutover.toml may set is restored afterwards."""
    for name in (*EXPORTED, "CUTOVER_CONFIG"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "team" / "acme").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "repo" / "team" / "acme")
    return tmp_path


def _show(capsys) -> dict[str, str]:
    assert main(["config", "--show"]) == 0
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}


def test_user_file_then_git_root_then_nearer_folders(home, capsys):
    write(home, {
        "home/.config/cutover/cutover.toml": 'forks = 3\ncolour = "never"\ntimezone = "Europe/Paris"\n',
        "repo/cutover.toml": 'forks = 5\ninventory = "inventories/acme.ini"\n',
        "repo/team/acme/cutover.toml": "forks = 9\n",
        "cutover.toml": "forks = 1\n",  # above the git root: not read
    })
    shown = _show(capsys)
    assert shown["forks"].endswith(f"9  from {home}/repo/team/acme/cutover.toml:1:1")
    assert f"'{home}/repo/inventories/acme.ini'  from {home}/repo/cutover.toml:2:1" in shown["inventory"]
    assert shown["colour"].endswith(f"from {home}/home/.config/cutover/cutover.toml:2:1")
    assert "(not set)" in shown["state_dir"]


def test_flags_beat_the_environment_which_beats_files(home, monkeypatch):
    write(home, {"repo/cutover.toml": 'forks = 5\ninventory = "acme.ini"\nstate_dir = "state"\n'})
    parser, _ = build_parser(["run", "site.yml"])
    args = parser.parse_args(["run", "site.yml"])
    assert (args.forks, args.inventory, args.state_dir) == (5, f"{home}/repo/acme.ini", f"{home}/repo/state")
    args = parser.parse_args(["run", "site.yml", "-f", "2", "-i", "other.ini"])
    assert (args.forks, args.inventory) == (2, "other.ini")
    monkeypatch.setenv("CUTOVER_FORKS", "4")
    parser, _ = build_parser(["run", "site.yml"])
    assert parser.parse_args(["run", "site.yml"]).forks == 4


def test_cutover_config_names_the_one_file(home, monkeypatch, capsys):
    write(home, {"repo/cutover.toml": "forks = 5\n", "elsewhere.toml": "forks = 6\n"})
    monkeypatch.setenv("CUTOVER_CONFIG", str(home / "elsewhere.toml"))
    assert _show(capsys)["forks"].endswith(f"6  from {home}/elsewhere.toml:1:1")
    monkeypatch.setenv("CUTOVER_CONFIG", str(home / "missing.toml"))
    assert main(["config", "--show"]) == 2
    assert "CUTOVER_CONFIG=" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "where", "message"), [
    ("forks = \n", "1:9", "TOML syntax error: Invalid value"),
    ('[report]\nmode = "0640"\nmode = "0600"\n', "3:14", "TOML syntax error: Cannot overwrite a value"),
    ('inventory = "a.ini"\nfork = 3\n', "2:1", "unknown setting 'fork'"),
    ('[report]\nmode = "rw-r-----"\n', "2:1", "report.mode must be an octal file mode"),
    ('colour = "blue"\n', "1:1", 'colour must be "auto", "always" or "never"'),
    ('timezone = "Mars/Olympus"\n', "1:1", "timezone must be an IANA time zone"),
])
def test_a_mistake_is_located_exit_2_and_nothing_runs(text, where, message, home, capsys):
    write(home, {"repo/team/acme/cutover.toml": text, "repo/team/acme/hosts.ini": "[web]\nweb1\n"})
    assert main(["inventory", "-i", "hosts.ini", "--list"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"cutover.toml:{where}: " in err and message in err


def test_the_inventory_and_vault_password_file_from_the_file_are_used(home, capsys):
    from engine.load.vault.ansible import encrypt

    write(home, {"repo/cutover.toml": 'inventory = "inv/hosts.ini"\nvault_password_file = "pw"\n',
                 "repo/pw": "s3cret\n",
                 "repo/inv/hosts.ini": "[web]\nweb1\n",
                 "repo/inv/group_vars/web.yml": encrypt("token: abc\nport: 8080\n", "s3cret")})
    assert main(["inventory", "--host", "web1"]) == 0
    assert '"port": 8080' in capsys.readouterr().out


def test_without_inventory_anywhere_the_message_says_where_to_put_one(home, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["inventory", "--list"])
    assert stopped.value.code == 2 and "the following arguments are required: -i" in capsys.readouterr().err


def test_verbosity_levels_add_the_settings_and_their_origins(home, capsys):
    write(home, {"repo/cutover.toml": "forks = 5\n", "repo/team/acme/hosts.ini": "[web]\nweb1\n"})
    assert main(["inventory", "-i", "hosts.ini", "--list", "-v"]) == 0
    err = capsys.readouterr().err
    assert f"cutover: settings from {home}/repo/cutover.toml" in err and "forks = 5" not in err
    assert main(["inventory", "-i", "hosts.ini", "--list", "-vv"]) == 0
    assert f"cutover: forks = 5  ({home}/repo/cutover.toml:1:1)" in capsys.readouterr().err


def test_the_time_zone_applies_to_inventories_that_set_none(home):
    from engine.load.inventory import load_inventory

    write(home, {"repo/cutover.toml": 'timezone = "Europe/Paris"\n',
                 "repo/team/acme/plain.yml": "hosts:\n  h1: {}\n",
                 "repo/team/acme/own.yml": "timezone: Asia/Tokyo\nhosts:\n  h1: {}\n"})
    build_parser(["inventory"])
    assert load_inventory("plain.yml").timezone == "Europe/Paris"
    assert load_inventory("own.yml").timezone == "Asia/Tokyo"


def test_a_campaign_s_broker_and_journal_come_from_the_file_when_the_campaign_names_none(home, capsys):
    """`[campaign]` in cutover.toml: the fleet's broker and journal once per repository instead of in
    every campaign file or the environment; a campaign's own `backend:` wins; the password in a URL
    is never printed by `config --show` or `-vv`."""
    from engine.campaign.loader import load_campaign

    write(home, {
        "repo/cutover.toml": '[campaign]\nbroker = "redis://:brokerpw@127.0.0.1:6390/0"\n'
                             'journal = "postgresql://cutover:journalpw@db.example/fleet"\n',
        "repo/team/acme/up.yml": "- hosts: all\n  tasks:\n    - debug: {msg: hi}\n",
        "repo/team/acme/acme.yml": "estate: acme\nhosts:\n  app1: {connection: local}\n",
        "repo/team/acme/plain.yml": 'campaign: c\nplaybook: up.yml\nwindow: {start: "2026-05-02 20:00", '
                                    'end: "2026-05-03 01:00"}\nbackend: {kind: celery}\nestates:\n  - inventory: acme.yml\n',
        "repo/team/acme/own.yml": 'campaign: c\nplaybook: up.yml\nwindow: {start: "2026-05-02 20:00", '
                                  'end: "2026-05-03 01:00"}\nbackend: {kind: celery, broker: "redis://own:6379/1"}\n'
                                  "estates:\n  - inventory: acme.yml\n",
    })  # fmt: skip
    shown = _show(capsys)
    assert f"'redis://:***@127.0.0.1:6390/0'  from {home}/repo/cutover.toml:2:1" in shown["campaign.broker"]
    assert "'postgresql://cutover:***@db.example/fleet'" in shown["campaign.journal"]
    assert main(["campaign", "-vv", "plan", "plain.yml"]) == 0
    printed = capsys.readouterr()
    assert "brokerpw" not in printed.out + printed.err and "journalpw" not in printed.out + printed.err
    assert "cutover: campaign.broker = 'redis://:***@127.0.0.1:6390/0'" in printed.err
    plain = load_campaign("plain.yml").backend
    assert (plain.broker, plain.journal) == (
        "redis://:brokerpw@127.0.0.1:6390/0",
        "postgresql://cutover:journalpw@db.example/fleet",
    )
    assert load_campaign("own.yml").backend.broker == "redis://own:6379/1"


def test_a_campaign_url_that_is_not_one_is_located(home, capsys):
    write(home, {"repo/cutover.toml": '[campaign]\nbroker = "localhost"\n'})
    assert main(["config", "--show"]) == 2
    err = capsys.readouterr().err
    assert f"{home}/repo/cutover.toml:2:1: campaign.broker must be a URL" in err
