"""A tiny YAML loader that maps `!vault` to EncryptedValue, as the engine's loader does.

Tests use it to check that what `cutover vault` writes is YAML the engine will read, without
depending on the engine's full loader.
"""

from __future__ import annotations

import yaml

from engine.core.errors import Location
from engine.load.vault.keyring import EncryptedValue


def vault_loader(path: str = "inv.yml") -> type[yaml.SafeLoader]:
    """A SafeLoader subclass whose `!vault` scalars become EncryptedValue(text, file:line:col)."""

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> EncryptedValue:
        mark = node.start_mark
        return EncryptedValue(loader.construct_scalar(node), Location(path, mark.line + 1, mark.column + 1))

    Loader.add_constructor("!vault", construct)
    return Loader
