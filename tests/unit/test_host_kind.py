"""What kind of host a host is comes from its connection class, in one place (`engine.connect.host_kind`);
where it is reached is stored once (`Host.address`, never among the settings)."""

from __future__ import annotations

import pytest

from engine.api.hosts import host_kind as host_kind_for_modules
from engine.connect import HostKind, connection_class, connection_for, host_kind
from engine.core.errors import UserError
from engine.core.model import Host
from engine.execute.session import _settings_resolver
from tests.support.plans import plan


@pytest.mark.parametrize(
    ("connection", "kind"),
    [
        ("local", HostKind("posix", False)),
        ("ssh", HostKind("posix", False)),
        ("winrm", HostKind("windows", False)),
        ("sim", HostKind("windows", True)),
    ],
)
def test_each_connection_says_what_it_reaches(connection, kind):
    host = Host(name="h", address="h", connection=connection)
    assert host_kind(host) == kind
    assert host_kind_for_modules(host) == kind
    cls = connection_class(host)  # the class is what answered
    assert (cls.platform, cls.simulated) == kind


def test_an_unknown_connection_names_the_known_ones():
    with pytest.raises(UserError, match=r"unknown connection 'telnet'") as err:
        host_kind(Host(name="h", address="h", connection="telnet"))
    assert err.value.problems[0].hint == "one of: local, ssh, winrm, sim"


def test_a_simulated_host_keeps_its_state_where_the_run_says(tmp_path):
    conn = connection_for(Host(name="h", address="h", connection="sim"), state_dir=str(tmp_path))
    assert conn.state_dir == str(tmp_path)


ESTATE = """
estate: test
vars: {ip: 10.1.2.3}
hosts:
  web1: {connection: ssh, address: "{{ ip }}", user: ops}
  web2: {connection: ssh}
"""


def test_the_address_is_stored_once_and_resolved_with_the_settings(tmp_path):
    planned = plan(tmp_path, "- hosts: all\n  tasks:\n    - command: echo hi\n", ESTATE)
    inventory = planned.inventory
    assert {h.name: h.address for h in inventory.hosts.values()} == {"web1": "{{ ip }}", "web2": "web2"}
    assert all("address" not in h.settings for h in inventory.hosts.values())
    resolve = _settings_resolver(planned, decrypt=None)
    web1 = resolve(inventory.hosts["web1"])
    assert web1.address == "10.1.2.3" and "address" not in web1.settings and web1.settings["user"] == "ops"
    assert resolve(inventory.hosts["web2"]) is inventory.hosts["web2"]  # nothing to resolve


def test_a_module_without_a_connection_still_knows_its_hosts_paths():
    from engine.api.module import RunContext, TaskContext
    from modules._common import pathmod

    def context(connection: str) -> TaskContext:
        return TaskContext(host=Host("h", "h", connection), vars={}, remote=None, run=RunContext("r", "me"))

    assert context("winrm").platform == "windows" and pathmod(context("winrm")).sep == "\\"
    assert context("ssh").platform == "posix" and pathmod(context("ssh")).sep == "/"
