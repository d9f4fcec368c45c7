"""What `cutover validate` can know of an inventory without reaching a host.

Two kinds of mistake used to wait for the window to show themselves:

- a connection setting the connection will refuse (a typo in `winrm:`, `ssh:` or `sim:`, a fault
  rule or an `initial` key of a simulated host): each connection class reads its own settings in
  `check_settings` exactly as `open` will, so the error is the one the run would give, at the
  key's own line;
- a `!vault` value that will not open (a corrupted header, a truncated body, the wrong password
  for its vault id): each is decrypted once, here, and the plaintext dropped at once. With no
  password at all nothing can be decrypted; that is said once as a note, since a repository's
  CI may validate inventories without the estate's secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.core.errors import Problem, UserError
from engine.core.model import Host, Inventory, Play, Task


def inventory_problems(
    inventory: Inventory, keyring: Any, extra_vars: Mapping[str, Any], plays: Iterable[Play] = ()
) -> tuple[list[Problem], list[str]]:
    """(problems, notes) of the inventory's connection settings, and of the vault values of the
    inventory, the extra variables and the plays (their vars and their tasks' args and vars)."""
    values = list(_encrypted_values(_roots(inventory, extra_vars, plays)))
    problems = _dedupe([*_settings_problems(inventory, extra_vars), *_vault_problems(values, keyring)])
    notes = [] if keyring or not values else [_UNCHECKED.format(count=len(values))]
    return problems, notes


# --- connection settings ------------------------------------------------------------------------


def _settings_problems(inventory: Inventory, extra_vars: Mapping[str, Any]) -> Iterator[Problem]:
    from engine.connect import connection_class, foreign_setting_problems

    for host in inventory.hosts.values():
        yield from foreign_setting_problems(host)
        try:
            connection_class(host).check_settings(_rendered(host, extra_vars))
        except UserError as err:
            yield from err.problems


def _rendered(host: Host, extra_vars: Mapping[str, Any]) -> Host:
    """The host with templated settings rendered as a run will (vault values stand in as text).

    Settings without templates are passed as loaded, so their errors keep the key's own line; a
    template that cannot be rendered yet (it names a fact) leaves the host as written.
    """
    from engine.load.host_settings import settings_resolver
    from engine.load.templating import has_templates

    if not has_templates(dict(host.settings)) and not _has_encrypted(host.settings):
        return host
    try:
        return settings_resolver(extra_vars, _stand_in)(host)
    except UserError:
        return host


def _has_encrypted(value: Any) -> bool:
    from engine.load.vault.keyring import EncryptedValue

    return any(isinstance(leaf, EncryptedValue) for leaf in _leaves(value))


def _stand_in(_value: Any) -> str:
    return "vault-value"


# --- vault values ---------------------------------------------------------------------------------


_UNCHECKED = "{count} vault value(s) checked for shape only: no vault password was given"


def _vault_problems(values: list[Any], keyring: Any) -> Iterator[Problem]:
    for value in values:
        try:
            value.validate()  # the shape, without a password
            if keyring:
                value.decrypt(keyring)  # the plaintext is dropped here; the masker keeps it masked
        except UserError as err:
            yield from err.problems


def _roots(inventory: Inventory, extra_vars: Mapping[str, Any], plays: Iterable[Play]) -> Iterator[Any]:
    yield from (inventory.vars, inventory.databases, inventory.products, extra_vars)
    for host in inventory.hosts.values():
        yield from (host.vars, host.settings)
    for play in plays:
        yield play.vars
        for task in _tasks(play.tasks):
            yield from (task.args, task.vars)


def _tasks(tasks: Iterable[Task]) -> Iterator[Task]:
    for task in tasks:
        yield task
        for nested in (task.block, task.rescue, task.always):
            yield from _tasks(nested or ())


def _encrypted_values(roots: Iterable[Any]) -> Iterator[Any]:
    from engine.load.vault.keyring import EncryptedValue

    seen: set[int] = set()
    for root in roots:
        for value in _leaves(root):
            if isinstance(value, EncryptedValue) and id(value) not in seen:
                seen.add(id(value))  # a group's value is shared by its hosts: checked once
                yield value


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """A mistake in `defaults:` or a group is every host's: reported once, where it is written."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for problem in problems:
        key = (_without_host(problem.message), str(problem.location))
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _without_host(message: str) -> str:
    head, sep, rest = message.partition(": ")
    return rest if sep and head.startswith(("host ", "simulated host ")) else message
