"""A host's connection settings as a connection reads them: templates rendered, vault values opened.

Kept apart from the connections (which never template) and from the executor, because both a run
(engine/execute/session.py) and `cutover validate` (engine/validate/inventory_checks.py) resolve
settings the same way before a connection class reads them.
"""

from __future__ import annotations

from typing import Any


def settings_resolver(extra_vars: Any, decrypt: Any) -> Any:
    """Connection settings may be templates (`{{ winrm_password }}`) or vault values: resolve them."""
    from dataclasses import replace
    from types import MappingProxyType

    from engine.load.templating import Scope, Templar, has_templates

    def resolve(host: Any) -> Any:
        settings = {**host.settings, "address": host.address}
        if not any(
            has_templates(v) or type(v).__name__ == "EncryptedValue" for v in settings.values()
        ) and not any(isinstance(v, dict) for v in settings.values()):
            return host
        scope = Scope([extra_vars, dict(host.vars), {"inventory_hostname": host.name}], decrypt)
        rendered = Templar(scope, host.location).render(settings)
        address = str(rendered.pop("address"))
        return replace(host, settings=MappingProxyType(rendered), address=address)

    return resolve
