"""What a module or a product imports from the engine, and nothing else of it.

- `module.py`: the module contract (`Module`, `TaskContext`, `Result`, `ModuleFailed`, `Artifact`,
  `Finding`); `primitives.py`: `Remote`, the typed primitive calls on a host.
- `plugins.py`: the one register of plug-ins (entry-point group `cutover.plugins`): a product
  declares its inventory section, estate rules, plan policies, run variables and module packages
  in one `Plugin`; a group of generic modules only its packages.
- `policies.py`: the plan-policy contract (what a product's policy receives and may use);
  `sections.py`: located lookups into a product's section; `hosts.py`: what kind of host a host
  is; `inventories.py`: another estate's inventory, read as the engine reads every one.
- `registry.py`: modules by name, from the plug-ins' packages and the playbook's `library/`.
"""
